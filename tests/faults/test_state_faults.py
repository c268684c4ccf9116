"""Scenario 6: a truncated experiment state before ``--resume``.

A truncated newest ``experiment_state-*.json`` is set aside and the previous snapshot is resumed; a truncated
``tuner.pkl`` (or no readable snapshot at all) exits 2 with one line naming the file, and the folder is left byte for
byte as it was: a fresh experiment is never started over the old one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tune.errors import SpecError
from tune.run import main
from tune.watchdog import check_experiment_state

pytestmark = pytest.mark.slow
FLAGS = ["--skip-replicate", "--skip-report"]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def finished(ray_local, tmp_path, toy_spec) -> tuple[list[str], Path]:
    """A finished two-trial search resumed once (so it holds two experiment-state snapshots)."""
    spec = toy_spec(
        tmp_path,
        name="state",
        config={"max_epochs": 2, "lr": 0.05},
        space={"dim": {"grid": [4, 8]}},
        search={"algorithm": "grid", "num_samples": 1, "max_concurrent": 2, "seed": 0},
    )
    args = [str(spec), "--storage", str(tmp_path), *FLAGS]
    assert main(args) == 0
    assert main([*args, "--resume"]) == 0
    return args, tmp_path / "state"


def test_truncated_newest_snapshot_resumes_from_the_previous_one(finished, capsys):
    args, run_dir = finished
    states = sorted((run_dir / "search").glob("experiment_state-*.json"))
    assert len(states) == 2
    truncate(states[-1])
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert (
        f"ranktune: {states[-1]} is corrupt; resuming from the previous snapshot" in capsys.readouterr().out
    )
    assert states[-1].with_suffix(".json.corrupt").exists()
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary["status"]) == ["TERMINATED", "TERMINATED"] and list(summary["epochs"]) == [2, 2]


def test_no_readable_snapshot_is_a_one_line_error(tmp_path):
    (tmp_path / "tuner.pkl").write_bytes(b"\x80\x05")
    with pytest.raises(SpecError, match="tuner.pkl.*corrupt experiment state"):
        check_experiment_state(tmp_path)
    import pickle

    (tmp_path / "tuner.pkl").write_bytes(pickle.dumps({}))
    (tmp_path / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": [')
    with pytest.raises(SpecError, match="experiment_state-2026-01-01_00-00-00.json.*no older snapshot"):
        check_experiment_state(tmp_path)


def test_truncated_tuner_pkl_exits_2_and_leaves_the_folder_unchanged(finished, capsys, digest, no_ray):
    args, run_dir = finished
    truncate(run_dir / "search" / "tuner.pkl")
    before = digest(run_dir)
    capsys.readouterr()
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tuner.pkl" in err and "corrupt experiment state" in err
    assert digest(run_dir) == before
