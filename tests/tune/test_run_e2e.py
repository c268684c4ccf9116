"""End to end on a local Ray: results files, TensorBoard HParams, failing trials, resume, logical GPUs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tune.run import main

TOY = str(Path(__file__).with_name("toy_spec.yaml"))
pytestmark = pytest.mark.slow


def _events(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("search/*/events.out.tfevents.*"))


def test_smoke_run_writes_results_tensorboard_and_isolates_a_failing_trial(ray_local, tmp_path, capsys):
    code = main(
        [
            TOY,
            "--smoke",
            "--storage",
            str(tmp_path),
            "--skip-replicate",
            "--skip-report",
            "--set",
            "space.fail_at_epoch={grid: [-1, 1]}",
            "--set",
            "failure.max_failures=0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    run_dir = tmp_path / "toy"
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == 4
    assert sorted(summary["status"]) == ["ERROR", "ERROR", "TERMINATED", "TERMINATED"]
    failed = summary[summary["status"] == "ERROR"]
    assert failed["error"].str.contains("injected failure at epoch 2").all()
    assert all((run_dir / f).exists() for f in failed["error_file"])
    ok = summary[summary["status"] == "TERMINATED"]
    assert (ok["epochs"] == 2).all() and ok["val/hr@5"].notna().all() and ok["test/hr@5"].notna().all()

    best = json.loads((run_dir / "best.json").read_text())
    assert best["metric"] == "val/hr@5" and best["value"] == ok["val/hr@5"].max()
    assert best["config"]["fail_at_epoch"] == -1 and "test/hr@5" in best["test"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["versions"]["ray"] and len(manifest["trials"]) == 4
    assert "best trial" in out and str(run_dir) in out and "tensorboard --logdir" in out

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = _events(run_dir)
    assert len(events) == 4
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert "ray/tune/val/hr_5" in acc.Tags()["scalars"]
    tags = acc.summary_metadata
    assert {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"} <= set(tags)
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    exp = HParamsPluginData.FromString(tags["_hparams_/experiment"].plugin_data.content).experiment
    assert {h.name for h in exp.hparam_infos} == {"lr", "dim", "fail_at_epoch"}
    assert "ray/tune/val/hr_5" in {m.name.tag for m in exp.metric_infos}


def test_a_trial_holding_a_logical_gpu_runs_on_cpu(ray_local, tmp_path):
    code = main(
        [
            TOY,
            "--smoke",
            "--storage",
            str(tmp_path),
            "--skip-replicate",
            "--skip-report",
            "--set",
            "resources.gpu=0.5",
            "--set",
            "space={}",
            "--set",
            "search.num_samples=1",
        ]
    )
    assert code == 0
    summary = pd.read_csv(tmp_path / "toy" / "summary.csv")
    assert list(summary["status"]) == ["TERMINATED"]


def test_replicate_phase_runs_top_configs_and_baselines_over_seeds(ray_local, tmp_path):
    assert main([TOY, "--smoke", "--storage", str(tmp_path), "--skip-report"]) == 0
    rep = pd.read_csv(tmp_path / "toy" / "replicate_summary.csv")
    assert sorted(rep["group"].unique()) == ["baseline:small", "top1"]
    assert sorted(rep["config/seed"]) == [0, 0, 1, 1]
    assert (rep[rep["group"] == "baseline:small"]["config/dim"] == 2).all()
    best = json.loads((tmp_path / "toy" / "best.json").read_text())
    top1 = rep[rep["group"] == "top1"]
    assert (top1["config/lr"] == best["config"]["lr"]).all() and (top1["status"] == "TERMINATED").all()


def test_resume_after_the_driver_is_killed_does_not_rerun_finished_trials(tmp_path, kill_midway):
    spec = tmp_path / "slow.yaml"
    spec.write_text(
        Path(TOY)
        .read_text()
        .replace("config: {max_epochs: 4}", "config: {max_epochs: 4, sleep_s: 0.6}")
        .replace("num_samples: 1", "num_samples: 2, max_concurrent: 1")
    )
    cmd = [
        sys.executable,
        "-m",
        "tune.run",
        str(spec),
        "--storage",
        str(tmp_path),
        "--skip-replicate",
        "--skip-report",
    ]
    run_dir = tmp_path / "toy"
    before = kill_midway(cmd, run_dir / "search")
    assert 1 <= len(before) < 4, "the search was not interrupted midway"

    code = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=400)
    assert code.returncode == 0, code.stderr[-2000:]
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == 4 and (summary["status"] == "TERMINATED").all() and (summary["epochs"] == 4).all()
    for name, text in before.items():
        assert (run_dir / "search" / name / "progress.csv").read_text() == text, f"{name} was re-run"
