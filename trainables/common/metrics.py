"""Ranking and classification metrics, vectorised in torch.

Conventions: ranks are 1-based; ties are resolved pessimistically (a candidate that scores *equal* to the target
counts as ranked above it), so a model that scores everything the same gets the worst rank rather than a free hit.
Every function is pure: tensors in, tensors or floats out.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def ranks_from_scores(
    scores: torch.Tensor, target: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Rank of each row's target among that row's candidates.

    Args:
        scores: ``[B, N]`` scores of every candidate.
        target: ``[B]`` column index of the true item of each row.
        exclude: optional ``[B, N]`` bool mask of candidates removed from the ranking (seen items, the user
            itself). The target is never excluded, even if the mask marks it.

    Returns:
        ``[B]`` long tensor of 1-based ranks.
    """
    rows = torch.arange(scores.size(0), device=scores.device)
    target_score = scores[rows, target].unsqueeze(1)  # [B, 1]
    above = scores >= target_score  # [B, N], includes the target itself
    if exclude is not None:
        above &= ~exclude
    above[rows, target] = False
    return above.sum(dim=1) + 1


def hit_rate_at_k(ranks: torch.Tensor, k: int) -> torch.Tensor:
    """``[B]`` 1.0 where the target is in the top ``k``."""
    return (ranks <= k).float()


def ndcg_at_k(ranks: torch.Tensor, k: int) -> torch.Tensor:
    """``[B]`` NDCG@k with one relevant item: ``1 / log2(rank + 1)`` inside the top ``k``, else 0."""
    gain = 1.0 / torch.log2(ranks.float() + 1.0)
    return torch.where(ranks <= k, gain, torch.zeros_like(gain))


def mrr_at_k(ranks: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """``[B]`` reciprocal rank, truncated to 0 beyond ``k`` when ``k`` is given."""
    rr = 1.0 / ranks.float()
    if k is None:
        return rr
    return torch.where(ranks <= k, rr, torch.zeros_like(rr))


def ranking_metrics(ranks: torch.Tensor, ks: Iterable[int] = (5, 10, 20)) -> dict[str, float]:
    """Mean HR@k, NDCG@k and MRR@k over rows, plus the untruncated MRR and the mean rank."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hr@{k}"] = hit_rate_at_k(ranks, k).mean().item()
        out[f"ndcg@{k}"] = ndcg_at_k(ranks, k).mean().item()
        out[f"mrr@{k}"] = mrr_at_k(ranks, k).mean().item()
    out["mrr"] = mrr_at_k(ranks).mean().item()
    out["mean_rank"] = ranks.float().mean().item()
    return out


def grouped_mean(
    values: torch.Tensor, groups: torch.Tensor, num_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` ``[B]`` per group id ``[B]`` in ``[0, num_groups)``; returns ``(means, counts)``.

    Empty groups get a mean of NaN and a count of 0 (callers decide whether to report them).
    """
    counts = torch.bincount(groups, minlength=num_groups).to(values.dtype)
    sums = torch.zeros(num_groups, dtype=values.dtype, device=values.device).index_add_(0, groups, values)
    means = sums / counts.clamp(min=1)
    means[counts == 0] = float("nan")
    return means, counts


def grouped_std(values: torch.Tensor, groups: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Population standard deviation of ``values`` per group (NaN for empty groups)."""
    means, counts = grouped_mean(values, groups, num_groups)
    sq, _ = grouped_mean(values * values, groups, num_groups)
    return (sq - means * means).clamp(min=0).sqrt()


def precision_recall_at_k(scores: torch.Tensor, labels: torch.Tensor, ks: Iterable[int]) -> dict[str, float]:
    """Precision@k and recall@k of a flat candidate list ranked by ``scores``.

    Args:
        scores: ``[M]`` scores of every candidate pair.
        labels: ``[M]`` bool/0-1 tensor, true for the real links.
    """
    labels = labels.bool()
    order = torch.argsort(scores, descending=True, stable=True)
    cum_hits = torch.cumsum(labels[order].float(), dim=0)  # [M]
    total = labels.sum().item()
    out: dict[str, float] = {}
    for k in ks:
        kk = min(k, scores.numel())
        hits = cum_hits[kk - 1].item() if kk > 0 else 0.0
        out[f"precision@{k}"] = hits / k
        out[f"recall@{k}"] = hits / total if total > 0 else 0.0
    return out


def positive_ranks(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1-based rank of every positive of a flat candidate list (pessimistic ties, other positives ignored).

    A positive's rank counts the *negatives* scoring at least as high, plus one: the rank it would have if it were
    the only positive, which is what "median rank of the true links" means in a full-ranking evaluation.
    """
    labels = labels.bool()
    neg_sorted = torch.sort(scores[~labels]).values  # ascending
    pos = scores[labels]
    n_below = torch.searchsorted(neg_sorted, pos, right=False)  # negatives strictly below
    return (neg_sorted.numel() - n_below) + 1


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve (Mann–Whitney U with average ranks for ties); equals scikit-learn's."""
    labels = labels.bool()
    n_pos = int(labels.sum())
    n_neg = labels.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    scores = scores.double()
    sorted_scores, order = torch.sort(scores)
    # average rank of tied groups
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg_rank_of_group = ends - (counts.double() - 1) / 2.0
    ranks = torch.empty_like(scores)
    ranks[order] = avg_rank_of_group[inverse]
    rank_sum = ranks[labels].sum().item()
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _counts_at_thresholds(
    scores: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """True and false positives of ``scores >= t`` for every distinct score ``t``, highest threshold first."""
    sorted_scores, order = torch.sort(scores.double(), descending=True, stable=True)
    y = labels.bool()[order].double()
    tp = torch.cumsum(y, 0)
    fp = torch.cumsum(1 - y, 0)
    # only the last index of every group of tied scores is a threshold
    last_of_group = torch.ones_like(sorted_scores, dtype=torch.bool)
    last_of_group[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    return tp[last_of_group], fp[last_of_group], sorted_scores[last_of_group]


def average_precision(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Average precision (area under the precision–recall curve, step-wise); equals scikit-learn's."""
    labels = labels.bool()
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan")
    tp, fp, _ = _counts_at_thresholds(scores, labels)
    precision = tp / (tp + fp)
    recall = tp / n_pos
    recall_prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - recall_prev) * precision).sum())


def binary_metrics_at_threshold(
    probs: torch.Tensor, labels: torch.Tensor, threshold: float
) -> dict[str, float]:
    """Precision, recall and F1 of ``probs >= threshold`` against ``labels``."""
    labels = labels.bool()
    pred = probs >= threshold
    tp = (pred & labels).sum().item()
    fp = (pred & ~labels).sum().item()
    fn = (~pred & labels).sum().item()
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def tune_threshold(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """The threshold that maximises F1 of ``probs >= threshold`` (every distinct score is tried at once).

    Ties in F1 go to the highest threshold. Returns 0.5 when there is no positive.
    """
    labels = labels.bool()
    n_pos = int(labels.sum())
    if n_pos == 0:
        return 0.5
    tp, fp, thr = _counts_at_thresholds(probs, labels)
    f1 = 2 * tp / (tp + fp + n_pos)
    best = int(torch.argmax(f1))  # first maximum = highest threshold
    return float(thr[best])


def pairwise_accuracy(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> float:
    """Share of preference pairs where the preferred item scores strictly higher."""
    return (pos_scores > neg_scores).float().mean().item()
