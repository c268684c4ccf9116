"""Scenarios 2, 3 and 6: the driver is killed or interrupted, the folder moved, the saved state truncated.

Each test runs ``python -m tune.run`` in its own process (and so its own local Ray), on an Optuna + ASHA search of
the toy trainable with one trial at a time, which makes the search deterministic: an uninterrupted run (the
``reference`` fixture) gives the trials and the best config every interrupted-and-resumed run must reproduce.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tune.run import main

NUM_SAMPLES = 4
SECTIONS = dict(
    config={"max_epochs": 4, "sleep_s": 0.4},
    space={"lr": {"loguniform": [0.01, 0.3]}, "dim": {"choice": [4, 8]}},
    search={"algorithm": "optuna", "num_samples": NUM_SAMPLES, "max_concurrent": 1, "seed": 0},
    scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2},
    checkpoint={"every": 1, "keep": 2},
)
FLAGS = ["--skip-replicate", "--skip-report"]


def configs(summary: pd.DataFrame) -> list[tuple[float, int, str, int]]:
    """Each trial's (lr, dim, status, epochs), sorted: the fates of a search."""
    rows = zip(summary["config/lr"].round(12), summary["config/dim"], summary["status"], summary["epochs"])
    return sorted(rows)


def raw_epochs(trial_dir: Path) -> list[int]:
    return [int(e) for e in pd.read_csv(trial_dir / "progress.csv")["epoch"]]


def study_trials(experiment_dir: Path) -> list:
    """The Optuna trials in the newest searcher state Ray saved (a pickle of our own, trusted folder)."""
    newest = max(experiment_dir.glob("searcher-state-*.pkl"), key=lambda p: p.stat().st_mtime)
    with newest.open("rb") as fh:
        return pickle.load(fh)["_ot_study"].trials


def start(cli_args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tune.run", *cli_args],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def saved_finished(experiment_dir: Path) -> set[str]:
    """Folders of the trials Ray's newest saved experiment state records as finished."""
    states = sorted(experiment_dir.glob("experiment_state-*.json"))
    try:
        trial_data = json.loads(states[-1].read_text())["trial_data"] if states else []
    except ValueError:  # being written
        return set()
    trials = [json.loads(state) for state, _ in trial_data]
    return {Path(t["relative_logdir"]).name for t in trials if t["status"] == "TERMINATED"}


def wait_mid_search(
    proc: subprocess.Popen, experiment_dir: Path, trials: int, saved: int = 0, timeout: float = 300
) -> None:
    """Until ``trials`` trials have reported an epoch and Ray's saved state holds ``saved`` finished ones.

    Ray saves its experiment state every 10 s or more (gap F in docs/reliability.md): a trial that finished after
    the last save is resumed as unfinished. Waiting for the save tests the resume, not that period.
    """
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = sorted(experiment_dir.glob("*/progress.csv"), key=lambda p: p.stat().st_ctime)
        started = len(found) >= trials and len(found[-1].read_text().splitlines()) >= 2
        if started and len(saved_finished(experiment_dir)) >= saved:
            return
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"the search did not reach trial {trials} in time")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, toy_spec, cli):
    tmp = tmp_path_factory.mktemp("reference")
    spec = toy_spec(tmp, **SECTIONS)
    done = cli([str(spec), "--storage", str(tmp), *FLAGS], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = pd.read_csv(tmp / "toy" / "summary.csv")
    assert len(summary) == NUM_SAMPLES
    return configs(summary), json.loads((tmp / "toy" / "best.json").read_text())["config"]


def check_resumed(
    run_dir: Path, reference, before: dict[str, str], finished: set[str], study_may_lag: bool = False
) -> None:
    """Exact counts after a resume: nothing lost, re-run or duplicated; the same fates and best as uninterrupted."""
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == NUM_SAMPLES and summary["trial_id"].is_unique
    assert set(summary["status"]) == {"TERMINATED"}
    for name, text in before.items():
        now = (run_dir / "search" / name / "progress.csv").read_text()
        if name in finished:
            assert now == text, f"the finished trial {name} was re-run"
            continue
        assert now.startswith(text), f"{name} lost rows it had written before the interruption"
        new = pd.read_csv(run_dir / "search" / name / "progress.csv").iloc[len(text.splitlines()) - 1 :]
        if len(new):  # continued from its newest checkpoint (whose epoch it reports again first), not from 0
            first = int(new["epoch"].iloc[0])
            assert first >= 1 and (new["restored_from_epoch"] == first).all(), new[
                ["epoch", "restored_from_epoch"]
            ]
    for _, row in summary.iterrows():
        epochs = raw_epochs(run_dir / row["logdir"])
        assert epochs[0] == 1 and sorted(set(epochs)) == list(range(1, row["epochs"] + 1))
    tuned = sorted((round(lr, 12), dim) for lr, dim, _, _ in reference[0])
    assert sorted((round(lr, 12), dim) for lr, dim, _, _ in configs(summary)) == tuned
    fates_differ = configs(summary) != reference[0]
    if not fates_differ:
        assert json.loads((run_dir / "best.json").read_text())["config"] == reference[1]
    from optuna.trial import TrialState

    trials = study_trials(run_dir / "search")
    if study_may_lag and len(trials) < NUM_SAMPLES:
        pytest.xfail(
            "after Ctrl+C, Ray's saved searcher state can predate trials it had already started, so the Optuna "
            "study misses them after --resume (gap G in docs/reliability.md); the Tune counts above hold"
        )
    assert len(trials) == NUM_SAMPLES
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert sorted((round(t.params["lr"], 12), t.params["dim"]) for t in trials) == tuned
    if fates_differ:
        pytest.xfail(
            "Ray does not save ASHA's rungs, so the trials after --resume were judged differently from an "
            "uninterrupted run (gap C' in docs/reliability.md); the counts above hold"
        )


def snapshot_progress(experiment_dir: Path) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in experiment_dir.glob("*/progress.csv")}


