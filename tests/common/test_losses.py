"""Shared losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.common import losses as L


def test_focal_by_hand():
    logits = torch.tensor([0.0, 2.0])
    targets = torch.tensor([1.0, 0.0])
    p1, p2 = 0.5, 1 / (1 + math.exp(-2.0))
    expected = (-0.25 * (1 - p1) ** 2 * math.log(p1) + -(0.75) * p2**2 * math.log(1 - p2)) / 2
    assert L.focal_loss(logits, targets, alpha=0.25, gamma=2.0).item() == pytest.approx(expected, rel=1e-5)


def test_focal_reduces_to_half_bce():
    logits = torch.tensor([-1.0, 0.3, 2.0])
    targets = torch.tensor([0.0, 1.0, 1.0])
    assert L.focal_loss(logits, targets, alpha=0.5, gamma=0.0).item() == pytest.approx(
        0.5 * L.bce(logits, targets).item()
    )


def test_weighted_bce_by_hand():
    logits = torch.tensor([0.0, 0.0])
    targets = torch.tensor([1.0, 0.0])
    assert L.weighted_bce(logits, targets, pos_weight=3.0).item() == pytest.approx(
        (3 * math.log(2) + math.log(2)) / 2
    )


def test_bpr_by_hand_and_broadcast():
    assert L.bpr_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(
        -math.log(1 / (1 + math.exp(-1)))
    )
    pos = torch.tensor([1.0, 2.0])
    neg = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    diffs = torch.tensor([1.0, 0.0, 0.0, -1.0])
    assert L.bpr_loss(pos, neg).item() == pytest.approx(-torch.nn.functional.logsigmoid(diffs).mean().item())


def test_info_nce_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    t = 0.5
    sim = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).t() / t
    row = -(torch.log_softmax(sim, dim=1).diagonal()).mean()
    col = -(torch.log_softmax(sim, dim=0).diagonal()).mean()
    assert L.info_nce(a, b, t).item() == pytest.approx(((row + col) / 2).item())
    assert L.info_nce(a, b, t, symmetric=False).item() == pytest.approx(row.item())


def test_margin_ranking_with_weights():
    pos, neg = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.0])
    assert L.margin_ranking_loss(pos, neg, 1.0).item() == pytest.approx((0.5 + 1.0) / 2)
    assert L.margin_ranking_loss(pos, neg, 1.0, torch.tensor([1.0, 3.0])).item() == pytest.approx(
        (0.5 + 3.0) / 4
    )
