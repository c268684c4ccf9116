"""hetero_twostage: learning on the synthetic graph, the two-stage timeline, metrics vs scikit-learn, the GBDT
baseline's epoch semantics, the CSV loader and the spec's smoke run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from trainables.hetero_twostage import HeteroTwoStage
from trainables.hetero_twostage.data import VAL
from trainables.protocol import DataError

SPEC = Path(__file__).resolve().parents[2] / "search_spaces" / "hetero_twostage.yaml"
SMALL = {"num_employees": 800, "num_positions": 30, "num_departments": 5}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These graphs are tiny: one intra-op thread beats two, by far on a shared, loaded CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_data():
    return HeteroTwoStage.load_data(HeteroTwoStage.DataConfig(**SMALL))


@pytest.fixture(scope="module")
def tiny_data():
    return HeteroTwoStage.load_data(HeteroTwoStage.DataConfig(**HeteroTwoStage.tiny_data))


def build(data, **overrides) -> HeteroTwoStage:
    return HeteroTwoStage(HeteroTwoStage.Config(**overrides), data, torch.device("cpu"))


def test_synthetic_data_has_rare_turnover_and_disjoint_preference_splits(small_data):
    d = small_data
    assert d.turnover.mean().item() == pytest.approx(0.07, abs=0.002)
    assert d.pref_val.size(0) == d.pref_test.size(0) == SMALL["num_employees"]  # one each per employee
    assert d.pref_train.size(0) == SMALL["num_employees"] * 3
    keys = [d.pref_train[:, 0] * 1000 + d.pref_train[:, 1], d.pref_val[:, 0] * 1000 + d.pref_val[:, 1]]
    assert not bool(torch.isin(keys[0], keys[1]).any())
    preferred = torch.zeros(d.num_employees, d.num_positions, dtype=torch.bool)
    for pairs in (d.pref_train, d.pref_val, d.pref_test):
        preferred[pairs[:, 0], pairs[:, 1]] = True
    assert not bool(preferred[d.pref_val[:, :1], d.val_neg].any())  # a negative is never a preference


def test_gnn_beats_random_on_both_tasks(small_data):
    model = build(small_data, stage1_epochs=6, max_epochs=14, hard_weight=1.0, margin_step=0.0, seed=0)
    for epoch in range(14):
        model.train_epoch(epoch)
    test = model.evaluate("test")
    prevalence = small_data.turnover[small_data.emp_split == 2].mean().item()
    # random: AUROC 0.5, AUPR = prevalence (~0.07), pairwise accuracy 0.5
    assert test["auroc"] > 0.70
    assert test["aupr"] > prevalence + 0.15
    assert test["pair_acc"] > 0.75
    assert test["mean_margin"] > 0.0
    assert test["combined"] > 0.3


def test_two_stages_share_one_timeline_and_stage1_restores_its_best_weights(tiny_data):
    model = build(tiny_data, stage1_epochs=3, stage1_patience=10, max_epochs=5, refresh_every=2)
    stages = [model.train_epoch(epoch)["stage"] for epoch in range(5)]
    assert stages == [1.0, 1.0, 1.0, 2.0, 2.0]
    assert model.cache.refreshes == 1 and model.cache.last_refresh == 0

    early = build(tiny_data, stage1_epochs=50, stage1_patience=1, lr=0.3, max_epochs=50)
    epoch = 0
    while early.stage == 1:
        early.train_epoch(epoch)
        epoch += 1
    assert epoch < 50, "patience 1 at a high learning rate should stop stage 1 early"
    assert early.stage2_start == epoch
    assert early.evaluate("val")["turnover_loss"] == pytest.approx(early.stage1_best, rel=1e-5)


def test_stage2_mixes_hard_negatives_and_moves_the_margin(tiny_data):
    model = build(
        tiny_data, stage1_epochs=0, hard_ratio=0.85, margin_step=0.25, margin_init=1.0, max_epochs=4
    )
    metrics = [model.train_epoch(epoch) for epoch in range(4)]
    assert all(m["stage"] == 2.0 for m in metrics)
    assert metrics[0]["hard_share"] == pytest.approx(0.85, abs=0.03)
    margins = [m["margin"] for m in metrics]
    assert margins[0] == 1.0 and margins != [1.0] * 4  # val pair_acc leaves [0.52, 0.6] once it learns
    assert all(0.5 <= m <= 3.0 for m in margins)


def test_metrics_equal_scikit_learn_and_threshold_maximises_validation_f1(tiny_data):
    model = build(tiny_data, stage1_epochs=2, max_epochs=3)
    for epoch in range(3):
        model.train_epoch(epoch)
    probs = torch.sigmoid(model._turnover_logits()).numpy()
    labels = tiny_data.turnover.numpy()
    val = (tiny_data.emp_split == VAL).numpy()
    test = (tiny_data.emp_split == 2).numpy()
    f1_at = {t: f1_score(labels[val], probs[val] >= t) for t in set(probs[val].tolist())}
    best_f1 = max(f1_at.values())
    out_val, out_test = model.evaluate("val"), model.evaluate("test")
    assert f1_at[out_val["threshold"]] == pytest.approx(best_f1)
    assert out_val["f1"] == pytest.approx(best_f1)
    assert out_test["threshold"] == out_val["threshold"]  # tuned on validation, applied to test
    pred = probs[test] >= out_test["threshold"]
    assert out_test["auroc"] == pytest.approx(roc_auc_score(labels[test], probs[test]))
    assert out_test["aupr"] == pytest.approx(average_precision_score(labels[test], probs[test]))
    assert out_test["f1"] == pytest.approx(f1_score(labels[test], pred))
    assert out_test["precision"] == pytest.approx(precision_score(labels[test], pred, zero_division=0))
    assert out_test["recall"] == pytest.approx(recall_score(labels[test], pred))
    pos, neg = model._pair_scores("test")
    assert out_test["pair_acc"] == pytest.approx((pos.unsqueeze(1) > neg).float().mean().item())
    assert out_test["mean_margin"] == pytest.approx((pos.unsqueeze(1) - neg).mean().item(), rel=1e-5)


def test_gbdt_fits_once_then_reports_the_same_and_resumes_by_refitting(tiny_data):
    model = build(tiny_data, model="gbdt", gbdt_max_iter=20, seed=1)
    first, second = model.train_epoch(0), model.train_epoch(1)
    assert first == second and first["stage"] == 2.0
    evaluated = model.evaluate("test")
    assert evaluated == model.evaluate("test")
    assert evaluated["pair_acc"] > 0.6
    restored = build(tiny_data, model="gbdt", gbdt_max_iter=20, seed=1)
    restored.load_state_dict(model.state_dict())
    assert restored.evaluate("test") == evaluated
    assert restored.train_epoch(2) == first


def test_mlp_baseline_ignores_the_graph(tiny_data):
    model = build(tiny_data, model="mlp")
    assert not model.net.encoder.graph
    h = model._encode(False)["employee"]
    model.edges = {k: v[:, :0] for k, v in model.edges.items()}  # drop every edge
    assert torch.equal(model._encode(False)["employee"], h)


# ---------------------------------------------------------------- CSV loader


def write_tables(root: Path, employees: str | None = None, preferences: str | None = None) -> Path:
    rows = ["employee_id,department_id,manager_id,left,tenure,overtime"]
    for i in range(40):
        manager = "" if i % 10 == 0 else str(100 + (i // 10) * 10)
        rows.append(f"{100 + i},{7 + i % 3},{manager},{int(i % 3 == 0)},{i * 0.1:.1f},{(i * 7) % 5}")
    (root / "employees.csv").write_text(employees if employees is not None else "\n".join(rows) + "\n")
    (root / "positions.csv").write_text(
        "position_id,department_id,level\n" + "".join(f"{50 + j},{7 + j % 3},{j}\n" for j in range(9))
    )
    prefs = "employee_id,position_id\n" + "".join(
        f"{100 + i},{50 + (i + k) % 9}\n" for i in range(40) for k in range(4)
    )
    (root / "preferences.csv").write_text(preferences if preferences is not None else prefs)
    return root


def load(root: Path):
    return HeteroTwoStage.load_data(HeteroTwoStage.DataConfig(source="csv", path=str(root), eval_negatives=2))


def test_csv_loader_reads_tiny_tables(tmp_path):
    data = load(write_tables(tmp_path))
    assert (data.num_employees, data.num_positions, data.num_departments) == (40, 9, 3)
    assert data.emp_x.shape == (40, 2) and data.pos_x.shape == (9, 1)
    assert data.turnover.sum().item() == 14  # ids 100, 103, ..., 139
    assert data.manager[0].item() == -1 and data.manager[1].item() == 0  # id 101 reports to id 100 (index 0)
    assert data.emp_dept[:4].tolist() == [0, 1, 2, 0]
    assert data.pref_val.size(0) == data.pref_test.size(0) == 40 and data.pref_train.size(0) == 80
    assert data.val_neg.shape == (40, 2)
    model = HeteroTwoStage(HeteroTwoStage.Config(hidden_dim=8, stage1_epochs=1), data, torch.device("cpu"))
    model.train_epoch(0)
    model.train_epoch(1)
    assert set(model.evaluate("val")) >= {"aupr", "pair_acc", "combined"}


@pytest.mark.parametrize(
    ("employees", "message"),
    [
        ("employee_id,department_id,left,tenure\n1,2,0,0.5\n", "missing column 'manager_id'"),
        ("employee_id;department_id;manager_id;left;tenure\n1;2;;0;0.5\n", "delimited by ';'"),
        (
            "employee_id,department_id,manager_id,left,tenure\nabc,2,,0,0.5\n",
            "'employee_id' line 2 has value 'abc'",
        ),
        (
            "employee_id,department_id,manager_id,left,tenure\n1,2,,0,0.5\n2,2,9,1,0.1\n",
            "'manager_id' line 3 has id 9",
        ),
        (
            "employee_id,department_id,manager_id,left,tenure\n1,2,,0,0.5\n2,2,1,1,\n",
            "'tenure' line 3 is empty",
        ),
        (
            "employee_id,department_id,manager_id,left,tenure\n1,2,,0,0.5\n2,2,1,3,0.1\n",
            "'left' line 3 has value 3",
        ),
        ("employee_id,department_id,manager_id,left\n1,2,,0\n", "no feature column"),
        ("", "file is empty"),
    ],
)
def test_csv_loader_errors_name_file_column_and_value(tmp_path, employees, message):
    write_tables(tmp_path, employees=employees)
    with pytest.raises(DataError, match="employees.csv") as info:
        load(tmp_path)
    assert message in str(info.value)


def test_csv_loader_errors_for_missing_file_and_unknown_preference(tmp_path):
    with pytest.raises(DataError, match=r"employees\.csv: file not found"):
        load(tmp_path)
    write_tables(tmp_path, preferences="employee_id,position_id\n100,999\n")
    with pytest.raises(DataError, match=r"preferences\.csv: column 'position_id' line 2 has id 999"):
        load(tmp_path)
    with pytest.raises(DataError, match="data.path"):
        HeteroTwoStage.load_data(HeteroTwoStage.DataConfig(source="csv"))


def test_split_without_a_leaver_is_a_data_error():
    config = HeteroTwoStage.DataConfig(
        num_employees=60, num_positions=8, num_departments=2, turnover_rate=0.01
    )
    with pytest.raises(DataError, match="split .* has no one who left"):
        HeteroTwoStage.load_data(config)


@pytest.mark.slow
def test_spec_smoke_run_writes_summary(tmp_path):
    from tune.run import main

    assert main([str(SPEC), "--smoke", "--storage", str(tmp_path)]) == 0
    assert (tmp_path / "hetero_twostage" / "summary.csv").is_file()
