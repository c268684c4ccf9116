"""Scenario 9: a trial runs out of memory and Ray's memory monitor kills it.

The monitor's threshold is lowered (``RAY_memory_usage_threshold``, read when Ray starts, so the search runs in its
own process) to a little above the memory this machine uses now, and one toy trial then holds a few GiB. One trial
runs at a time, so the hog is the only worker the monitor can pick. The hog counts as one failure, is retried from
its checkpoint (the toy holds memory only in a first attempt) and finishes; the summary names the cause.

That is what must hold; with Ray 2.60 it does not (gap E in ``docs/reliability.md``), so the test is a strict xfail:
it turns into a failure, to be unmarked, once the driver survives the kill.
"""

from __future__ import annotations

import pandas as pd
import pytest

HOG_MB = 3072


def used_fraction() -> tuple[float, int]:
    """(share of memory in use, total bytes), as Ray's monitor computes it without a cgroup limit."""
    info = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, value = line.split(":", 1)
            info[key] = int(value.split()[0]) * 1024
    total = info["MemTotal"]
    return (total - info["MemAvailable"]) / total, total


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="Ray 2.60's Tune does not survive its memory monitor: the kill reaches the driver as an "
    "OutOfMemoryError, which Tune's actor manager re-raises as 'RuntimeError: Caught unexpected exception' and "
    "Tuner.fit dies (gap E in docs/reliability.md)",
)
def test_out_of_memory_trial_is_one_failure_retried_from_its_checkpoint(tmp_path, toy_spec, cli):
    used, total = used_fraction()
    threshold = used + (HOG_MB / 2) * 2**20 / total  # crossed half way through the hog's allocation
    if threshold > 0.9 or total - used * total < 2 * HOG_MB * 2**20:
        pytest.skip(f"not enough free memory to run a {HOG_MB} MiB hog safely")
    spec = toy_spec(
        tmp_path,
        name="oom",
        config={"max_epochs": 3, "lr": 0.05, "hog_mb": HOG_MB},
        space={"hog_at_epoch": {"grid": [-1, 1]}},
        search={"algorithm": "grid", "num_samples": 1, "max_concurrent": 1, "seed": 0},
        failure={"max_failures": 1},
    )
    done = cli(
        [str(spec), "--storage", str(tmp_path), "--skip-replicate", "--skip-report"],
        timeout=600,
        env={
            "RAY_memory_usage_threshold": f"{threshold:.4f}",
            "RAY_memory_monitor_refresh_ms": "100",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "oom" / "summary.csv")
    rows = {row["config/hog_at_epoch"]: row for _, row in summary.iterrows()}
    hog, calm = rows[1], rows[-1]
    assert (calm["status"], calm["epochs"], calm["failures"]) == ("TERMINATED", 3, 0)
    assert (hog["status"], hog["epochs"], hog["failures"]) == ("TERMINATED", 3, 1)
    assert "OutOfMemoryError" in hog["error"] and "memory" in hog["error"].lower()
    progress = pd.read_csv(tmp_path / "oom" / hog["logdir"] / "progress.csv")
    assert list(progress["epoch"]) == [1, 1, 2, 3] and list(progress["restored_from_epoch"]) == [0, 1, 1, 1]
