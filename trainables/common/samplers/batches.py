"""Semantics-aware batch construction for in-batch contrastive learning (hard-negative batches).

With an in-batch contrastive loss (CLIP-style InfoNCE), the negatives of an item are the other items of its batch.
Random batches mostly hold unrelated items, which are easy to tell apart; "semantics-aware batching" (the seed
system's hard-negative mining for molecule ↔ description retrieval) fills part of each batch with items whose
descriptions are close, so the loss has to separate near-duplicates.

Two pieces, both pure functions of tensors and an explicit ``torch.Generator``:

* :func:`cosine_topk` — the ``k`` nearest neighbours of every row by cosine similarity, computed once, in row
  chunks, so memory is ``chunk_size × N`` instead of a dense ``N × N`` matrix;
* :func:`hard_batches` — one epoch of batches: a pivot, up to ``round(hard_ratio · batch_size)`` of its unused
  neighbours among its top ``hardness_k``, then random unused items. The batches partition the items (each
  appears exactly once per epoch, so no duplicates within a batch), and ``hard_ratio = 0`` gives plain random
  batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def cosine_topk(
    embeddings: torch.Tensor, k: int, chunk_size: int = 1024, exclude_self: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` cosine neighbours of every row, in chunks of ``chunk_size`` rows.

    Args:
        embeddings: ``[N, d]`` vectors (any scale; they are L2-normalised here; zero rows get similarity 0).
        k: neighbours per row, ``1 <= k <= N - 1`` when ``exclude_self`` (``<= N`` otherwise).
        chunk_size: rows scored at once; peak extra memory is ``chunk_size × N`` floats.
        exclude_self: drop each row itself from its neighbours.

    Returns:
        ``(similarities [N, k], indices [N, k])``, neighbours sorted by decreasing similarity; exactly equal
        similarities are ordered (and cut at ``k``) by increasing index (the chunk size only changes float
        rounding, so it can swap near-ties at the 1e-7 level).
    """
    n = embeddings.size(0)
    limit = n - 1 if exclude_self else n
    if not 1 <= k <= limit:
        raise ValueError(f"k must be in [1, {limit}] for {n} rows, got {k}")
    unit = F.normalize(embeddings.float(), dim=-1)  # [N, d]
    values = torch.empty(n, k, dtype=unit.dtype, device=unit.device)
    indices = torch.empty(n, k, dtype=torch.long, device=unit.device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        sims = unit[start:stop] @ unit.t()  # [C, N]
        if exclude_self:
            rows = torch.arange(stop - start, device=unit.device)
            sims[rows, rows + start] = -float("inf")
        kth = torch.topk(sims, k, dim=1).values[:, -1:]  # [C, 1] k-th largest similarity
        # topk's choice among values equal to the k-th is unspecified: take the lowest indices instead
        above = sims > kth  # [C, N]
        tie = sims == kth
        take = above | (tie & (tie.cumsum(1) <= k - above.sum(1, keepdim=True)))  # exactly k per row
        idx = take.nonzero()[:, 1].view(stop - start, k)  # [C, k] increasing index
        val = sims.gather(1, idx)
        by_value = torch.argsort(val, dim=1, descending=True, stable=True)
        indices[start:stop] = idx.gather(1, by_value)
        values[start:stop] = val.gather(1, by_value)
    return values, indices


@dataclass(frozen=True)
class EpochBatches:
    """One epoch of batches: ``order.split(batch_size)`` are the batches; each starts with its pivot.

    Attributes:
        order: ``[N]`` a permutation of ``0 .. N-1``.
        is_hard: ``[N]`` bool aligned with ``order``: true where the item was drawn from its batch pivot's
            neighbours (pivots and random fill are false).
        batch_size: size of every batch but possibly the last.
    """

    order: torch.Tensor
    is_hard: torch.Tensor
    batch_size: int

    def batches(self) -> tuple[torch.Tensor, ...]:
        """The batches as ``[<= batch_size]`` index tensors."""
        return self.order.split(self.batch_size)

    @property
    def hard_share(self) -> float:
        """Realised share of hard items over the epoch (can fall short of the ratio once neighbours run out)."""
        return float(self.is_hard.float().mean()) if self.is_hard.numel() else 0.0


def hard_batches(
    num_items: int,
    batch_size: int,
    neighbors: torch.Tensor | None,
    hard_ratio: float,
    hardness_k: int,
    generator: torch.Generator,
) -> EpochBatches:
    """Partition ``0 .. num_items-1`` into batches of a pivot, its hard neighbours and random fill.

    Pivots are taken in the order of a random permutation, skipping items already placed. Each batch then takes
    ``round(hard_ratio · batch_size)`` (at most ``batch_size - 1``) neighbours of its pivot, drawn uniformly
    among the pivot's top ``hardness_k`` that are not yet placed; when fewer are left the shortfall is filled
    at random, so every batch is full and the realised hard share (:attr:`EpochBatches.hard_share`) may fall
    below ``hard_ratio`` late in an epoch. The rest of the batch is the next unused items of the permutation,
    i.e. uniform random unused items.

    The loop runs over batches (an item taken by one batch is unavailable to the next, so batches are built in
    sequence); each step is vectorised and costs ``O(N + hardness_k)``.

    Args:
        num_items: items ``N``.
        batch_size: ``B >= 1``.
        neighbors: ``[N, K]`` neighbour indices sorted by decreasing similarity (from :func:`cosine_topk`);
            may be ``None`` when ``hard_ratio == 0``.
        hard_ratio: share of each batch drawn from the pivot's neighbours, in ``[0, 1]``.
        hardness_k: candidate neighbours per pivot, ``1 <= hardness_k <= K``: small = harder negatives.
        generator: CPU random generator; the only source of randomness.

    Returns:
        The epoch's :class:`EpochBatches`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0.0 <= hard_ratio <= 1.0:
        raise ValueError(f"hard_ratio must be in [0, 1], got {hard_ratio}")
    perm = torch.randperm(num_items, generator=generator)  # [N]
    n_hard = min(int(round(hard_ratio * batch_size)), batch_size - 1)
    if n_hard == 0 or num_items == 0:
        return EpochBatches(perm, torch.zeros(num_items, dtype=torch.bool), batch_size)
    if neighbors is None or not 1 <= hardness_k <= neighbors.size(1):
        width = 0 if neighbors is None else neighbors.size(1)
        raise ValueError(f"hardness_k must be in [1, {width}] (precomputed neighbours), got {hardness_k}")
    candidates = neighbors[:, :hardness_k].cpu()  # [N, k]

    used = torch.zeros(num_items, dtype=torch.bool)
    order = torch.empty(num_items, dtype=torch.long)
    is_hard = torch.zeros(num_items, dtype=torch.bool)
    remaining = perm  # unused items, in permutation order (compacted as the epoch goes)
    pos = 0
    while pos < num_items:
        remaining = remaining[~used[remaining]]
        size = min(batch_size, num_items - pos)
        pivot = remaining[0]
        used[pivot] = True
        # hard part: uniform draw among the pivot's still-unused top-k neighbours
        cand = candidates[pivot]  # [k]
        keys = torch.rand(cand.numel(), generator=generator)  # [k]
        keys[used[cand]] = float("inf")
        take = min(n_hard, size - 1)
        picked = torch.sort(keys, stable=True)
        hard = cand[picked.indices[:take]][picked.values[:take].isfinite()]  # [<= take]
        used[hard] = True
        # random fill: the next unused items of the permutation
        rest = remaining[1:]
        fill = rest[~used[rest]][: size - 1 - hard.numel()]
        used[fill] = True
        batch = torch.cat([pivot.view(1), hard, fill])  # [size]
        order[pos : pos + size] = batch
        is_hard[pos + 1 : pos + 1 + hard.numel()] = True
        pos += size
    return EpochBatches(order, is_hard, batch_size)
