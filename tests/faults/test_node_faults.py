"""Scenario 1: a worker node running two trials is removed mid-search and a fresh one added.

A real multi-node Ray (``ray.cluster_utils.Cluster``: head + two 2-CPU workers, all on this machine) runs four
10-epoch trials with ``max_failures: 2`` in a separate process (``node_kill_driver.py``), so it never meets the
session's local Ray. The two trials of the removed node finish all 10 epochs after one failure each, restored from
the checkpoint they had reached (not from epoch 0); the other two are never restarted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_worker_node_removed_at_epoch_3(tmp_path, toy_spec):
    spec = toy_spec(
        tmp_path,
        name="nodes",
        config={"max_epochs": 10, "lr": 0.05, "sleep_s": 0.5},
        space={"seed": {"grid": [0, 1, 2, 3]}},
        search={"algorithm": "grid", "num_samples": 1, "max_concurrent": 4, "seed": 0},
        failure={"max_failures": 2},
    )
    record_path, storage = tmp_path / "record.json", tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parents[1])}
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "node_kill_driver.py"),
            str(spec),
            str(storage),
            "nodes",
            str(record_path),
        ],
        cwd=HERE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0 and record_path.exists(), done.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert record["code"] == 0 and "removed_node" in record, record

    run_dir = storage / "nodes"
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == 4 and (summary["status"] == "TERMINATED").all() and (summary["epochs"] == 10).all()
    moved, stayed = [], []
    for _, row in summary.iterrows():
        progress = pd.read_csv(run_dir / row["logdir"] / "progress.csv")
        first_node = progress["node_id"].iloc[0]
        (moved if first_node == record["removed_node"] else stayed).append((row, progress))
    assert len(moved) == 2 and len(stayed) == 2
    for row, progress in moved:
        assert row["failures"] == 1
        restored = progress[progress["restored_from_epoch"] > 0]
        start = int(restored["restored_from_epoch"].iloc[0])
        assert start >= 2, "restored from an early checkpoint or from scratch"
        # the epochs before the node was removed, then the restored epoch again, then the rest on a new node
        assert list(progress["epoch"]) == [*range(1, start + 1), *range(start, 11)]
        assert (restored["node_id"] != record["removed_node"]).all()
    for row, progress in stayed:
        assert row["failures"] == 0
        assert list(progress["epoch"]) == list(range(1, 11)) and (progress["restored_from_epoch"] == 0).all()
