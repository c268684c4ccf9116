"""Mixed negative sampling: in-batch negatives plus ``num_rand_negs`` random negatives per example.

Two-tower retrieval models are trained with a softmax over a candidate set instead of the full item table. In-batch
negatives (the other rows' targets) are free and realistic but follow the popularity of the training targets, so
popular items are pushed down too often and rare ones are never seen as negatives; random negatives drawn from the
whole table restore coverage. Mixing both (Yang et al., 2020, "Mixed Negative Sampling for Learning Two-tower
Neural Networks") lets one knob move between pure in-batch (``num_rand_negs = 0``) and nearly pure random
(``num_rand_negs`` much larger than the batch).

The optional log-Q correction (Yi et al., 2019, "Sampling-bias-corrected neural modeling for large corpus item
recommendations") subtracts from every logit the log of the candidate's expected count in the sampled set, so the
sampled softmax estimates the full softmax rather than one biased towards popular items. For a mixed set of ``B``
in-batch candidates (drawn with the target frequency ``p``) and ``R`` random ones (drawn with ``q``), item ``j``'s
expected count is ``B * p_j + R * q_j``.

Candidates that are true positives of a row (the same item as the row's target, or a known positive pair when
``positives`` is given) are masked, so the loss never pushes a row away from one of its own positives.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from trainables.common.data import PairIndex
from trainables.common.samplers.uniform import sample_negatives


class MixedLogits(NamedTuple):
    """Scores of the mixed candidate set; row ``i``'s positive is column ``i``."""

    logits: (
        torch.Tensor
    )  # [B, B + R] similarity / temperature (minus log Q when corrected), masked entries kept
    mask: torch.Tensor  # [B, B + R] bool, True where the candidate is a positive of the row (never column i)
    candidates: torch.Tensor  # [B, B + R] item id of every column: the batch targets, then R random items


def mixed_negative_logits(
    query: torch.Tensor,
    item_emb: torch.Tensor,
    targets: torch.Tensor,
    num_rand_negs: int,
    generator: torch.Generator,
    *,
    temperature: float = 1.0,
    sampling_weights: torch.Tensor | None = None,
    log_q: bool = False,
    target_freq: torch.Tensor | None = None,
    rows: torch.Tensor | None = None,
    positives: PairIndex | None = None,
) -> MixedLogits:
    """Logits of every row against the in-batch targets and ``num_rand_negs`` random items of its own.

    Args:
        query: ``[B, d]`` query-tower outputs.
        item_emb: ``[N, d]`` the item tower (the whole table; random negatives index into it).
        targets: ``[B]`` each row's true item; the in-batch candidates are exactly these.
        num_rand_negs: random negatives per row (``0``: pure in-batch softmax).
        generator: the caller's CPU generator for the random draws.
        temperature: softmax temperature dividing the similarities (lower: sharper, harder negatives weigh more).
        sampling_weights: ``[N]`` non-negative weights of the random draws (popularity); ``None`` is uniform.
        log_q: subtract ``log(B * p_j + R * q_j)`` from every column (see the module docstring).
        target_freq: ``[N]`` probability ``p`` that a training row's target is item ``j``; required by ``log_q``.
        rows: ``[B]`` query ids (actors, users) looked up in ``positives``.
        positives: known positive ``(row, item)`` pairs masked as negatives besides the row's own target.

    Returns:
        :class:`MixedLogits`; feed it to :func:`mixed_negative_loss`.
    """
    batch, num_items = query.size(0), item_emb.size(0)
    device = query.device
    rand = sample_negatives(
        torch.arange(batch), num_rand_negs, num_items, generator, weights=sampling_weights
    ).to(device)  # [B, R]
    candidates = torch.cat([targets.unsqueeze(0).expand(batch, batch), rand], dim=1)  # [B, B + R]
    in_batch = query @ item_emb[targets].t()  # [B, B]
    random_part = (query.unsqueeze(1) * item_emb[rand]).sum(-1)  # [B, R]
    logits = torch.cat([in_batch, random_part], dim=1) / temperature  # [B, B + R]

    if log_q:
        if target_freq is None:
            raise ValueError("log_q needs target_freq, the probability of each item being a batch target")
        p = target_freq.to(device=device, dtype=logits.dtype)
        if num_rand_negs > 0 and sampling_weights is not None:
            q = sampling_weights.to(device=device, dtype=logits.dtype)
            q = q / q.sum()
        else:
            q = torch.full_like(p, 1.0 / num_items)
        expected = batch * p + num_rand_negs * q  # [N]
        logits = logits - torch.log(expected.clamp(min=1e-12))[candidates]

    mask = candidates == targets.unsqueeze(1)  # [B, B + R], duplicates of the row's own target
    if positives is not None:
        if rows is None:
            raise ValueError("positives needs rows, the query id of every row")
        mask |= positives.contains(rows.unsqueeze(1).expand_as(candidates), candidates).to(device)
    diagonal = torch.arange(batch, device=device)
    mask[diagonal, diagonal] = False
    return MixedLogits(logits=logits, mask=mask, candidates=candidates)


def mixed_negative_loss(mixed: MixedLogits) -> torch.Tensor:
    """Softmax cross-entropy of every row's positive (column ``i``) against its unmasked candidates."""
    logits = mixed.logits.masked_fill(mixed.mask, float("-inf"))
    labels = torch.arange(logits.size(0), device=logits.device)
    return F.cross_entropy(logits, labels)
