"""Session-wide fixtures: one local Ray instance for every Ray test, and a small torch thread count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

# one thread: tests use tiny models, where thread start-up costs more than it saves on a shared CPU
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance shared by the whole test session (starting Ray costs seconds).

    ``tune.run.main`` joins it instead of starting its own, and leaves it running.
    """
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=1,  # a logical GPU: trials that request one must still run (on CPU) on this CPU-only node
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    yield ray
    ray.shutdown()


def _terminated_trials(experiment_dir: Path) -> set[str]:
    """Folder names of the trials Ray's newest experiment-state snapshot records as TERMINATED."""
    states = sorted(experiment_dir.glob("experiment_state-*.json"))
    if not states:
        return set()
    try:
        data = json.loads(states[-1].read_text())
    except ValueError:  # caught mid-write
        return set()
    out = set()
    for trial_json, _ in data.get("trial_data", []):
        trial = json.loads(trial_json)
        if trial.get("status") == "TERMINATED":
            out.add(trial["relative_logdir"])
    return out


def _kill_midway(
    cmd: list[str], experiment_dir: Path, finished: int = 2, timeout: float = 240
) -> dict[str, str]:
    """Run ``cmd`` in its own process group and SIGKILL it once ``finished`` trials are recorded TERMINATED.

    Returns ``{trial folder: progress.csv text}`` of the trials the saved state records as finished once the
    driver is dead: exactly what a resume must not re-run.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while (
        time.time() < deadline and proc.poll() is None and len(_terminated_trials(experiment_dir)) < finished
    ):
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {
        name: (experiment_dir / name / "progress.csv").read_text()
        for name in _terminated_trials(experiment_dir)
    }


@pytest.fixture
def kill_midway():
    """``kill_midway(cmd, experiment_dir) -> {finished trial: progress text}`` (see :func:`_kill_midway`)."""
    return _kill_midway
