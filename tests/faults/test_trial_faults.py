"""Scenarios 4, 8 and 11 on the session's local Ray: trials that raise, diverge, omit their metric or hang.

Every count is exact: a trial's attempts are the ``Failure # N`` blocks Ray appends to its ``error.txt`` (the
summary's ``failures`` column), and its epochs the *raw* rows of its ``progress.csv`` with their
``restored_from_epoch``: a retry restored from the epoch-``e`` checkpoint first reports epoch ``e`` again, while one
that started from scratch would repeat every epoch from 1 with ``restored_from_epoch`` 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tune.run import main

pytestmark = pytest.mark.slow
FLAGS = ["--skip-replicate", "--skip-report"]


def raw_epochs(run_dir: Path, row: pd.Series) -> list[int]:
    """Epochs of every row a trial wrote to its progress file, duplicates included."""
    path = run_dir / row["logdir"] / "progress.csv"
    return [int(e) for e in pd.read_csv(path)["epoch"]] if path.exists() and path.stat().st_size else []


def restored_from(run_dir: Path, row: pd.Series) -> list[int]:
    """The checkpoint epoch each progress row's attempt started from (0: from scratch)."""
    return [int(e) for e in pd.read_csv(run_dir / row["logdir"] / "progress.csv")["restored_from_epoch"]]


def search(toy_spec, tmp_path: Path, name: str, *extra: str, **sections) -> tuple[int, Path, pd.DataFrame]:
    sections.setdefault("search", {"algorithm": "grid", "num_samples": 1, "max_concurrent": 2, "seed": 0})
    spec = toy_spec(tmp_path, name=name, **sections)
    code = main([str(spec), "--storage", str(tmp_path), *FLAGS, *extra])
    run_dir = tmp_path / name
    return code, run_dir, pd.read_csv(run_dir / "summary.csv")


def by(summary: pd.DataFrame, key: str) -> dict:
    return {row[f"config/{key}"]: row for _, row in summary.iterrows()}


def test_transient_failure_is_retried_from_its_checkpoint(ray_local, tmp_path, toy_spec):
    code, run_dir, summary = search(
        toy_spec,
        tmp_path,
        "transient",
        config={"max_epochs": 4, "lr": 0.05, "fail_at_epoch": 2, "fail_once": True},
        space={"dim": {"grid": [4]}},
        failure={"max_failures": 1},
    )
    assert code == 0
    row = summary.iloc[0]
    assert (row["status"], row["epochs"], row["failures"]) == ("TERMINATED", 4, 1)
    assert "injected failure at epoch 3" in row["error"]
    # resumed from the epoch-2 checkpoint (its result reported again first), not from 0
    assert raw_epochs(run_dir, row) == [1, 2, 2, 3, 4]
    assert restored_from(run_dir, row) == [0, 0, 2, 2, 2]


def test_persistent_failure_errors_after_max_failures_plus_one_attempts_alone(ray_local, tmp_path, toy_spec):
    code, run_dir, summary = search(
        toy_spec,
        tmp_path,
        "persistent",
        config={"max_epochs": 3, "lr": 0.05},
        space={"fail_at_epoch": {"grid": [-1, 1]}, "dim": {"grid": [4, 8]}},
        failure={"max_failures": 2},
    )
    assert code == 0
    assert len(summary) == 4
    failed = summary[summary["config/fail_at_epoch"] == 1]
    ok = summary[summary["config/fail_at_epoch"] == -1]
    assert list(failed["status"]) == ["ERROR", "ERROR"] and list(failed["failures"]) == [3, 3]
    assert list(ok["status"]) == ["TERMINATED", "TERMINATED"] and list(ok["failures"]) == [0, 0]
    assert (ok["epochs"] == 3).all() and (failed["epochs"] == 1).all()
    for _, row in failed.iterrows():
        assert row["error_file"] == f"{row['logdir']}/error.txt" and (run_dir / row["error_file"]).exists()
        assert raw_epochs(run_dir, row) == [
            1,
            1,
            1,
        ]  # each retry restored the epoch-1 checkpoint, then failed
        assert restored_from(run_dir, row) == [0, 1, 1]
    best = json.loads((run_dir / "best.json").read_text())
    assert best["config"]["fail_at_epoch"] == -1


