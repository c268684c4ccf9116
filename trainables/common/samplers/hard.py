"""Hard-negative sampling: draw among the most similar candidates, mixed with random negatives.

The seed post-mortem (hard negative mining for investor→company links with a TGN) used a sampler that picks, for a
share ``ratio`` of the negatives, a candidate among the ``k`` most similar to the positive with probabilities
``softmax(similarity / temperature)``. It found that similarity from *static* features hurt and proposed three fixes
that this module makes easy to compare: the similarity source (static features, temporal embeddings, or graph
2-hop structure — the caller builds the ``[B, N]`` score matrix with :func:`cosine_scores` or
:func:`two_hop_scores`), gentler settings (``ratio``, ``temperature``) and a curriculum (:func:`scheduled_ratio`).

Every function is pure and vectorised: tensors and a ``torch.Generator`` in, tensors out; no loop per sample.
A candidate marked in ``exclude`` (a true positive of the row) is never returned as a hard negative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def scheduled_ratio(epoch: int, ratio: float, curriculum_epoch: int = 0, ramp_epochs: int = 0) -> float:
    """Share of hard negatives at ``epoch`` (0-based) under a curriculum: random first, hard later.

    Before ``curriculum_epoch`` the share is 0 (only random negatives). From it on, the share is ``ratio`` at
    once when ``ramp_epochs == 0``, otherwise it grows linearly and reaches ``ratio`` after ``ramp_epochs``
    epochs: ``ratio * min(1, (epoch - curriculum_epoch + 1) / ramp_epochs)``.
    """
    if epoch < curriculum_epoch:
        return 0.0
    if ramp_epochs <= 0:
        return float(ratio)
    return float(ratio) * min(1.0, (epoch - curriculum_epoch + 1) / ramp_epochs)


def cosine_scores(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every query to every candidate: ``[B, d] x [N, d] -> [B, N]`` in ``[-1, 1]``.

    Used with static node features or with temporal embeddings (e.g. TGN memory) of the positive item as query.
    """
    return F.normalize(queries.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).t()


def co_links(adjacency: torch.Tensor) -> torch.Tensor:
    """``[N, N]`` number of rows linked to both items, from an ``[R, N]`` adjacency (cache it between batches)."""
    adj = (adjacency > 0).float()
    return adj.t() @ adj


def two_hop_scores(
    adjacency: torch.Tensor, rows: torch.Tensor, co: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Graph similarity of each row to every item through co-linked items, for a bipartite graph.

    In a bipartite graph a row's 2-hop neighbours are other rows, so items are reached in the item projection:
    item ``j`` is a 2-hop neighbour of row ``r`` when ``r`` links to an item ``i`` that shares a row with ``j``
    (path ``r - i - r' - j``; "friends of friends" in the seed's words). The score counts those paths,
    normalised by the row's maximum so that temperatures mean the same as for cosine scores.

    Args:
        adjacency: ``[R, N]`` 0/1 (or count) float matrix of the links seen so far.
        rows: ``[B]`` row ids.
        co: optional precomputed :func:`co_links` of ``adjacency`` (the ``[N, N]`` product dominates the cost).

    Returns:
        ``(scores [B, N] in [0, 1], valid [B, N] bool)``; ``valid`` is true exactly on 2-hop items that the row
        is *not* linked to (the only allowed graph negatives).
    """
    adj = (adjacency > 0).float()  # [R, N]
    own = adj[rows]  # [B, N]
    co = co_links(adj) if co is None else co  # [N, N] rows shared by two items
    paths = own @ co  # [B, N]
    valid = (paths > 0) & (own == 0)
    scores = paths / paths.amax(dim=1, keepdim=True).clamp(min=1.0)
    return scores, valid


def sample_topk_softmax(
    scores: torch.Tensor,
    num: int,
    k: int,
    temperature: float,
    generator: torch.Generator,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``num`` candidates per row among its top ``k`` by score, with probabilities softmax(score / T).

    A tiny ``temperature`` picks the most similar candidate; a huge one is uniform over the top ``k``.

    Args:
        scores: ``[B, N]`` similarity of every candidate to the row's query.
        num: draws per row (with replacement).
        k: size of the candidate pool per row (clipped to ``N``).
        temperature: softmax temperature (> 0).
        generator: the caller's CPU generator.
        exclude: optional ``[B, N]`` bool mask of forbidden candidates (true positives, non-2-hop items); they
            get probability zero.

    Returns:
        ``(index [B, num] long, found [B, num] bool)``; ``found`` is false for rows with no allowed candidate,
        whose ``index`` is meaningless and must be replaced by the caller (e.g. with a random negative).
    """
    scores = scores.float().cpu()
    if exclude is not None:
        scores = scores.masked_fill(exclude.cpu(), float("-inf"))
    kk = min(k, scores.size(1))
    top_scores, top_idx = torch.topk(scores, kk, dim=1)  # [B, kk]
    allowed = torch.isfinite(top_scores)  # [B, kk]
    found_row = allowed.any(dim=1)  # [B]
    # softmax over the allowed entries; shifting by the row max keeps exp() finite for tiny temperatures
    logits = (top_scores - top_scores[:, :1]) / temperature
    weights = torch.where(allowed, torch.exp(logits), torch.zeros_like(logits))
    weights[~found_row] = 1.0  # any valid distribution; these rows are flagged as not found
    # exp underflow at tiny temperatures leaves the row max at weight 1, so rows never sum to zero
    pick = torch.multinomial(weights, num, replacement=True, generator=generator)  # [B, num]
    index = torch.gather(top_idx, 1, pick)
    found = found_row.unsqueeze(1).expand(-1, num).clone()
    return index, found


def mix_negatives(
    random_negatives: torch.Tensor,
    hard_negatives: torch.Tensor,
    hard_found: torch.Tensor,
    ratio: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a share ``ratio`` of random negatives by hard ones, slot by slot.

    Each slot independently becomes hard with probability ``ratio`` (so the share is honoured in expectation
    even with one negative per positive, the seed's setting); slots whose hard draw was not found stay random.

    Args:
        random_negatives, hard_negatives: ``[B, n]`` candidate ids.
        hard_found: ``[B, n]`` bool from :func:`sample_topk_softmax`.
        ratio: share of hard negatives in ``[0, 1]``.

    Returns:
        ``(negatives [B, n], is_hard [B, n] bool)``.
    """
    coin = torch.rand(random_negatives.shape, generator=generator) < ratio  # [B, n]
    is_hard = coin & hard_found.cpu()
    out = torch.where(
        is_hard.to(random_negatives.device), hard_negatives.to(random_negatives.device), random_negatives
    )
    return out, is_hard
