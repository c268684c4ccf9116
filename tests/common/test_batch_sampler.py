"""Chunked cosine kNN, the semantics-aware hard batch sampler and the curriculum schedule."""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from trainables.common.samplers.batches import cosine_topk, hard_batches
from trainables.common.schedules import curriculum_ratio


def clustered(
    n_clusters: int, per_cluster: int, dim: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points around ``n_clusters`` random directions, and each point's cluster id."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_clusters, dim, generator=g) * 5
    cluster = torch.arange(n_clusters).repeat_interleave(per_cluster)
    return centers[cluster] + torch.randn(cluster.numel(), dim, generator=g), cluster


def test_cosine_topk_on_hand_built_vectors():
    vectors = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    values, indices = cosine_topk(vectors, 2, chunk_size=3)
    # cosines: (0,1)=(1,2)=1/√2, (0,2)=(2,3)=0, (1,3)=-1/√2, (0,3)=-1; ties go to the lower index
    assert indices.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1]]
    r = 1 / math.sqrt(2)
    expected = torch.tensor([[r, 0.0], [r, r], [r, 0.0], [0.0, -r]])
    assert torch.allclose(values, expected, atol=1e-6)


def test_cosine_topk_breaks_exact_ties_by_index_also_at_the_cut():
    same = torch.ones(5, 3)
    for chunk in (1, 2, 5):
        assert cosine_topk(same, 2, chunk_size=chunk)[1].tolist() == [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1]]


def test_cosine_topk_matches_sklearn_and_ignores_chunk_size():
    x, _ = clustered(5, 40, dim=16)
    values, indices = cosine_topk(x, 7, chunk_size=1000)
    nn = NearestNeighbors(n_neighbors=8, metric="cosine").fit(x.numpy())
    dist, ref = nn.kneighbors(x.numpy())
    assert values.numpy() == pytest.approx(
        1 - dist[:, 1:], abs=1e-5
    )  # sklearn's first neighbour is the point
    clean = (values[:, :-1] - values[:, 1:]).min(1).values > 1e-6  # rows without float near-ties
    assert int(clean.sum()) > 150
    assert torch.equal(indices[clean], torch.from_numpy(ref[:, 1:]).long()[clean])
    for chunk in (1, 13, 64):
        v, i = cosine_topk(x, 7, chunk_size=chunk)
        assert torch.allclose(v, values, atol=1e-6)
        swapped = i != indices  # only near-ties may swap (chunking changes the float rounding of the matmul)
        assert int(swapped.sum()) <= 2
        assert torch.allclose(v[swapped], values[swapped], atol=1e-6)


def test_cosine_topk_can_keep_self_and_checks_k():
    x, _ = clustered(2, 5)
    _, indices = cosine_topk(x, 1, exclude_self=False)
    assert torch.equal(indices[:, 0], torch.arange(10))
    with pytest.raises(ValueError, match="k must be in"):
        cosine_topk(x, 10)


def test_every_item_once_per_epoch_and_full_batches():
    x, _ = clustered(10, 53)
    neighbors = cosine_topk(x, 30)[1]
    plan = hard_batches(530, 32, neighbors, 0.5, 30, torch.Generator().manual_seed(0))
    assert torch.equal(plan.order.sort().values, torch.arange(530))  # a partition: no duplicates anywhere
    sizes = [b.numel() for b in plan.batches()]
    assert sizes == [32] * 16 + [18]


def test_hard_items_come_from_the_pivots_top_k():
    x, _ = clustered(10, 50)
    neighbors = cosine_topk(x, 40)[1]
    k = 12
    plan = hard_batches(500, 20, neighbors, 0.5, k, torch.Generator().manual_seed(1))
    n_checked = 0
    for batch, hard in zip(plan.batches(), plan.is_hard.split(20)):
        assert not hard[0]  # the pivot itself is not a hard item
        top = set(neighbors[batch[0], :k].tolist())
        assert set(batch[hard].tolist()) <= top
        n_checked += int(hard.sum())
    assert n_checked > 0


def test_hard_share_honours_the_ratio_within_tolerance():
    x, cluster = clustered(10, 100)
    neighbors = cosine_topk(x, 100)[1]
    for ratio in (0.3, 0.5, 0.7):
        plan = hard_batches(1000, 20, neighbors, ratio, 100, torch.Generator().manual_seed(2))
        n_hard = round(ratio * 20)
        per_batch = plan.is_hard.view(-1, 20).sum(1)
        assert int(per_batch.max()) == n_hard  # never more than asked
        assert int(per_batch[0]) == n_hard  # and exactly that while neighbours are left
        assert n_hard / 20 * 0.85 <= plan.hard_share <= n_hard / 20
        # hard items share the pivot's cluster far more often than the random fill does
        batches = plan.order.view(-1, 20)
        same = cluster[batches] == cluster[batches[:, :1]]  # [batches, 20]
        hard = plan.is_hard.view(-1, 20)
        assert same[hard].float().mean() > 0.95
        same[:, 0] = False  # the pivot trivially shares its own cluster
        assert same[:, 1:][~hard[:, 1:]].float().mean() < 0.3  # random fill: about 1 in 10 by chance


def test_ratio_zero_is_a_plain_random_permutation():
    plan = hard_batches(100, 16, None, 0.0, 10, torch.Generator().manual_seed(5))
    assert torch.equal(plan.order, torch.randperm(100, generator=torch.Generator().manual_seed(5)))
    assert not plan.is_hard.any() and plan.hard_share == 0.0


def test_ratio_one_fills_all_but_the_pivot():
    x, _ = clustered(4, 50)
    neighbors = cosine_topk(x, 60)[1]
    plan = hard_batches(200, 8, neighbors, 1.0, 60, torch.Generator().manual_seed(0))
    assert int(plan.is_hard[:8].sum()) == 7


def test_same_generator_seed_same_batches_other_seed_differs():
    x, _ = clustered(5, 40)
    neighbors = cosine_topk(x, 20)[1]
    a = hard_batches(200, 16, neighbors, 0.5, 20, torch.Generator().manual_seed(3))
    b = hard_batches(200, 16, neighbors, 0.5, 20, torch.Generator().manual_seed(3))
    c = hard_batches(200, 16, neighbors, 0.5, 20, torch.Generator().manual_seed(4))
    assert torch.equal(a.order, b.order) and torch.equal(a.is_hard, b.is_hard)
    assert not torch.equal(a.order, c.order)


def test_sampler_rejects_bad_knobs():
    neighbors = torch.zeros(10, 3, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="hardness_k"):
        hard_batches(10, 4, neighbors, 0.5, 4, g)
    with pytest.raises(ValueError, match="hard_ratio"):
        hard_batches(10, 4, neighbors, 1.5, 2, g)
    with pytest.raises(ValueError, match="batch_size"):
        hard_batches(10, 0, neighbors, 0.5, 2, g)


def test_curriculum_ratio_switches_and_ramps():
    assert [curriculum_ratio(e, 5, 0.5) for e in (0, 4, 5, 9)] == [0.0, 0.0, 0.5, 0.5]
    assert [curriculum_ratio(e, 0, 0.7) for e in (0, 3)] == [0.7, 0.7]
    ramp = [curriculum_ratio(e, 2, 0.6, ramp_epochs=3) for e in range(6)]
    assert ramp == pytest.approx([0.0, 0.0, 0.2, 0.4, 0.6, 0.6])
