"""tgn_link: losses by hand, full-ranking metrics on a hand-made ranking, no leakage, learning, JODIE loader, smoke."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from trainables.protocol import DataError
from trainables.tgn_link import TGNLink, full_ranking_metrics
from trainables.tgn_link.data import load_jodie_csv

SPEC = Path(__file__).resolve().parents[2] / "search_spaces" / "tgn_focal_hardneg.yaml"


def make(data=None, **overrides) -> TGNLink:
    data = data if data is not None else TGNLink.load_data(TGNLink.DataConfig(**TGNLink.tiny_data))
    config = TGNLink.Config(**{**TGNLink.tiny_config, **overrides})
    return TGNLink(config, data, torch.device("cpu"))


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        # logits [0, ln 3], targets [1, 0]: p = [1/2, 3/4]
        ("bce", (math.log(2) + math.log(4)) / 2),  # -ln(1/2), -ln(1/4)
        ("weighted_bce", (3 * math.log(2) + math.log(4)) / 2),  # pos_weight 3 on the positive term
        # focal α=0.25, γ=2: 0.25·(1/2)²·ln 2 and 0.75·(3/4)²·ln 4
        ("focal", (0.25 * 0.25 * math.log(2) + 0.75 * 0.5625 * math.log(4)) / 2),
    ],
)
def test_losses_match_hand_computation(loss, expected):
    model = make(loss=loss, pos_weight=3.0, focal_alpha=0.25, focal_gamma=2.0)
    value = model._loss(torch.tensor([0.0, math.log(3.0)]), torch.tensor([1.0, 0.0]))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_full_ranking_metrics_on_a_hand_made_ranking():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = torch.tensor([0, 1, 0, 0, 1, 0], dtype=torch.bool)
    m = full_ranking_metrics(scores, labels, [1, 2, 5])
    assert m["precision@1"] == 0.0 and m["precision@2"] == 0.5 and m["precision@5"] == pytest.approx(0.4)
    assert m["recall@2"] == 0.5 and m["recall@5"] == 1.0
    assert m["base_rate"] == pytest.approx(1 / 3) and m["lift@2"] == pytest.approx(1.5)
    # positive 0.8 has one negative above (rank 2), positive 0.5 has three (rank 4)
    assert m["median_rank"] == 3.0 and m["mean_rank"] == 3.0 and m["mrr"] == pytest.approx(0.375)
    assert m["ap"] == pytest.approx(0.45) == pytest.approx(average_precision_score(labels, scores))
    assert m["auroc"] == pytest.approx(0.5) == pytest.approx(roc_auc_score(labels, scores))


def test_full_ranking_scores_equal_pairwise_predictor():
    model = make()
    model.train_epoch(0)
    grid = model.score_matrix("val")  # [S, D]
    z_src, z_dst = torch.randn(5, 8), torch.randn(7, 8)
    pairwise = model.net.predictor(z_src.repeat_interleave(7, 0), z_dst.repeat(5, 1)).view(5, 7)
    assert torch.allclose(model.net.predictor.score_all(z_src, z_dst, chunk_pairs=1024), pairwise, atol=1e-5)
    assert grid.shape == (model.num_src, model.num_dst)


def test_no_leakage_evaluation_memory_is_the_training_memory():
    data = TGNLink.load_data(TGNLink.DataConfig(**TGNLink.tiny_data))
    n_train, n_val = data.n_train, data.n_val
    # the same events up to the end of training, then different validation/test events
    other = dataclasses.replace(data, dst=data.dst.clone())
    other.dst[n_train:] = torch.flip(other.dst[n_train:], [0])
    a, b = make(data), make(other)
    a.train_epoch(0)
    b.train_epoch(0)

    val_state = a.state_before("val")
    assert torch.equal(val_state["memory"], a.post_train["memory"])
    assert int(val_state["last_update"].max()) == int(data.t[n_train - 1])
    assert val_state["cur_e_id"] == n_train
    assert torch.equal(val_state["memory"], b.state_before("val")["memory"])  # future events changed nothing
    assert torch.equal(a.score_matrix("val"), b.score_matrix("val"))

    test_state = a.state_before("test")
    assert int(test_state["last_update"].max()) == int(data.t[n_train + n_val - 1])
    assert test_state["cur_e_id"] == n_train + n_val
    # changing only test events leaves test scores alone; validation events are legitimately used
    only_test = dataclasses.replace(data, dst=data.dst.clone())
    only_test.dst[n_train + n_val :] = torch.flip(only_test.dst[n_train + n_val :], [0])
    c = make(only_test)
    c.train_epoch(0)
    assert torch.equal(a.score_matrix("test"), c.score_matrix("test"))


def test_memory_is_reset_at_each_training_epoch():
    model = make()
    model.train_epoch(0)
    first = model.post_train["cur_e_id"]
    model.train_epoch(1)
    assert model.post_train["cur_e_id"] == first == model.data.n_train


@pytest.mark.parametrize("source", ["static", "temporal", "graph"])
def test_hard_share_follows_ratio_and_curriculum(source):
    model = make(hard_neg_source=source, hard_neg_ratio=0.5, curriculum_epoch=1, n_negatives=4)
    first = model.train_epoch(0)
    second = model.train_epoch(1)
    assert first["hard_share"] == 0.0 and first["hard_ratio"] == 0.0
    assert second["hard_ratio"] == 0.5
    if source == "static":  # every destination has features: the ratio is honoured from the first batch
        assert second["hard_share"] == pytest.approx(0.5, abs=0.05)
    else:  # memory / graph are empty in the first batches, whose hard slots fall back to random
        assert 0.1 < second["hard_share"] <= 0.55


def test_beats_random_by_a_clear_margin():
    data = TGNLink.load_data(TGNLink.DataConfig(num_src=200, num_dst=400, num_events=1500))
    model = TGNLink(TGNLink.Config(seed=0, max_epochs=8, eval_ks=[100, 1000]), data, torch.device("cpu"))
    for epoch in range(8):
        model.train_epoch(epoch)
    val = model.evaluate("val")
    # random scores: lift 1, AUROC 0.5
    assert val["lift@1000"] >= 5.0, val
    assert val["auroc"] >= 0.7, val


JODIE_HEADER = "user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n"


def write_jodie(path: Path, n: int = 30) -> Path:
    rows = [f"{i % 4},{(i * 7) % 5},{float(100 - 3 * i)},0,{i / 10},{-i / 10}" for i in range(n)]
    path.write_text(JODIE_HEADER + "\n".join(rows) + "\n")
    return path


def test_jodie_loader_reads_sorts_splits_and_builds_static_features(tmp_path):
    data = load_jodie_csv(write_jodie(tmp_path / "tiny.csv"))
    assert (data.num_src, data.num_dst) == (4, 5)
    assert (data.n_train, data.n_val, data.src.numel()) == (21, 4, 30)
    assert torch.equal(data.t, torch.arange(0, 90, 3).long())  # 100 - 3i shifted to start at 0, sorted
    # the earliest event is the last row (i = 29): user 1, item 3, features (2.9, -2.9)
    assert (int(data.src[0]), int(data.dst[0])) == (29 % 4, (29 * 7) % 5)
    assert torch.allclose(data.msg[0], torch.tensor([2.9, -2.9]))
    # static features: mean message of each node's training events (rows i = 29 .. 9)
    train_rows = [i for i in range(9, 30) if i % 4 == 0]
    assert data.src_feat[0, 0].item() == pytest.approx(sum(i / 10 for i in train_rows) / len(train_rows))
    model = make(data)
    assert math.isfinite(model.train_epoch(0)["loss"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (JODIE_HEADER + "\n".join("0\t1\t2.0\t0" for _ in range(30)), "delimiter"),
        (
            JODIE_HEADER + "a,1,2.0,0\n" + "\n".join("0,1,2.0,0" for _ in range(30)),
            "'user': 'a' is not a number",
        ),
        (JODIE_HEADER + "\n".join("0,1,2.0,0,0.5" for _ in range(30)) + "\n3,1", "line 32 has 2 columns"),
        (JODIE_HEADER + "\n".join("0,1,2.0,0" for _ in range(5)), "expected at least 20"),
        (JODIE_HEADER, "no events"),
        (
            JODIE_HEADER + "\n".join("0,-1,2.0,0" for _ in range(30)),
            "'item': -1 is not a non-negative integer",
        ),
    ],
)
def test_jodie_loader_errors_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        TGNLink.load_data(TGNLink.DataConfig(source="jodie", path=str(path)))
    assert str(path) in str(info.value)


def test_jodie_source_needs_a_path():
    with pytest.raises(DataError, match="data.path"):
        TGNLink.load_data(TGNLink.DataConfig(source="jodie"))


@pytest.mark.slow
def test_smoke_run_of_the_spec(ray_local, tmp_path):
    from tune.run import main

    assert main([str(SPEC), "--smoke", "--storage", str(tmp_path)]) == 0
    assert (tmp_path / "tgn_focal_hardneg" / "summary.csv").is_file()
