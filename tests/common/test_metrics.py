"""Ranking and classification metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from trainables.common import metrics as M


def test_ranks_with_exclusion_and_pessimistic_ties():
    scores = torch.tensor([[0.9, 0.5, 0.7, 0.1], [0.2, 0.2, 0.2, 0.2]])
    target = torch.tensor([1, 0])
    exclude = torch.tensor([[True, False, False, False], [False, False, False, True]])
    ranks = M.ranks_from_scores(scores, target, exclude)
    # row 0: 0.9 excluded, 0.7 above 0.5 -> rank 2; row 1: all tied, one excluded -> rank 3
    assert ranks.tolist() == [2, 3]
    assert M.ranks_from_scores(scores, target).tolist() == [3, 4]


def test_hr_ndcg_mrr_by_hand():
    ranks = torch.tensor([1, 2, 5, 11])
    m = M.ranking_metrics(ranks, ks=(1, 5, 10))
    assert m["hr@1"] == pytest.approx(0.25)
    assert m["hr@5"] == pytest.approx(0.75)
    assert m["hr@10"] == pytest.approx(0.75)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert m["mrr@5"] == pytest.approx((1 + 0.5 + 0.2) / 4)
    assert m["mrr"] == pytest.approx((1 + 0.5 + 0.2 + 1 / 11) / 4)
    assert m["mean_rank"] == pytest.approx(19 / 4)


def test_grouped_mean_and_std():
    values = torch.tensor([1.0, 3.0, 5.0, 10.0])
    groups = torch.tensor([0, 0, 2, 2])
    means, counts = M.grouped_mean(values, groups, 3)
    assert means[0] == 2.0 and math.isnan(means[1]) and means[2] == 7.5
    assert counts.tolist() == [2, 0, 2]
    assert M.grouped_std(values, groups, 3)[2].item() == pytest.approx(2.5)


def test_precision_recall_at_k_and_positive_ranks():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = torch.tensor([1, 0, 1, 0, 0, 1])
    m = M.precision_recall_at_k(scores, labels, ks=(1, 3, 10))
    assert m["precision@1"] == 1.0 and m["recall@1"] == pytest.approx(1 / 3)
    assert m["precision@3"] == pytest.approx(2 / 3) and m["recall@3"] == pytest.approx(2 / 3)
    assert m["precision@10"] == pytest.approx(3 / 10) and m["recall@10"] == 1.0
    # each positive's rank among the negatives: 0.9 -> 1, 0.7 -> 2, 0.4 -> 4
    assert M.positive_ranks(scores, labels).tolist() == [1, 2, 4]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_ap_equal_sklearn_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 10, (200,), generator=g).float() / 10  # many ties
    labels = torch.rand(200, generator=g) < 0.2
    assert M.auroc(scores, labels) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()))
    assert M.average_precision(scores, labels) == pytest.approx(
        average_precision_score(labels.numpy(), scores.numpy())
    )


def test_threshold_tuning_maximises_f1_like_a_brute_force_search():
    g = torch.Generator().manual_seed(3)
    labels = torch.rand(300, generator=g) < 0.1
    probs = (labels.float() * 0.3 + torch.rand(300, generator=g) * 0.7).clamp(0, 1)
    thr = M.tune_threshold(probs, labels)
    best = max(f1_score(labels.numpy(), (probs >= t).numpy()) for t in probs.unique().tolist())
    got = M.binary_metrics_at_threshold(probs, labels, thr)
    assert got["f1"] == pytest.approx(best)
    assert got["f1"] == pytest.approx(f1_score(labels.numpy(), (probs >= thr).numpy()))


def test_pairwise_accuracy():
    assert M.pairwise_accuracy(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 2.0, 4.0])) == pytest.approx(
        1 / 3
    )
