"""Driver of scenario 1, run in its own process by ``test_node_faults.py`` (never collected by pytest).

It starts a Ray cluster on this machine with ``ray.cluster_utils.Cluster`` (a head without CPUs and two 2-CPU
workers), runs ``tune.run.main`` against it, and as soon as any trial has reported epoch 3 it removes the worker
node running that trial (and one more) and adds a fresh one. It writes what it did as JSON.

Usage: ``python node_kill_driver.py SPEC STORAGE NAME RECORD_JSON``
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pandas as pd

# one machine: every node sees the same folder, which --shared-storage asserts
FLAGS = ["--skip-replicate", "--skip-report"]


def watch_and_kill(cluster, workers: list, experiment_dir: Path, record: dict) -> None:
    deadline = time.time() + 400
    while time.time() < deadline:
        for progress in experiment_dir.glob("*/progress.csv"):
            try:
                frame = pd.read_csv(progress)
            except Exception:  # being written
                continue
            if frame.empty or "epoch" not in frame or frame["epoch"].max() < 3:
                continue
            node_id = str(frame["node_id"].iloc[-1])
            victim = next((w for w in workers if w.node_id == node_id), None)
            if victim is None:
                continue
            record["removed_node"] = node_id
            record["trigger_trial"] = progress.parent.name
            record["removed_at"] = time.time()
            cluster.remove_node(victim, allow_graceful=False)
            cluster.add_node(num_cpus=2)
            return
        time.sleep(0.05)


def main(spec: str, storage: str, name: str, record_path: str) -> int:
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
    cluster.wait_for_nodes()
    record: dict = {"workers": [w.node_id for w in workers]}
    watcher = threading.Thread(
        target=watch_and_kill, args=(cluster, workers, Path(storage) / name / "search", record), daemon=True
    )
    watcher.start()
    from tune.run import main as run

    try:
        record["code"] = run(
            [spec, "--storage", storage, "--shared-storage", "--address", cluster.address, *FLAGS]
        )
    finally:
        Path(record_path).write_text(json.dumps(record))
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
