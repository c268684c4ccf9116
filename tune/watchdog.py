"""Guards the driver runs beside Ray: a per-trial time limit, a free-space guard, a check of the saved state.

Ray stops a trial on a result; a *hung* trial never reports, so no stopper sees it. :class:`TrialTimeLimit` watches
the running trials from the driver's loop and kills the actor of one that ran longer than ``time_limit_s`` in its
current attempt, after leaving a ``TIMED_OUT`` marker in its folder: a retry of that trial fails at once with a clear
message (see :mod:`trainables.runner`) instead of hanging again, and the summary records it as timed out.

A full results disk is worse than a crash: Ray then writes truncated experiment-state files and empty pickled
errors, and the driver dies in a traceback with nothing left to resume. :class:`StorageGuard` stops the search
gracefully (the same path as Ctrl+C, so the state is saved and ``--resume`` works) while there is still room for
that state, i.e. when the free space falls below a few of the largest checkpoints seen.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from trainables.runner import TIMEOUT_MARKER
from tune.errors import SpecError


class TrialTimeLimit(Callback):
    """Kill trials that run longer than ``limit_s`` seconds in one attempt (see the module docstring)."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._started: dict[str, float] = {}

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()

    def on_trial_restore(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        import ray

        now = time.monotonic()
        for trial in trials:
            started = self._started.get(trial.trial_id)
            if trial.status != "RUNNING" or started is None or now - started <= self.limit_s:
                continue
            actor = trial.temporary_state.ray_actor
            if actor is None:
                continue
            path = Path(trial.local_path)
            path.mkdir(parents=True, exist_ok=True)
            (path / TIMEOUT_MARKER).write_text(f"trial ran longer than time_limit_s={self.limit_s:g} s\n")
            print(f"ranktune: trial {trial.trial_id} exceeded time_limit_s={self.limit_s:g} s; stopping it")
            del self._started[trial.trial_id]
            ray.kill(actor, no_restart=True)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


class StorageGuard(Callback):
    """Stop the search cleanly before the results storage is full (see the module docstring).

    Args:
        storage: a local folder on the results filesystem (remote URIs are not checked).
        reserve_bytes: free space always kept, besides ``checkpoints_reserved`` times the largest checkpoint.
        checkpoints_reserved: how many of the largest checkpoints must still fit (trials writing at once, plus
            Ray's own state files).
    """

    def __init__(self, storage: Path, reserve_bytes: int = 4 * 2**20, checkpoints_reserved: int = 4) -> None:
        self.storage = Path(storage)
        self.reserve_bytes = reserve_bytes
        self.checkpoints_reserved = checkpoints_reserved
        self.largest_checkpoint = 0
        self.stopped = False

    def needed_bytes(self) -> int:
        return self.reserve_bytes + self.checkpoints_reserved * self.largest_checkpoint

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.storage).free

    def on_checkpoint(
        self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any, **info: Any
    ) -> None:
        path = Path(getattr(checkpoint, "path", "") or "")
        if path.is_dir():
            self.largest_checkpoint = max(self.largest_checkpoint, _tree_bytes(path))

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self.stopped or not self.storage.is_dir():
            return
        free, needed = self.free_bytes(), self.needed_bytes()
        if free >= needed:
            return
        self.stopped = True
        print(
            f"ranktune: only {free / 2**20:.1f} MiB left on the results storage {self.storage} "
            f"(needs {needed / 2**20:.1f} MiB); stopping the search so that it can be resumed after freeing space",
            flush=True,
        )
        # Tune ends a run gracefully on SIGUSR1 as on the first Ctrl+C: trials stop, the state is saved. Without
        # Tune's handler (a run outside the main thread) SIGUSR1 would kill the driver, so it is not sent then.
        if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            os.kill(os.getpid(), signal.SIGUSR1)


def check_experiment_state(experiment_dir: Path) -> None:
    """Before ``--resume``: make sure Ray can read the saved state, falling back to an older snapshot if needed.

    A truncated newest ``experiment_state-*.json`` is moved aside (``.corrupt``) when an older valid snapshot exists;
    an unreadable ``tuner.pkl`` or no valid snapshot at all is a :class:`SpecError` naming the file (exit 2), so a
    fresh experiment is never started over the old folder.
    """
    tuner_pkl = experiment_dir / "tuner.pkl"
    try:
        with tuner_pkl.open("rb") as fh:
            pickle.load(fh)  # Ray's own state; the README says to resume only folders you trust
    except FileNotFoundError:
        raise SpecError(
            "missing experiment state", file=str(tuner_pkl), allowed="a folder written by tune.run"
        ) from None
    except Exception as exc:
        raise SpecError(f"corrupt experiment state ({type(exc).__name__})", file=str(tuner_pkl)) from None
    states = sorted(experiment_dir.glob("experiment_state-*.json"), reverse=True)
    for i, state in enumerate(states):
        try:
            json.loads(state.read_text())
        except (OSError, ValueError):
            if i + 1 < len(states):
                state.rename(state.with_suffix(".json.corrupt"))
                print(f"ranktune: {state} is corrupt; resuming from the previous snapshot")
                continue
            raise SpecError("corrupt experiment state and no older snapshot", file=str(state)) from None
        return
    raise SpecError("no experiment state to resume", file=str(experiment_dir))
