"""Pair index, padding, splits and the uniform/popularity sampler's exclusions."""

from __future__ import annotations

import torch

from trainables.common.data import PairIndex, chronological_split, pad_from_flat
from trainables.common.samplers.uniform import sample_negatives


def test_pair_index_contains_and_mask():
    index = PairIndex(torch.tensor([0, 0, 2]), torch.tensor([1, 3, 0]), num_items=4)
    assert index.contains(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 1, 0])).tolist() == [
        True,
        False,
        False,
        True,
    ]
    mask = index.mask(torch.tensor([2, 0, 1]))
    assert mask.tolist() == [[True, False, False, False], [False, True, False, True], [False] * 4]


def test_pad_from_flat_keeps_most_recent_left_padded():
    padded, mask = pad_from_flat(torch.tensor([1, 2, 3, 4, 5, 6]), torch.tensor([1, 5]), max_len=3)
    assert padded.tolist() == [[0, 0, 1], [4, 5, 6]]
    assert mask.tolist() == [[False, False, True], [True, True, True]]


def test_chronological_split():
    tr, va, te = chronological_split(
        torch.tensor([5.0, 1.0, 3.0, 2.0, 4.0, 0.0, 9.0, 8.0, 7.0, 6.0]), (0.6, 0.2, 0.2)
    )
    assert tr.tolist() == [5, 1, 3, 2, 4, 0] and va.tolist() == [9, 8] and te.tolist() == [7, 6]


def test_negatives_never_hit_positives_and_are_deterministic():
    rows = torch.arange(50).repeat_interleave(4)
    items = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(0))
    index = PairIndex(rows, items, num_items=10)
    users = torch.arange(50)
    a = sample_negatives(users, 8, 10, torch.Generator().manual_seed(1), exclude=index)
    b = sample_negatives(users, 8, 10, torch.Generator().manual_seed(1), exclude=index)
    assert torch.equal(a, b) and a.shape == (50, 8)
    assert not index.contains(users.unsqueeze(1).expand_as(a), a).any()


def test_popularity_weights_are_honoured():
    weights = torch.tensor([8.0, 1.0, 1.0, 0.0])
    draws = sample_negatives(
        torch.zeros(4000, dtype=torch.long), 1, 4, torch.Generator().manual_seed(0), weights=weights
    )
    share = torch.bincount(draws.flatten(), minlength=4).float() / draws.numel()
    assert abs(share[0].item() - 0.8) < 0.03 and share[3].item() == 0.0