def test_resume_retries_errored_trials_from_their_checkpoint(ray_local, tmp_path, toy_spec):
    sections = dict(
        config={"max_epochs": 4, "lr": 0.05, "fail_at_epoch": 1, "fail_once": True},
        space={"dim": {"grid": [4]}},
        failure={"max_failures": 0},
    )
    code, run_dir, summary = search(toy_spec, tmp_path, "retry", **sections)
    assert code == 1 and list(summary["status"]) == ["ERROR"]
    spec = str(tmp_path / "retry.yaml")
    assert main([spec, "--storage", str(tmp_path), "--resume", "--retry-errored", *FLAGS]) == 0
    row = pd.read_csv(run_dir / "summary.csv").iloc[0]
    assert (row["status"], row["epochs"], row["failures"]) == ("TERMINATED", 4, 1)
    assert raw_epochs(run_dir, row) == [1, 1, 2, 3, 4]
    assert restored_from(run_dir, row) == [0, 1, 1, 1, 1]


def test_resume_restarts_errored_trials_from_scratch(ray_local, tmp_path, toy_spec):
    sections = dict(
        config={"max_epochs": 4, "lr": 0.05, "fail_at_epoch": 1, "fail_once": True},
        space={"dim": {"grid": [4]}},
        failure={"max_failures": 0},
    )
    code, run_dir, before = search(toy_spec, tmp_path, "restart", **sections)
    assert code == 1
    spec = str(tmp_path / "restart.yaml")
    assert main([spec, "--storage", str(tmp_path), "--resume", "--restart-errored", *FLAGS]) == 1
    summary = pd.read_csv(run_dir / "summary.csv")
    # Ray restarts the trial as a new trial (new id, new folder, failure count from 0); the summary holds only it
    assert len(summary) == 1 and summary["trial_id"].iloc[0] != before["trial_id"].iloc[0]
    row = summary.iloc[0]
    assert (row["status"], row["failures"]) == ("ERROR", 1)
    # from scratch: not restored, so the transient fault fires again after epoch 1
    assert raw_epochs(run_dir, row) == [1] and restored_from(run_dir, row) == [0]


def test_diverged_trial_is_not_retried_and_never_hands_nan_to_ray(ray_local, tmp_path, toy_spec):
    code, run_dir, summary = search(
        toy_spec,
        tmp_path,
        "nan",
        config={"max_epochs": 3, "lr": 0.05},
        space={"nan_at_epoch": {"grid": [-1, 1]}},
        failure={"max_failures": 2},
    )
    assert code == 0
    rows = by(summary, "nan_at_epoch")
    assert (rows[-1]["status"], rows[-1]["epochs"]) == ("TERMINATED", 3)
    bad = rows[1]
    assert (bad["status"], bad["epochs"], bad["failures"]) == ("DIVERGED", 1, 3)
    assert "diverged at epoch 2" in bad["error"]
    attempts = (run_dir / bad["error_file"]).read_text().split("Failure # ")[1:]
    assert ["not retried: the first attempt ended so" in a for a in attempts] == [False, True, True]
    assert raw_epochs(run_dir, bad) == [1]
    for _, row in summary.iterrows():
        progress = pd.read_csv(run_dir / row["logdir"] / "progress.csv")
        numbers = progress.select_dtypes("number").to_numpy().ravel()
        assert all(math.isfinite(v) for v in numbers if v == v), "a non-finite value reached Ray"
    assert json.loads((run_dir / "best.json").read_text())["config"]["nan_at_epoch"] == -1


