"""Scenario 10: the results storage fills up during a search.

The storage is a small tmpfs (mounting needs root; the test is skipped elsewhere) holding a filler file. The
driver's :class:`~tune.watchdog.StorageGuard` stops the search while Ray can still save its state (one line), the
experiment stays resumable, and after the filler is deleted ``--resume`` finishes every trial with exact counts;
every trial then holds ``checkpoint.keep`` = 2 checkpoints (and never more than 3: see the last assertion).
Should a trial still hit ENOSPC, the runner ends it with a one-line :class:`~trainables.runner.StorageFullError`.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from trainables.runner import _is_disk_full
from tune.run import main
from tune.watchdog import StorageGuard, check_experiment_state

FLAGS = ["--skip-replicate", "--skip-report"]


def test_disk_full_is_recognised_through_wrappers():
    full = OSError(errno.ENOSPC, "No space left on device")
    assert _is_disk_full(full)
    try:
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("persisting the checkpoint failed") from exc
    except RuntimeError as wrapped:
        assert _is_disk_full(wrapped)
    assert _is_disk_full(OSError("[Errno 28] Error writing bytes to file. Detail: No space left on device"))
    assert not _is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_guard_needs_room_for_several_of_the_largest_checkpoints(tmp_path):
    checkpoint = tmp_path / "checkpoint_000000"
    checkpoint.mkdir()
    (checkpoint / "state.pt").write_bytes(b"x" * 3000)

    class Saved:
        path = str(checkpoint)

    guard = StorageGuard(tmp_path, reserve_bytes=1000, checkpoints_reserved=4)
    assert guard.needed_bytes() == 1000
    guard.on_checkpoint(0, [], None, Saved())
    assert guard.needed_bytes() == 1000 + 4 * 3000


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "store"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


class CheckpointWatch(threading.Thread):
    """Polls the most checkpoints any trial holds at once, every 20 ms, until stopped."""

    def __init__(self, experiment_dir: Path) -> None:
        super().__init__(daemon=True)
        self.experiment_dir, self.most, self.done = experiment_dir, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for trial in self.experiment_dir.glob("run_trial_*"):
                self.most = max(self.most, len(list(trial.glob("checkpoint_*"))))
            time.sleep(0.02)


@pytest.mark.slow
def test_full_disk_stops_in_one_line_and_resumes_after_space_is_freed(
    ray_local, small_disk, tmp_path, toy_spec, capsys, monkeypatch
):
    import tune.orchestrate

    original = tune.orchestrate._callbacks

    def with_small_reserve(resolved, *rest):
        # the default reserve (4 MiB) is half this disk: use a guard with a smaller one, in place of any other
        kept = [c for c in original(resolved, *rest) if not isinstance(c, StorageGuard)]
        return [*kept, StorageGuard(small_disk, reserve_bytes=2**20)]

    monkeypatch.setattr(tune.orchestrate, "_callbacks", with_small_reserve)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (8 * 2**20))  # leaves about 8 MiB: a few epochs' checkpoints
    spec = _spec(toy_spec, tmp_path)
    args = [str(spec), "--storage", str(small_disk), *FLAGS]
    watch = CheckpointWatch(small_disk / "disk" / "search")
    watch.start()
    try:
        assert main(args) == 130
        out, err = capsys.readouterr()
        assert out.count("stopping the search so that it can be resumed") == 1
        assert [ln for ln in err.splitlines() if "--resume" in ln][0].startswith("interrupted: resume with")
        check_experiment_state(small_disk / "disk" / "search")
        stopped = pd.read_csv(small_disk / "disk" / "summary.csv")
        assert (stopped["epochs"] < 6).any()

        filler.unlink()
        assert main([*args, "--resume"]) == 0
    finally:
        watch.done.set()
        watch.join()
    summary = pd.read_csv(small_disk / "disk" / "summary.csv")
    assert list(summary["status"]) == ["TERMINATED", "TERMINATED"] and list(summary["epochs"]) == [6, 6]
    for _, row in summary.iterrows():
        epochs = list(pd.read_csv(small_disk / "disk" / row["logdir"] / "progress.csv")["epoch"])
        assert epochs.count(1) == 1 and sorted(set(epochs)) == [1, 2, 3, 4, 5, 6]
        assert len(list((small_disk / "disk" / row["logdir"]).glob("checkpoint_*"))) == 2
    # Ray persists a new checkpoint before it deletes the oldest: for that moment a trial holds keep + 1
    print(f"most checkpoints a trial held at once: {watch.most}")
    assert watch.most <= 3


def _spec(toy_spec, tmp_path: Path) -> Path:
    return toy_spec(
        tmp_path,
        name="disk",
        data={"source": "synthetic", "num_users": 6000, "num_items": 20},
        config={"max_epochs": 6, "lr": 0.05, "dim": 16, "sleep_s": 0.3},
        space={"seed": {"grid": [0, 1]}},
        search={"algorithm": "grid", "num_samples": 1, "max_concurrent": 1, "seed": 0},
        checkpoint={"every": 1, "keep": 2},
    )


def test_orchestrate_registers_the_storage_guard(tmp_path, toy_spec):
    import inspect

    import tune.orchestrate
    from tune.spec import load_spec

    resolved = load_spec(toy_spec(tmp_path))
    callbacks_of = tune.orchestrate._callbacks
    takes_dir = len(inspect.signature(callbacks_of).parameters) > 1
    callbacks = callbacks_of(resolved, tmp_path) if takes_dir else callbacks_of(resolved)
    assert any(isinstance(c, StorageGuard) for c in callbacks)
