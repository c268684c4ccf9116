"""analysis.significance: expected tables on the fake folder, planted differences, false-positive rate."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis import significance
from analysis.io import Run, load_run


def test_group_table_expected_values(run_dir: Path) -> None:
    run = load_run(run_dir)
    table = significance.group_table(run, ["test/hr@10"], np.random.default_rng(0)).set_index("group")
    assert table.index.tolist() == ["top1", "top2", "baseline:sasrec_only"]  # top3 only errored
    top1 = np.array([0.414, 0.387, 0.422, 0.399, 0.380])  # 0.35 + seed offset + 0.05 + noise (conftest)
    assert table.loc["top1", "mean"] == pytest.approx(0.4004)
    assert table.loc["top1", "std"] == pytest.approx(top1.std(ddof=1))
    assert table.loc["baseline:sasrec_only", "mean"] == pytest.approx(0.35)
    assert (table["n_seeds"] == 5).all()
    assert (table["t_low"] < table["mean"]).all() and (table["mean"] < table["t_high"]).all()


def test_planted_difference_detected_and_equal_config_not(run_dir: Path) -> None:
    run = load_run(run_dir)
    table = significance.comparison_table(run, ["test/hr@10"]).set_index("config")
    diff1 = np.array([0.054, 0.047, 0.052, 0.049, 0.050])  # 0.05 + TOP1_NOISE
    assert table.loc["top1", "mean_diff"] == pytest.approx(diff1.mean())
    assert table.loc["top1", "d_z"] == pytest.approx(diff1.mean() / diff1.std(ddof=1))
    assert table.loc["top1", "n_pairs"] == 5
    assert bool(table.loc["top1", "significant"]) and table.loc["top1", "verdict"] == "higher (better)"
    assert table.loc["top2", "mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert not table.loc["top2", "significant"] and table.loc["top2", "verdict"] == "no evidence"
    ref = multipletests(table["p_t"].to_numpy(), method="holm")[1]
    assert table["p_t_holm"].to_numpy() == pytest.approx(ref)


def test_all_metrics_widen_the_holm_family(run_dir: Path) -> None:
    run = load_run(run_dir)
    metrics = significance.default_metrics(run, all_metrics=True)
    assert set(metrics) == {
        "test/hr@10",
        "test/short/hr@10",
        "test/long/hr@10",
        "test/short/alpha_mean",
        "test/long/alpha_mean",
    }
    table = significance.comparison_table(run, metrics)
    assert len(table) == 2 * len(metrics)
    assert table["p_t_holm"].to_numpy() == pytest.approx(multipletests(table["p_t"], method="holm")[1])


def test_cli_writes_files_and_states_seeds(run_dir: Path, capsys) -> None:
    assert significance.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Seeds: 5 (0, 1, 2, 3, 4); 1 failed replicate run(s) skipped." in out
    assert "validation split (search phase)" in out and "test split (replicate phase)" in out
    assert "Warning" not in out
    assert (run_dir / "significance.md").read_text() + "\n" == out
    comparisons = pd.read_csv(run_dir / "significance.csv")
    assert comparisons["verdict"].tolist() == ["higher (better)", "no evidence"]
    assert len(pd.read_csv(run_dir / "significance_groups.csv")) == 3


def test_fewer_than_five_seeds_warns(make_run_dir, capsys) -> None:
    run_dir = make_run_dir(seeds=(0, 1, 2))
    assert significance.main([str(run_dir)]) == 0
    assert "**Warning: only 3 seed(s); use at least 5 for these tests.**" in capsys.readouterr().out


def test_without_replication_it_says_so(make_run_dir, capsys) -> None:
    run_dir = make_run_dir(replicate=False)
    assert significance.main([str(run_dir)]) == 0
    assert "replicate_summary.csv` is absent" in capsys.readouterr().out
    assert not (run_dir / "significance.csv").exists()


def test_unknown_metric_exits_2(run_dir: Path, capsys) -> None:
    assert significance.main([str(run_dir), "--metric", "test/nope"]) == 2
    assert "no column 'test/nope'" in capsys.readouterr().err


def _simulated_run(rng: np.random.Generator, shift: float, seeds: int = 5) -> Run:
    """A replicated config and a baseline sharing a per-seed effect; the config is shifted by ``shift``."""
    seed_effect = rng.normal(0.0, 0.02, size=seeds)
    rows = []
    for group, delta in (("top1", shift), ("baseline:b", 0.0)):
        values = 0.4 + seed_effect + delta + rng.normal(0.0, 0.01, size=seeds)
        rows += [
            {"group": group, "config/seed": s, "status": "TERMINATED", "test/hr@10": v}
            for s, v in enumerate(values)
        ]
    spec = {"name": "sim", "metric": "val/hr@10", "mode": "max"}
    return Run(Path("."), spec, pd.DataFrame(), pd.DataFrame(rows), None)


def _verdicts(seed: int, shift: float, simulations: int) -> list[str]:
    """The pipeline's verdict on top1 vs the baseline in each simulated replication."""
    rng = np.random.default_rng(seed)
    gc.freeze()  # statsmodels' Holm runs gc.collect() on every call: keep the already-built heap out of it
    try:
        return [
            significance.comparison_table(_simulated_run(rng, shift), ["test/hr@10"])["verdict"].iloc[0]
            for _ in range(simulations)
        ]
    finally:
        gc.unfreeze()


def test_false_positive_rate_of_identical_configs_over_400_replications() -> None:
    # any significant verdict (either direction) is a false positive: expected rate α = 0.05, sd ≈ 0.011
    verdicts = _verdicts(seed=2024, shift=0.0, simulations=400)
    assert np.mean([v != "no evidence" for v in verdicts]) <= 0.08


def test_power_for_a_planted_shift_over_100_replications() -> None:
    # the difference has sd 0.01 * sqrt(2); a shift of 0.04 is d_z ≈ 2.8, where the t-test's power is ≈ 0.97
    verdicts = _verdicts(seed=7, shift=0.04, simulations=100)
    assert np.mean([v == "higher (better)" for v in verdicts]) >= 0.85


def test_verdict_direction_per_metric(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert significance._verdict(run, "test/hr@10", 0.1) == "higher (better)"
    assert significance._verdict(run, "test/mean_rank", 0.1) == "higher (worse)"
    assert significance._verdict(run, "test/short/ndcg@10", -0.1) == "lower (worse)"
    assert significance._verdict(run, "test/short/alpha_mean", -0.1) == "lower"


def test_interrupted_replication_is_rebuilt_from_its_trial_folders(make_run_dir) -> None:
    run = load_run(make_run_dir(summary=False))
    assert run.rebuilt == ("summary.csv", "replicate_summary.csv")
    assert len(run.failed(run.replicate)) == 1  # top3's error.txt
    groups = significance.group_table(run, ["test/hr@10"], np.random.default_rng(0)).set_index("group")
    assert groups.index.tolist() == ["top1", "top2", "baseline:sasrec_only"]
    assert groups["mean"].tolist() == pytest.approx([0.4004, 0.35, 0.35])
    verdicts = significance.comparison_table(run, ["test/hr@10"])["verdict"].tolist()
    assert verdicts == ["higher (better)", "no evidence"]
