"""HardNegativeCache: exact top-k by hand, refresh period, hard share, exclusions, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from trainables.common.data import PairIndex
from trainables.common.samplers.cache import HardNegativeCache, top_negatives


def test_top_negatives_by_hand_skips_positives_and_marks_short_rows():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.7], [0.3, 0.8, 0.2, 0.4]])
    positives = torch.tensor([[True, False, False, False], [True, True, True, False]])
    items, valid = top_negatives(scores, positives, 2)
    # row 0: 0.9 is a positive -> 0.7 (item 3), 0.5 (item 2); row 1: only item 3 is not a positive
    assert items[0].tolist() == [3, 2]
    assert valid.tolist() == [[True, True], [True, False]]
    assert items[1, 0].item() == 3


def make_cache(hard_ratio: float = 0.7, refresh_every: int = 3, cache_size: int = 3):
    # 4 users x 10 items; user u prefers items u and u + 1
    rows = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    items = torch.tensor([0, 1, 1, 2, 2, 3, 3, 4])
    exclude = PairIndex(rows, items, 10)
    cache = HardNegativeCache(4, 10, cache_size, hard_ratio, refresh_every, exclude)
    return cache, exclude


def scores_favouring_low_items() -> torch.Tensor:
    return -torch.arange(10.0).repeat(4, 1)  # [4, 10]: item 0 best for everyone


def test_refresh_period_counts_epochs_and_calls_scorer_only_when_due():
    cache, _ = make_cache(refresh_every=3)
    calls = []

    def score_all() -> torch.Tensor:
        calls.append(1)
        return scores_favouring_low_items()

    refreshed = [cache.maybe_refresh(epoch, score_all) for epoch in range(10)]
    assert refreshed == [True, False, False, True, False, False, True, False, False, True]
    assert len(calls) == 4 and cache.refreshes == 4 and cache.last_refresh == 9


def test_cache_holds_best_non_positives():
    cache, _ = make_cache(cache_size=3)
    cache.refresh(scores_favouring_low_items(), epoch=0)
    assert cache.items.tolist() == [[2, 3, 4], [0, 3, 4], [0, 1, 4], [0, 1, 2]]
    assert bool(cache.valid.all())


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.7, 1.0])
def test_hard_share_follows_ratio_and_hard_draws_come_from_the_cache(ratio):
    cache, _ = make_cache(hard_ratio=ratio)
    cache.refresh(scores_favouring_low_items(), epoch=0)
    gen = torch.Generator().manual_seed(0)
    rows = torch.arange(4).repeat(5000)  # [20000]
    neg, is_hard = cache.sample(rows, 2, gen)
    assert neg.shape == is_hard.shape == (20000, 2)
    assert is_hard.float().mean().item() == pytest.approx(ratio, abs=0.01)
    in_cache = (neg.unsqueeze(-1) == cache.items[rows].unsqueeze(1)).any(-1)  # [B, K]
    assert bool(in_cache[is_hard].all())


def test_never_returns_a_positive_even_when_most_items_are_positive():
    rows = torch.tensor([0] * 8)
    items = torch.arange(8)  # user 0 prefers 8 of 10 items; user 1 prefers none
    exclude = PairIndex(rows, items, 10)
    cache = HardNegativeCache(2, 10, 5, 0.8, 1, exclude)
    cache.refresh(torch.randn(2, 10, generator=torch.Generator().manual_seed(1)), epoch=0)
    assert cache.valid[0].tolist() == [True, True, False, False, False]  # only items 8, 9 are negatives
    gen = torch.Generator().manual_seed(0)
    sample_rows = torch.tensor([0, 1]).repeat(2000)
    neg, is_hard = cache.sample(sample_rows, 3, gen)
    assert not bool(exclude.contains(sample_rows.unsqueeze(1), neg).any())
    assert set(neg[sample_rows == 0].unique().tolist()) == {8, 9}
    assert is_hard.float().mean().item() == pytest.approx(0.8, abs=0.02)


def test_empty_cache_gives_uniform_negatives_only():
    cache, exclude = make_cache(hard_ratio=1.0)
    neg, is_hard = cache.sample(torch.arange(4), 4, torch.Generator().manual_seed(0))
    assert not bool(is_hard.any())
    assert not bool(exclude.contains(torch.arange(4).unsqueeze(1), neg).any())


def test_state_dict_round_trip_and_same_seed_same_draws():
    cache, exclude = make_cache()
    cache.refresh(scores_favouring_low_items(), epoch=2)
    state = cache.state_dict()
    restored = HeteroCacheFactory(exclude)
    restored.load_state_dict(state)
    assert restored.last_refresh == 2 and restored.refreshes == 1 and not restored.due(4) and restored.due(5)
    rows = torch.arange(4).repeat(10)
    a = cache.sample(rows, 3, torch.Generator().manual_seed(5))
    b = restored.sample(rows, 3, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def HeteroCacheFactory(exclude: PairIndex) -> HardNegativeCache:  # noqa: N802 - reads as a constructor
    return HardNegativeCache(4, 10, 3, 0.7, 3, exclude)


def test_rejects_bad_arguments():
    _, exclude = make_cache()
    with pytest.raises(ValueError):
        HardNegativeCache(4, 10, 3, 1.5, 3, exclude)
    with pytest.raises(ValueError):
        HardNegativeCache(4, 10, 0, 0.5, 3, exclude)
