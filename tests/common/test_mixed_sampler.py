"""Mixed negative sampling: exact losses on hand-built batches, masking of true positives, log-Q, sampling law."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.common.data import PairIndex
from trainables.common.samplers.mixed import mixed_negative_logits, mixed_negative_loss

# Three queries and four items in 2-D; targets 0, 2, 3 are distinct.
QUERY = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
ITEMS = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
TARGETS = torch.tensor([0, 2, 3])
E = math.e


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_zero_random_negatives_is_the_hand_computed_in_batch_softmax():
    # in-batch similarities q_i · item[t_j]: row 0 [1, 0, 1], row 1 [0, 1, -1], row 2 [1, 1, 0]
    mixed = mixed_negative_logits(QUERY, ITEMS, TARGETS, 0, gen())
    assert mixed.logits.tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.0]]
    assert not mixed.mask.any()
    expected = ((-1 + math.log(2 * E + 1)) + (-1 + math.log(1 + E + 1 / E)) + (0 + math.log(2 * E + 1))) / 3
    assert mixed_negative_loss(mixed).item() == pytest.approx(expected, rel=1e-6)


def test_temperature_divides_the_similarities():
    mixed = mixed_negative_logits(QUERY, ITEMS, TARGETS, 0, gen(), temperature=0.5)
    assert mixed.logits.tolist() == [[2.0, 0.0, 2.0], [0.0, 2.0, -2.0], [2.0, 2.0, 0.0]]
    expected = (
        (-2 + math.log(2 * E**2 + 1)) + (-2 + math.log(1 + E**2 + E**-2)) + math.log(2 * E**2 + 1)
    ) / 3
    assert mixed_negative_loss(mixed).item() == pytest.approx(expected, rel=1e-6)


def test_duplicate_targets_in_the_batch_are_masked_and_left_out_of_the_loss():
    targets = torch.tensor([0, 0, 3])  # rows 0 and 1 share their positive
    mixed = mixed_negative_logits(QUERY, ITEMS, targets, 0, gen())
    assert mixed.mask.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    # row 0: candidates {0 (pos), 3}; row 1: {0 (pos), 3}; row 2: {0, 0, 3 (pos)}
    row0 = -1 + math.log(E + E)  # sims 1 (pos) and 1
    row1 = -0 + math.log(1 + 1 / E)  # sims 0 (pos) and -1
    row2 = -0 + math.log(E + E + 1)  # sims 1, 1 and 0 (pos)
    assert mixed_negative_loss(mixed).item() == pytest.approx((row0 + row1 + row2) / 3, rel=1e-6)


def test_no_true_positive_ever_counts_as_a_negative():
    torch.manual_seed(0)
    query, items = torch.randn(16, 4), torch.randn(6, 4)  # few items: many collisions
    targets = torch.randint(6, (16,))
    rows = torch.arange(16) % 5
    known = PairIndex(torch.tensor([0, 1, 2, 3]), torch.tensor([5, 4, 3, 2]), num_items=6)
    mixed = mixed_negative_logits(query, items, targets, 7, gen(), rows=rows, positives=known)
    assert mixed.candidates.shape == (16, 16 + 7)
    expected = (mixed.candidates == targets.unsqueeze(1)) | known.contains(
        rows.unsqueeze(1).expand_as(mixed.candidates), mixed.candidates
    )
    diag = torch.arange(16)
    expected[diag, diag] = False
    assert torch.equal(mixed.mask, expected)
    assert mixed.mask.any()
    # a masked logit can take any value without changing the loss, and gets no gradient
    logits = mixed.logits.clone().requires_grad_(True)
    loss = mixed_negative_loss(mixed._replace(logits=logits))
    loss.backward()
    assert torch.all(logits.grad[mixed.mask] == 0)
    shifted = mixed._replace(logits=torch.where(mixed.mask, mixed.logits + 100.0, mixed.logits))
    assert mixed_negative_loss(shifted).item() == pytest.approx(loss.item(), rel=1e-6)


def test_random_negatives_are_scored_against_their_own_row():
    mixed = mixed_negative_logits(QUERY, ITEMS, TARGETS, 5, gen(3))
    rand = mixed.candidates[:, 3:]  # [B, R]
    expected = (QUERY.unsqueeze(1) * ITEMS[rand]).sum(-1)
    assert torch.equal(mixed.logits[:, 3:], expected)
    assert torch.equal(mixed.candidates[:, :3], TARGETS.expand(3, 3))
    again = mixed_negative_logits(QUERY, ITEMS, TARGETS, 5, gen(3))
    assert torch.equal(again.candidates, mixed.candidates)


def test_popularity_weights_set_the_law_of_the_random_negatives():
    weights = torch.tensor([0.0, 1.0, 3.0, 0.0])
    mixed = mixed_negative_logits(QUERY, ITEMS, TARGETS, 4000, gen(), sampling_weights=weights)
    counts = torch.bincount(mixed.candidates[:, 3:].reshape(-1), minlength=4).float()
    assert counts[0] == 0 and counts[3] == 0
    assert (counts[2] / counts.sum()).item() == pytest.approx(0.75, abs=0.01)


def test_log_q_subtracts_the_log_expected_count_of_each_candidate():
    freq = torch.tensor([0.5, 0.0, 0.25, 0.25])  # target frequencies p
    weights = torch.tensor([1.0, 1.0, 1.0, 1.0])  # q = 1/4
    plain = mixed_negative_logits(QUERY, ITEMS, TARGETS, 2, gen(1), sampling_weights=weights)
    fixed = mixed_negative_logits(
        QUERY, ITEMS, TARGETS, 2, gen(1), sampling_weights=weights, log_q=True, target_freq=freq
    )
    expected_count = 3 * freq + 2 * 0.25  # B * p + R * q: [2.0, 0.5, 1.25, 1.25]
    assert torch.allclose(fixed.logits, plain.logits - torch.log(expected_count)[plain.candidates])
    assert torch.equal(fixed.candidates, plain.candidates)


def test_log_q_with_uniform_target_frequency_leaves_the_in_batch_loss_unchanged():
    freq = torch.full((4,), 0.25)
    plain = mixed_negative_loss(mixed_negative_logits(QUERY, ITEMS, TARGETS, 0, gen()))
    fixed = mixed_negative_loss(
        mixed_negative_logits(QUERY, ITEMS, TARGETS, 0, gen(), log_q=True, target_freq=freq)
    )
    assert fixed.item() == pytest.approx(plain.item(), rel=1e-6)


def test_log_q_needs_the_target_frequency():
    with pytest.raises(ValueError, match="target_freq"):
        mixed_negative_logits(QUERY, ITEMS, TARGETS, 0, gen(), log_q=True)
