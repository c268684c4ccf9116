"""An interrupted replication resumes without re-running the seeds that finished."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tune.run import main

TOY = Path(__file__).with_name("toy_spec.yaml")


@pytest.mark.slow
def test_interrupted_replication_resumes_without_rerunning_finished_seeds(ray_local, tmp_path, kill_midway):
    spec = tmp_path / "slow.yaml"
    spec.write_text(
        TOY.read_text()
        .replace("config: {max_epochs: 4}", "config: {max_epochs: 4, sleep_s: 0.5}")
        .replace(
            "search: {algorithm: random, num_samples: 1, seed: 0}",
            "search: {algorithm: random, num_samples: 1, seed: 0, max_concurrent: 1}",
        )
        .replace(
            "space:\n  lr: {loguniform: [1.0e-2, 3.0e-1]}\n  dim: {grid: [4, 8]}",
            "space:\n  dim: {grid: [4, 8]}",
        )
    )
    assert main([str(spec), "--storage", str(tmp_path), "--skip-replicate", "--skip-report"]) == 0
    run_dir = tmp_path / "toy"

    cmd = [sys.executable, "-m", "tune.replicate", str(run_dir)]
    before = kill_midway(cmd, run_dir / "replicate")
    assert 1 <= len(before) < 4, "the replication was not interrupted midway"

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    rep = pd.read_csv(run_dir / "replicate_summary.csv")
    assert len(rep) == 4 and (rep["status"] == "TERMINATED").all() and (rep["epochs"] == 4).all()
    assert sorted(rep["group"]) == ["baseline:small", "baseline:small", "top1", "top1"]
    for name, text in before.items():
        assert (run_dir / "replicate" / name / "progress.csv").read_text() == text, f"{name} was re-run"
