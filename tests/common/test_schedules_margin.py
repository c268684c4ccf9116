"""Adaptive margin schedule and adaptive margin loss, by hand."""

from __future__ import annotations

import pytest
import torch

from trainables.common.losses import adaptive_margin_loss
from trainables.common.schedules import AdaptiveMargin, adapt_margin


def test_rises_above_upper_falls_below_lower_stays_between():
    kw = {"lower": 0.52, "upper": 0.6, "step": 0.25, "min_margin": 0.5, "max_margin": 3.0}
    assert adapt_margin(1.0, 0.61, **kw) == pytest.approx(1.25)
    assert adapt_margin(1.0, 0.51, **kw) == pytest.approx(0.75)
    assert adapt_margin(1.0, 0.55, **kw) == 1.0
    assert adapt_margin(1.0, 0.6, **kw) == 1.0  # thresholds are strict
    assert adapt_margin(1.0, 0.52, **kw) == 1.0


def test_stays_within_bounds():
    kw = {"lower": 0.52, "upper": 0.6, "step": 0.4, "min_margin": 0.5, "max_margin": 3.0}
    assert adapt_margin(2.9, 0.9, **kw) == 3.0
    assert adapt_margin(0.6, 0.1, **kw) == 0.5
    assert adapt_margin(3.0, 0.99, **kw) == 3.0
    assert adapt_margin(0.5, 0.0, **kw) == 0.5


def test_schedule_sequence_and_state_round_trip():
    schedule = AdaptiveMargin(margin=1.0, lower=0.52, upper=0.6, step=0.5, min_margin=0.5, max_margin=2.0)
    seen = [schedule.update(acc) for acc in (0.4, 0.4, 0.7, 0.7, 0.7, 0.7, 0.55)]
    assert seen == pytest.approx([0.5, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    other = AdaptiveMargin(margin=1.0, lower=0.52, upper=0.6, step=0.5, min_margin=0.5, max_margin=2.0)
    other.load_state_dict(schedule.state_dict())
    assert other.margin == 2.0 and other.update(0.3) == 1.5


def test_schedule_rejects_inconsistent_settings():
    with pytest.raises(ValueError):
        AdaptiveMargin(margin=4.0, max_margin=3.0)
    with pytest.raises(ValueError):
        AdaptiveMargin(lower=0.7, upper=0.6)


def test_adaptive_margin_loss_by_hand():
    pos = torch.tensor([2.0, 0.5, 1.0])
    neg = torch.tensor([0.0, 1.0, 0.8])
    hard = torch.tensor([False, True, True])
    # hinge max(0, 1 - (pos - neg)) = [0, 1.5, 0.8]; weights [1, 2, 2] -> (0 + 3 + 1.6) / 5
    hinge = (0.0 + 3.0 + 1.6) / 5.0
    reg = 0.1 * 0.5 * ((4 + 0.25 + 1) / 3 + (0 + 1 + 0.64) / 3)
    loss = adaptive_margin_loss(pos, neg, 1.0, hard, hard_weight=2.0, score_reg=0.1)
    assert loss.item() == pytest.approx(hinge + reg)
    plain = adaptive_margin_loss(pos, neg, 1.0, hard, hard_weight=1.0, score_reg=0.0)
    assert plain.item() == pytest.approx((0 + 1.5 + 0.8) / 3)
