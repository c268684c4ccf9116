"""Optuna behind Ray tells the study the truth: ASHA-stopped trials PRUNED, diverged FAIL, full runs COMPLETE."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from tune.run import main

TOY = str(Path(__file__).with_name("toy_spec.yaml"))


@pytest.mark.slow
def test_study_states_match_tune_trials(ray_local, tmp_path):
    journal = tmp_path / "study.journal"
    code = main(
        [
            TOY,
            "--storage",
            str(tmp_path),
            "--skip-replicate",
            "--skip-report",
            "--set",
            "search={algorithm: optuna, num_samples: 6, seed: 0, optuna_storage: " + str(journal) + "}",
            "--set",
            "scheduler={type: asha, grace_period: 1, reduction_factor: 2}",
            "--set",
            "space.nan_at_epoch={choice: [-1, 0]}",
            "--set",
            "failure.max_failures=0",
        ]
    )
    assert code == 0
    summary = pd.read_csv(tmp_path / "toy" / "summary.csv")
    assert len(summary) == 6
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="toy", storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    )
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 6
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)
    by_params = {(t.params["lr"], t.params["dim"], t.params["nan_at_epoch"]): t for t in trials}
    for _, row in summary.iterrows():
        t = by_params[(row["config/lr"], row["config/dim"], row["config/nan_at_epoch"])]
        if row["status"] == "DIVERGED":
            assert t.state == optuna.trial.TrialState.FAIL
        elif row["epochs"] < 4:
            assert t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert t.value == pytest.approx(row["val/hr@5"])
    assert (summary["status"] == "DIVERGED").sum() == (summary["config/nan_at_epoch"] == 0).sum() > 0


def test_a_trial_unknown_to_a_restored_study_is_added_when_it_finishes():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from tune.searchers import PruningAwareOptunaSearch

    space = {"lr": FloatDistribution(0.01, 0.3, log=True), "dim": CategoricalDistribution([4, 8])}
    searcher = PruningAwareOptunaSearch(
        space=space, metric="best/val/hr@5", mode="max", step_metric="val/hr@5", max_epochs=4, seed=0
    )
    done = {
        "config": {"lr": 0.05, "dim": 8, "max_epochs": 4},
        "best/val/hr@5": 0.5,
        "val/hr@5": 0.5,
        "epoch": 4,
    }
    stopped = {"config": {"lr": 0.02, "dim": 4, "max_epochs": 4}, "best/val/hr@5": 0.1, "epoch": 1}
    searcher.on_trial_complete("lost_1", done)
    searcher.on_trial_complete("lost_2", stopped)
    searcher.on_trial_complete("lost_3", {"config": {"lr": 0.03, "dim": 4}}, error=True)
    trials = searcher._ot_study.get_trials(deepcopy=False)
    assert [(t.params, t.state.name, t.value) for t in trials] == [
        ({"lr": 0.05, "dim": 8}, "COMPLETE", 0.5),
        ({"lr": 0.02, "dim": 4}, "PRUNED", None),
        ({"lr": 0.03, "dim": 4}, "FAIL", None),
    ]
