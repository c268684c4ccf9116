"""The replicate phase: the top configs of a search and the spec's baselines, each re-run once per seed.

Selection and reporting stay apart: the configs are chosen by the *validation* metric of the search phase, and the
replicated runs go to completion (FIFO, no early stopping) so their *test* metrics can be compared over seeds.
A baseline is the best config with the baseline's overrides applied, so it differs from the winner only in the knobs
it names (``sasrec_only: {alpha: 1.0}`` is the winner with α = 1).

``python -m tune.replicate RUN_DIR`` replicates an existing search and resumes an interrupted replication.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from trainables.runner import REPLICA_KEY
from tune.cluster import is_remote_uri
from tune.errors import EXIT_USAGE, SpecError
from tune.results import summarize
from tune.spec import ResolvedSpec, deep_merge, load_spec
from tune.storage import download, ray_storage_path


def _nested_config(row: pd.Series) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for k, v in row.items():
        if not k.startswith("config/") or k.startswith(f"config/{REPLICA_KEY}") or pd.isna(v):
            continue
        node = config
        parts = k[len("config/") :].split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _cell(v)
    return config


def _cell(value: Any) -> Any:
    """A config value read back from ``summary.csv``: lists and mappings were written as JSON/Python text."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            import ast

            return ast.literal_eval(value)
    return value.item() if hasattr(value, "item") else value


def plan(resolved: ResolvedSpec, summary: pd.DataFrame) -> list[dict[str, Any]]:
    """The replicas: ``{"group", "source_trial_id", "config"}`` for every (config, seed)."""
    spec = resolved.spec
    assert spec.replicate is not None
    ok = (
        summary[(summary["status"] == "TERMINATED") & summary[spec.metric].notna()]
        if not summary.empty
        else summary
    )
    if ok.empty:
        return []
    ranked = ok.sort_values(spec.metric, ascending=spec.mode == "min", kind="stable")
    groups: list[tuple[str, str, dict[str, Any]]] = []
    for i, (_, row) in enumerate(ranked.head(spec.replicate.top_k).iterrows()):
        groups.append((f"top{i + 1}", str(row["trial_id"]), _nested_config(row)))
    best = _nested_config(ranked.iloc[0])
    for name, overrides in spec.replicate.baselines.items():
        groups.append((f"baseline:{name}", "", deep_merge(best, overrides)))
    replicas = []
    for group, source, config in groups:
        for seed in spec.replicate.seeds:
            replicas.append({"group": group, "source_trial_id": source, "config": {**config, "seed": seed}})
    return replicas


def _trial_dirname(trial: Any) -> str:
    replica = trial.config[REPLICA_KEY]
    group = replica["group"].replace(":", "-")
    return f"{group}_seed{replica['config']['seed']}_{trial.trial_id}"


def replicate(resolved: ResolvedSpec, data: Any, run_dir: Path) -> pd.DataFrame:
    """Run (or resume) the replication experiment in ``RUN_DIR/replicate`` and write ``replicate_summary.csv``."""
    from ray import tune

    from tune.orchestrate import make_trainable, trial_states

    spec = resolved.spec
    experiment_dir = run_dir / "replicate"
    storage = ray_storage_path(spec.storage, spec.name, run_dir)
    trainable = make_trainable(resolved, data)
    if tune.Tuner.can_restore(f"{storage}/replicate"):
        tuner = tune.Tuner.restore(f"{storage}/replicate", trainable=trainable, resume_unfinished=True)
    else:
        replicas = plan(resolved, pd.read_csv(run_dir / "summary.csv"))
        if not replicas:
            return pd.DataFrame()
        # one grid over whole replicas: the runner takes the config from the replica (no sample_from, so a
        # restored experiment needs no functions re-specified)
        param_space: dict[str, Any] = {REPLICA_KEY: tune.grid_search(replicas)}
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                num_samples=1,
                max_concurrent_trials=spec.search.max_concurrent,
                reuse_actors=spec.resources.gpu == 0,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name="replicate",
                storage_path=storage,
                checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoint.keep),
                failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
                verbose=1,
            ),
        )
    tuner.fit()
    if is_remote_uri(spec.storage):
        download(f"{storage}/replicate", experiment_dir)
    summary = summarize(experiment_dir, run_dir, trial_states(experiment_dir))
    if not summary.empty:
        summary.insert(1, "group", summary.pop(f"config/{REPLICA_KEY}.group"))
        summary.insert(2, "source_trial_id", summary.pop(f"config/{REPLICA_KEY}.source_trial_id"))
        prefix = f"config/{REPLICA_KEY}.config."
        summary = summary.rename(
            columns={c: "config/" + c[len(prefix) :] for c in summary.columns if c.startswith(prefix)}
        )
        summary = summary.drop(columns=[c for c in summary.columns if c.startswith(f"config/{REPLICA_KEY}")])
    summary.to_csv(run_dir / "replicate_summary.csv", index=False)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tune.replicate",
        description="Re-run the top configs of a finished search and the spec's baselines over seeds.",
    )
    parser.add_argument("run_dir", help="the experiment folder <storage>/<name> of a search")
    parser.add_argument("--address", default=None, help="existing Ray cluster (default: start a local Ray)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    try:
        if not (run_dir / "spec.yaml").exists() or not (run_dir / "summary.csv").exists():
            raise SpecError(
                "not a finished ranktune search folder (spec.yaml and summary.csv needed)", file=str(run_dir)
            )
        resolved = load_spec(run_dir / "spec.yaml")
        if resolved.spec.replicate is None:
            raise SpecError(
                "the spec has no replicate: block", file=str(run_dir / "spec.yaml"), key="replicate"
            )
        from tune.run import load_data

        data = load_data(resolved)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from tune.orchestrate import connect

    started = connect(args.address)
    try:
        summary = replicate(resolved, data, run_dir)
    finally:
        if started:
            import ray

            ray.shutdown()
    print(json.dumps(summary.groupby("group").size().to_dict() if not summary.empty else {}, indent=2))
    print(f"replicate summary: {run_dir / 'replicate_summary.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
