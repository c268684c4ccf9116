"""Searchers and schedulers built from a spec, with the Optuna bookkeeping Ray leaves wrong.

Ray's ``OptunaSearch`` tells Optuna that a trial ASHA stopped early is COMPLETE with the metric of its last step, so
TPE treats a 2-epoch result as a full-budget one; and a NaN final metric leaves the Optuna trial RUNNING for good.
:class:`PruningAwareOptunaSearch` reports every epoch as an intermediate value and tells stopped trials as PRUNED,
errored or diverged ones as FAIL, and only trials that ran all their epochs as COMPLETE — with their *best*
validation value, the same number ranktune uses to pick the winner.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch

from tune.results import flatten
from tune.spec import ResolvedSpec


class PruningAwareOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that reports intermediate values and tells PRUNED / FAIL / COMPLETE correctly."""

    def __init__(self, *args: Any, step_metric: str, max_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._step_metric = step_metric
        self._max_epochs = max_epochs

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        trial = self._ot_trials.get(trial_id)
        value = result.get(self._step_metric)
        step = result.get("epoch")
        if trial is None or value is None or step is None or not math.isfinite(value):
            return
        try:
            trial.report(float(value), int(step))
        except Exception:  # Optuna refuses a second value for a step (a restored trial re-reports)
            pass

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        from optuna.trial import TrialState

        if trial_id in self._completed_trials:
            return
        if trial_id not in self._ot_trials:
            # a trial suggested after the searcher state was last saved, finished after --resume
            self._add_unknown(trial_id, result, error)
            return
        trial = self._ot_trials[trial_id]
        if result:
            # Ray skips on_trial_result for the result at which a scheduler stops a trial: report it here
            self.on_trial_result(trial_id, result)
        value = (result or {}).get(self.metric)
        epochs = int((result or {}).get("epoch", 0))
        if error or value is None or not math.isfinite(float(value)):
            self._ot_study.tell(trial, None, state=TrialState.FAIL)
        elif epochs < self._max_epochs:
            self._ot_study.tell(trial, None, state=TrialState.PRUNED)
        else:
            self._ot_study.tell(trial, float(value), state=TrialState.COMPLETE)
        self._completed_trials.add(trial_id)

    def _add_unknown(self, trial_id: str, result: dict[str, Any] | None, error: bool) -> None:
        """Record a finished trial the restored study never saw, from the config Ray reports with its result."""
        from optuna.trial import TrialState, create_trial

        config = (result or {}).get("config")
        if not isinstance(config, dict) or not isinstance(self._space, dict):
            return
        flat = flatten(config, sep="/")
        params = {name: flat[name] for name in self._space if name in flat}
        if len(params) != len(self._space):
            return
        value = (result or {}).get(self.metric)
        epochs = int((result or {}).get("epoch", 0))
        if error or value is None or not math.isfinite(float(value)):
            state, value = TrialState.FAIL, None
        elif epochs < self._max_epochs:
            state, value = TrialState.PRUNED, None
        else:
            state, value = TrialState.COMPLETE, float(value)
        self._ot_study.add_trial(
            create_trial(params=params, distributions=dict(self._space), value=value, state=state)
        )
        self._completed_trials.add(trial_id)


def optuna_storage(url: str | None) -> Any:
    """An Optuna storage from a spec value: an RDB URL, or a ``.journal`` file path (or ``None``)."""
    if url is None:
        return None
    import optuna

    if url.endswith(".journal"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url))
    return optuna.storages.RDBStorage(url)


def build_searcher(resolved: ResolvedSpec, study_name: str) -> Searcher:
    """The searcher of the spec: Ray's variant generator for grid/random, pruning-aware TPE for optuna."""
    spec = resolved.spec
    if spec.search.algorithm in ("grid", "random"):
        return BasicVariantGenerator(
            random_state=spec.search.seed, max_concurrent=spec.search.max_concurrent or 0
        )
    import optuna

    searcher: Searcher = PruningAwareOptunaSearch(
        metric=f"best/{spec.metric}",
        mode=spec.mode,
        sampler=optuna.samplers.TPESampler(seed=spec.search.seed),
        storage=optuna_storage(spec.search.optuna_storage),
        study_name=study_name,
        step_metric=spec.metric,
        max_epochs=resolved.max_epochs,
    )
    if spec.search.max_concurrent:
        from ray.tune.search import ConcurrencyLimiter

        searcher = ConcurrencyLimiter(searcher, max_concurrent=spec.search.max_concurrent)
    return searcher


def build_scheduler(resolved: ResolvedSpec) -> TrialScheduler:
    """FIFO, ASHA or HyperBand on the spec's metric, with ``epoch`` as the time attribute."""
    spec, sched = resolved.spec, resolved.spec.scheduler
    max_t = sched.max_t or resolved.max_epochs
    if sched.type == "asha":
        return ASHAScheduler(
            time_attr="epoch",
            metric=spec.metric,
            mode=spec.mode,
            max_t=max_t,
            grace_period=min(sched.grace_period, max_t),
            reduction_factor=sched.reduction_factor,
            brackets=sched.brackets,
        )
    if sched.type == "hyperband":
        return HyperBandScheduler(
            time_attr="epoch",
            metric=spec.metric,
            mode=spec.mode,
            max_t=max_t,
            reduction_factor=sched.reduction_factor,
        )
    return FIFOScheduler()
