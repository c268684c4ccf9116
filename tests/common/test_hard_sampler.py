"""The hard-negative sampler: exact scores on hand-built data, the draw's distribution, exclusion, ratio, curriculum."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.common.samplers.hard import (
    co_links,
    cosine_scores,
    mix_negatives,
    sample_topk_softmax,
    scheduled_ratio,
    two_hop_scores,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_curriculum_switches_at_its_epoch_and_ramps_linearly():
    assert [scheduled_ratio(e, 0.5, curriculum_epoch=3) for e in range(5)] == [0.0, 0.0, 0.0, 0.5, 0.5]
    ramp = [scheduled_ratio(e, 0.6, curriculum_epoch=2, ramp_epochs=3) for e in range(7)]
    assert ramp == pytest.approx([0.0, 0.0, 0.2, 0.4, 0.6, 0.6, 0.6])
    assert scheduled_ratio(0, 0.2) == 0.2


def test_cosine_scores_exact():
    q = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    c = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, -1.0]])
    s = 1 / math.sqrt(2)
    expected = torch.tensor([[1.0, 0.0, -s], [s, s, -1.0]])
    assert torch.allclose(cosine_scores(q, c), expected, atol=1e-6)


def test_two_hop_scores_on_a_hand_built_bipartite_graph():
    # rows: r0 -> {0, 1}, r1 -> {1, 2}, r2 -> {3}; item 4 is isolated
    adj = torch.zeros(3, 5)
    adj[0, [0, 1]] = 1
    adj[1, [1, 2]] = 1
    adj[2, 3] = 1
    scores, valid = two_hop_scores(adj, torch.tensor([0, 1, 2]))
    # r0: paths r0-0-r0-{0,1}, r0-1-{r0,r1}-{0,1,2}: counts [2, 3, 1, 0, 0], normalised by 3
    assert torch.allclose(scores[0], torch.tensor([2 / 3, 1.0, 1 / 3, 0.0, 0.0]))
    assert valid.tolist() == [
        [False, False, True, False, False],  # item 2 via r1; items 0, 1 are r0's own links
        [True, False, False, False, False],  # item 0 via r0
        [False, False, False, False, False],  # r2's only item has no other row
    ]


def test_tiny_temperature_picks_the_most_similar_allowed_candidate():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.8], [0.3, 0.2, 0.1, 0.0]])
    exclude = torch.tensor([[False, True, False, False], [False, False, False, False]])
    idx, found = sample_topk_softmax(scores, 50, k=3, temperature=1e-6, generator=gen(), exclude=exclude)
    assert found.all()
    assert (idx[0] == 3).all()  # 1 is excluded (a true positive), 3 is the next most similar
    assert (idx[1] == 0).all()


def test_huge_temperature_is_uniform_over_the_top_k():
    scores = torch.arange(10, dtype=torch.float).unsqueeze(0)  # top-4 are items 6..9
    idx, _ = sample_topk_softmax(scores, 40_000, k=4, temperature=1e6, generator=gen(1))
    counts = torch.bincount(idx.flatten(), minlength=10).float() / idx.numel()
    assert counts[:6].sum() == 0
    assert torch.allclose(counts[6:], torch.full((4,), 0.25), atol=0.01)


def test_draw_follows_softmax_of_scores_over_temperature():
    # softmax([0, ln 2, ln 4] / 1) = [1, 2, 4] / 7
    scores = torch.tensor([[0.0, math.log(2.0), math.log(4.0), -5.0]])
    idx, _ = sample_topk_softmax(scores, 70_000, k=3, temperature=1.0, generator=gen(2))
    freq = torch.bincount(idx.flatten(), minlength=4).float() / idx.numel()
    assert torch.allclose(freq, torch.tensor([1 / 7, 2 / 7, 4 / 7, 0.0]), atol=0.01)


def test_never_returns_an_excluded_candidate_and_flags_rows_without_any():
    g = gen(3)
    scores = torch.rand(64, 30, generator=g)
    exclude = torch.rand(64, 30, generator=g) < 0.7
    exclude[5] = True  # row 5 has no allowed candidate at all
    idx, found = sample_topk_softmax(scores, 8, k=10, temperature=0.5, generator=g, exclude=exclude)
    rows = torch.arange(64).unsqueeze(1).expand_as(idx)
    assert not exclude[rows[found], idx[found]].any()
    assert not found[5].any() and found[torch.arange(64) != 5].all()


def test_graph_source_returns_only_two_hop_non_neighbours():
    g = gen(4)
    adj = (torch.rand(20, 40, generator=g) < 0.08).float()
    rows = torch.arange(20)
    scores, valid = two_hop_scores(adj, rows)
    idx, found = sample_topk_softmax(scores, 16, k=5, temperature=1.0, generator=g, exclude=~valid)
    co = (adj.t() @ adj) > 0  # items sharing a row
    for r in range(20):
        own = adj[r] > 0
        two_hop = (co[own].any(dim=0)) & ~own
        picked = idx[r][found[r]]
        assert two_hop[picked].all()
        assert bool(found[r].any()) == bool(two_hop.any())


def test_mix_honours_the_ratio_and_keeps_random_where_no_hard_was_found():
    g = gen(5)
    rand_neg = torch.zeros(5000, 2, dtype=torch.long)
    hard = torch.ones(5000, 2, dtype=torch.long)
    found = torch.ones(5000, 2, dtype=torch.bool)
    found[:1000] = False
    out, is_hard = mix_negatives(rand_neg, hard, found, 0.3, g)
    assert torch.equal(out, is_hard.long())
    assert not is_hard[:1000].any()
    assert is_hard[1000:].float().mean().item() == pytest.approx(0.3, abs=0.015)
    out0, hard0 = mix_negatives(rand_neg, hard, found, 0.0, g)
    assert not hard0.any() and (out0 == 0).all()


def test_same_generator_seed_same_draws():
    scores = torch.rand(8, 50, generator=gen(6))
    a = sample_topk_softmax(scores, 4, k=10, temperature=0.3, generator=gen(7))
    b = sample_topk_softmax(scores, 4, k=10, temperature=0.3, generator=gen(7))
    assert torch.equal(a[0], b[0])


def test_cached_co_links_give_the_same_two_hop_scores():
    adj = (torch.rand(12, 9, generator=gen(8)) < 0.3).float()
    rows = torch.tensor([0, 3, 11])
    assert torch.equal(two_hop_scores(adj, rows)[0], two_hop_scores(adj, rows, co_links(adj))[0])