def test_asha_fates_with_a_diverging_trial_equal_those_with_a_nan_free_failure(ray_local, tmp_path, toy_spec):
    fates = {}
    for fault in ("nan_at_epoch", "fail_at_epoch"):
        code, _, summary = search(
            toy_spec,
            tmp_path,
            fault.replace("_", "-"),
            config={"max_epochs": 6},
            space={"lr": {"grid": [0.01, 0.05, 0.2]}, fault: {"grid": [-1, 3]}},
            search={"algorithm": "grid", "num_samples": 1, "max_concurrent": 1, "seed": 0},
            scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2},
            failure={"max_failures": 0},
        )
        assert code == 0
        ok = summary[summary[f"config/{fault}"] == -1]
        fates[fault] = sorted(zip(ok["config/lr"], ok["status"], ok["epochs"], ok["val/hr@5"]))
        bad = summary[summary[f"config/{fault}"] == 3]
        expected = "DIVERGED" if fault == "nan_at_epoch" else "ERROR"
        assert set(bad["status"]) <= {expected, "TERMINATED"} and (bad["epochs"] <= 3).all()
    assert fates["nan_at_epoch"] == fates["fail_at_epoch"]
    assert len(fates["nan_at_epoch"]) == 3


def test_optuna_records_diverged_trials_as_failed(ray_local, tmp_path, toy_spec):
    import optuna
    from optuna.trial import TrialState

    journal = tmp_path / "study.journal"
    code, _, summary = search(
        toy_spec,
        tmp_path,
        "optuna-nan",
        config={"max_epochs": 3},
        space={"lr": {"loguniform": [0.01, 0.3]}, "nan_at_epoch": {"choice": [-1, 1]}},
        search={
            "algorithm": "optuna",
            "num_samples": 6,
            "max_concurrent": 2,
            "seed": 3,
            "optuna_storage": str(journal),
        },
        failure={"max_failures": 0},
    )
    assert code == 0 and len(summary) == 6
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="optuna-nan", storage=storage).trials
    states = [t.state for t in trials]
    assert len(trials) == 6 and TrialState.RUNNING not in states
    diverged = (summary["status"] == "DIVERGED").sum()
    assert diverged == states.count(TrialState.FAIL) == (summary["config/nan_at_epoch"] == 1).sum() > 0
    assert states.count(TrialState.COMPLETE) == (summary["status"] == "TERMINATED").sum()


def test_missing_metric_fails_at_once_with_a_clear_message(ray_local, tmp_path, toy_spec):
    code, run_dir, summary = search(
        toy_spec,
        tmp_path,
        "missing",
        config={"max_epochs": 2, "lr": 0.05},
        space={"omit_metric": {"grid": ["", "hr@5"]}},
        failure={"max_failures": 2},
    )
    assert code == 0
    rows = by(summary.fillna({"config/omit_metric": ""}), "omit_metric")
    bad = rows["hr@5"]
    assert (bad["status"], bad["epochs"], bad["failures"]) == ("ERROR", 0, 3)
    assert "MissingMetricError: metric 'val/hr@5' was not reported" in bad["error"]
    assert (rows[""]["status"], rows[""]["epochs"]) == ("TERMINATED", 2)
    assert json.loads((run_dir / "best.json").read_text())["trial_id"] == rows[""]["trial_id"]


def test_hung_trial_is_timed_out_and_the_driver_exits_by_itself(ray_local, tmp_path, toy_spec):
    code, run_dir, summary = search(
        toy_spec,
        tmp_path,
        "hung",
        config={"max_epochs": 3, "lr": 0.05},
        space={"hang_at_epoch": {"grid": [-1, 1]}},
        # generous: on a loaded machine a healthy trial's actor alone can take 20 s to start
        failure={"max_failures": 1, "time_limit_s": 60.0},
    )
    assert code == 0
    rows = by(summary, "hang_at_epoch")
    assert (rows[-1]["status"], rows[-1]["epochs"]) == ("TERMINATED", 3)
    hung = rows[1]
    assert (hung["status"], hung["epochs"]) == ("TIMED_OUT", 1)
    assert "time_limit_s=60" in hung["error"] and hung["failures"] == 2
    assert (run_dir / hung["logdir"] / "TIMED_OUT").exists()
