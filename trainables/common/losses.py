"""Losses shared by the trainables: pure functions of logits/embeddings, vectorised, reduction ``mean``.

* :func:`bce`, :func:`weighted_bce`, :func:`focal_loss` — binary losses for imbalanced link / turnover labels;
* :func:`bpr_loss` — Bayesian personalised ranking for implicit feedback;
* :func:`info_nce` — symmetric contrastive loss of two aligned embedding batches;
* :func:`margin_ranking_loss` — hinge on score differences with a (possibly adaptive) margin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits."""
    return F.binary_cross_entropy_with_logits(logits, targets.float())


def weighted_bce(logits: torch.Tensor, targets: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Binary cross-entropy whose positive term is multiplied by ``pos_weight`` (rare positives count more)."""
    weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, targets.float(), pos_weight=weight)


def focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Binary focal loss (Lin et al., 2017): ``-α_t (1 - p_t)^γ log p_t``.

    ``alpha`` weighs the positive class (``1 - alpha`` the negatives); ``gamma`` down-weights easy examples.
    ``gamma = 0`` and ``alpha = 0.5`` give half the plain BCE.
    """
    targets = targets.float()
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    log_pt = targets * log_p + (1 - targets) * log_not_p
    pt = log_pt.exp()
    alpha_t = targets * alpha + (1 - targets) * (1 - alpha)
    return (-alpha_t * (1 - pt).pow(gamma) * log_pt).mean()


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``-log σ(s⁺ - s⁻)``; ``neg_scores`` may carry extra trailing negatives (``[B]`` vs ``[B, K]``)."""
    if neg_scores.dim() == pos_scores.dim() + 1:
        pos_scores = pos_scores.unsqueeze(-1)
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def info_nce(
    a: torch.Tensor, b: torch.Tensor, temperature: float | torch.Tensor, symmetric: bool = True
) -> torch.Tensor:
    """Contrastive loss of aligned batches: row ``i`` of ``a`` matches row ``i`` of ``b`` (CLIP-style).

    Args:
        a, b: ``[B, d]`` embeddings; they are L2-normalised here, so logits are cosine similarities.
        temperature: softmax temperature (a float, or a tensor for a learnable one).
        symmetric: average the a→b and b→a directions.
    """
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    logits = a @ b.t() / temperature  # [B, B]
    labels = torch.arange(a.size(0), device=a.device)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t(), labels))
    return loss


def margin_ranking_loss(
    pos_scores: torch.Tensor,
    neg_scores: torch.Tensor,
    margin: float | torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hinge ``max(0, margin - (s⁺ - s⁻))``, optionally weighted per pair (e.g. hard negatives weigh more)."""
    hinge = F.relu(margin - (pos_scores - neg_scores))
    if weights is not None:
        return (hinge * weights).sum() / weights.sum().clamp(min=1e-12)
    return hinge.mean()


def adaptive_margin_loss(
    pos_scores: torch.Tensor,
    neg_scores: torch.Tensor,
    margin: float,
    is_hard: torch.Tensor,
    hard_weight: float = 2.0,
    score_reg: float = 0.1,
) -> torch.Tensor:
    """The GNN v6 report's adaptive margin loss: :func:`margin_ranking_loss` + a score penalty.

    Pairs whose negative is hard (``is_hard``, from a hard-negative sampler) weigh ``hard_weight`` (the report:
    2.0), the others 1. ``score_reg * mean(s⁺² + s⁻²) / 2`` (the report's "ranking regularisation", 0.1) keeps
    the scores from growing without bound to clear the margin. The margin itself comes from a schedule
    (:class:`trainables.common.schedules.AdaptiveMargin`).
    """
    weights = 1.0 + (hard_weight - 1.0) * is_hard.to(pos_scores.dtype)
    hinge = margin_ranking_loss(pos_scores, neg_scores, margin, weights)
    return hinge + score_reg * 0.5 * (pos_scores.pow(2).mean() + neg_scores.pow(2).mean())