@pytest.mark.slow
def test_driver_killed_then_resumed_from_another_path(tmp_path, toy_spec, cli, reference):
    spec = toy_spec(tmp_path, **SECTIONS)
    first, moved = tmp_path / "first", tmp_path / "elsewhere" / "copy"
    proc = start([str(spec), "--storage", str(first), *FLAGS])
    wait_mid_search(proc, first / "toy" / "search", trials=3, saved=2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = snapshot_progress(first / "toy" / "search")
    finished = saved_finished(first / "toy" / "search")
    assert len(before) >= 3 and len(finished) >= 2

    shutil.copytree(first / "toy", moved / "toy", symlinks=True)
    shutil.rmtree(first)
    done = cli([str(spec), "--storage", str(moved), "--resume", *FLAGS], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    check_resumed(moved / "toy", reference, before, finished)


@pytest.mark.slow
def test_ctrl_c_stops_within_seconds_with_one_resume_line_then_resumes(tmp_path, toy_spec, cli, reference):
    spec = toy_spec(tmp_path, **SECTIONS)
    args = [str(spec), "--storage", str(tmp_path), *FLAGS]
    proc = start(args)
    # early enough that the remaining trials cannot all finish while Tune stops (ASHA stops some after 1 epoch)
    wait_mid_search(proc, tmp_path / "toy" / "search", trials=2)
    # finished = recorded TERMINATED before the interruption; a trial Tune stops while it shuts down may be saved
    # as TERMINATED and still be resumed from its checkpoint, which is what --resume should do with it
    finished = saved_finished(tmp_path / "toy" / "search")
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl+C reaches the whole foreground process group
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the driver did not stop within 60 s of Ctrl+C")
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err[-3000:]
    resume_lines = [ln for ln in err.splitlines() if "--resume" in ln]
    assert len(resume_lines) == 1 and resume_lines[0].startswith(
        "interrupted: resume with python -m tune.run"
    )
    print(f"driver stopped {stopped_after:.1f} s after SIGINT")
    before = snapshot_progress(tmp_path / "toy" / "search")

    done = cli([*args, "--resume"], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    check_resumed(tmp_path / "toy", reference, before, finished, study_may_lag=True)


def test_the_resume_line_repeats_the_command_that_was_interrupted(tmp_path, toy_spec, monkeypatch, capsys):
    import shlex

    import tune.orchestrate

    class Interrupted:
        def fit(self) -> None:
            raise KeyboardInterrupt

    def one_running_trial(resolved, run_dir: Path, argv: list[str]) -> None:
        (run_dir / "summary.csv").write_text("trial_id,status\na,RUNNING\n")

    monkeypatch.setattr(tune.orchestrate, "connect", lambda address: False)
    monkeypatch.setattr(tune.orchestrate, "preflight_checks", lambda *args: None, raising=False)
    monkeypatch.setattr(tune.orchestrate, "build_tuner", lambda *args: Interrupted())
    monkeypatch.setattr(tune.orchestrate, "write_results", one_running_trial)
    argv = [
        str(toy_spec(tmp_path)),
        "--storage",
        str(tmp_path / "out"),
        "--set",
        "config.weight_decay=0.01",
        *FLAGS,
    ]
    assert main(argv) == 130
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "--resume" in ln]
    assert lines == [f"interrupted: resume with python -m tune.run {shlex.join(argv)} --resume"]
