"""A real multi-node Ray on loopback (``ray.cluster_utils.Cluster``) and three ``tune.run`` calls against it.

Run as a script in its own process by ``test_multinode.py`` (the pytest session's ``ray_local`` fixture must not
meet a second Ray): ``python multinode_check.py OUT_DIR``. It prints one JSON object, the facts the test asserts:
exit codes, the error line, whether a trial folder appeared, and each trial's placement from its ``progress.csv``.

The cluster: a head with 1 CPU and no GPU (where the driver runs), and two workers with 2 CPUs and 1 logical GPU
each, so a ``cpu: 1, gpu: 0.5`` trial fits only on a worker and two such trials share each worker's GPU.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import pandas as pd

TOY = str(Path(__file__).resolve().parents[1] / "tune" / "toy_spec.yaml")
COMMON = ["--smoke", "--skip-replicate", "--skip-report"]


def call(argv: list[str]) -> tuple[int, str]:
    from tune.run import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse rejects an unknown flag this way
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def placements(run_dir: Path) -> list[dict]:
    rows = []
    for progress in sorted(run_dir.glob("search/*/progress.csv")):
        df = pd.read_csv(progress, dtype={"gpu_ids": str, "node_id": str})
        start = float(df["timestamp"].iloc[0] - df["time_this_iter_s"].iloc[0])
        rows.append(
            {
                "trial": progress.parent.name,
                "node_id": str(df["node_id"].iloc[-1]),
                "node_ip": str(df["node_ip"].iloc[-1]),
                "gpu_ids": str(df["gpu_ids"].iloc[-1]),
                "start": start,
                "end": float(df["timestamp"].iloc[-1]),
            }
        )
    return rows


def main(out: Path) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False},
    )
    try:
        workers = [cluster.add_node(num_cpus=2, num_gpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        facts: dict = {
            "worker_node_ids": [w.node_id for w in workers],
            "head_node_id": cluster.head_node.node_id,
        }
        addr = ["--address", cluster.address]

        # 0. tune.cluster against the real cluster: the node list, and waiting (with a real autoscaler request).
        from tune.cluster import cluster_nodes, wait_for_resources
        from tune.errors import SpecError

        ray.init(address=cluster.address, log_to_driver=False)
        facts["nodes"] = cluster_nodes()
        facts["wait_ok"] = len(wait_for_resources({"cpu": 1, "gpu": 0.5}, 5, interval=1))
        try:
            wait_for_resources({"cpu": 1, "gpu": 2}, 2, interval=1)
            facts["wait_refused"] = ""
        except SpecError as exc:
            facts["wait_refused"] = str(exc)
        ray.shutdown()

        # 1. A trial that no node can hold: refused before any trial starts.
        code, err = call(
            [TOY, *COMMON, *addr, "--storage", str(out), "--name", "impossible", "--shared-storage"]
            + ["--set", "resources.gpu=2"]
        )
        facts["impossible"] = {
            "code": code,
            "stderr": err,
            "search": (out / "impossible" / "search").exists(),
        }

        # 2. A node-local folder on a 3-node cluster: refused.
        code, err = call([TOY, *COMMON, *addr, "--storage", str(out), "--name", "local"])
        facts["local_storage"] = {"code": code, "stderr": err, "search": (out / "local" / "search").exists()}

        # 3. Four half-GPU trials that sleep a little per epoch, so they run at the same time and must spread.
        code, err = call(
            [TOY, *COMMON, *addr, "--storage", str(out), "--name", "packed", "--shared-storage"]
            + ["--set", "resources.gpu=0.5", "--set", "resources.cpu=1", "--set", "search.num_samples=2"]
            + ["--set", "search.max_concurrent=4", "--set", "config.sleep_s=1.0", "--set", "replicate=null"]
        )
        facts["packed"] = {"code": code, "stderr": err[-2000:], "trials": placements(out / "packed")}
        return facts
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    result = main(Path(sys.argv[1]))
    print("MULTINODE_FACTS " + json.dumps(result))
