"""Guards the driver runs beside Ray: a per-trial wall-clock limit, and a check of the saved experiment state.

Ray stops a trial on a result; a *hung* trial never reports, so no stopper sees it. :class:`TrialTimeLimit` watches
the running trials from the driver's loop and kills the actor of one that ran longer than ``time_limit_s`` in its
current attempt, after leaving a ``TIMED_OUT`` marker in its folder: a retry of that trial fails at once with a clear
message (see :mod:`trainables.runner`) instead of hanging again, and the summary records it as timed out.
"""

from __future__ import annotations

import json
import pickle
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
