"""The Ray side of a run: connect, build the Tuner from a validated spec, fit or restore, write the results."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from trainables.runner import RunnerSettings, run_trial
from tune.cluster import is_remote_uri
from tune.errors import SpecError
from tune.results import best_record, best_row, manifest, summarize
from tune.space import to_ray
from tune.spec import ResolvedSpec, deep_merge
from tune.storage import download, ray_storage_path, upload

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
EXIT_USAGE = 2


def connect(address: str | None) -> bool:
    """Connect to Ray; returns True when this call started it (and so should shut it down).

    Without an address a *new local* instance is started explicitly: a stale ``/tmp/ray/ray_current_cluster`` left by
    a crashed cluster would otherwise make a plain ``ray.init()`` try to join it. Its ports bind to 127.0.0.1.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1")
    return True


def _searched_domains(resolved: ResolvedSpec) -> dict[str, list[Any] | None]:
    return {d.key.replace(".", "/"): list(d.args) if d.is_enumerated else None for d in resolved.dims}


def _metric_list(resolved: ResolvedSpec) -> list[str]:
    cls = resolved.trainable_cls
    from tune.spec import first_config

    names = cls.metric_names(cls.Config(**first_config(cls, resolved.spec, resolved.dims)))
    return (
        [f"val/{k}" for k in names.eval]
        + [f"test/{k}" for k in names.eval]
        + [f"best/{resolved.spec.metric}"]
    )


def make_trainable(resolved: ResolvedSpec, data: Any) -> Any:
    from ray import tune

    spec = resolved.spec
    settings = RunnerSettings(
        trainable=spec.trainable, metric=spec.metric, mode=spec.mode, checkpoint_every=spec.checkpoint.every
    )
    resources = {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    return tune.with_resources(tune.with_parameters(run_trial, data=data, settings=settings), resources)


def _callbacks(resolved: ResolvedSpec, run_dir: Path | None = None) -> list[Any]:
    from tune.tblog import HParamsTBXLogger
    from tune.watchdog import StorageGuard, TrialTimeLimit

    callbacks: list[Any] = [HParamsTBXLogger(_searched_domains(resolved), _metric_list(resolved))]
    if run_dir is not None and not is_remote_uri(resolved.spec.storage):  # free space of the local folder
        callbacks.append(StorageGuard(run_dir))
    if resolved.spec.failure.time_limit_s is not None:
        callbacks.append(TrialTimeLimit(resolved.spec.failure.time_limit_s))
    return callbacks


def build_tuner(resolved: ResolvedSpec, data: Any, run_dir: Path, args: argparse.Namespace | None) -> Any:
    """A new Tuner for the search, or the restored one when ``args.resume``."""
    from ray import tune

    from tune.searchers import build_scheduler, build_searcher

    spec = resolved.spec
    trainable = make_trainable(resolved, data)
    param_space = deep_merge(spec.config, to_ray(resolved.dims, spec.search.algorithm))
    if args is not None and args.resume:
        from tune.watchdog import check_experiment_state

        if is_remote_uri(spec.storage):
            download(f"{ray_storage_path(spec.storage, spec.name, run_dir)}/search", run_dir / "search")
        check_experiment_state(run_dir / "search")
        return tune.Tuner.restore(
            f"{ray_storage_path(spec.storage, spec.name, run_dir)}/search",
            trainable=trainable,
            param_space=param_space,
            resume_unfinished=True,
            resume_errored=bool(args.retry_errored),
            restart_errored=bool(args.restart_errored),
        )
    run_config = tune.RunConfig(
        name="search",
        storage_path=ray_storage_path(spec.storage, spec.name, run_dir),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoint.keep),
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
        callbacks=_callbacks(resolved, run_dir),
        verbose=1,
    )
    tune_config = tune.TuneConfig(
        search_alg=build_searcher(resolved, study_name=spec.name),
        scheduler=build_scheduler(resolved),
        num_samples=spec.search.num_samples,
        max_concurrent_trials=spec.search.max_concurrent,
        reuse_actors=spec.resources.gpu == 0,
    )
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)


def trial_states(experiment_dir: Path) -> dict[str, tuple[str, str]]:
    """``{trial folder name: (trial_id, status)}`` from Ray's saved experiment state."""
    from ray.tune import ExperimentAnalysis

    try:
        analysis = ExperimentAnalysis(str(experiment_dir))
    except Exception:
        return {}
    return {Path(t.path).name: (t.trial_id, t.status) for t in analysis.trials if t.path}


def write_results(resolved: ResolvedSpec, run_dir: Path, argv: list[str]) -> dict[str, Any] | None:
    """``summary.csv``, ``best.json`` and ``manifest.json`` from the search folder; returns the best record."""
    spec = resolved.spec
    experiment_dir = run_dir / "search"
    summary = summarize(experiment_dir, run_dir, trial_states(experiment_dir))
    summary.to_csv(run_dir / "summary.csv", index=False)
    (run_dir / "manifest.json").write_text(
        json.dumps(manifest(argv, resolved.raw, summary), indent=2, default=str)
    )
    row = best_row(summary, spec.metric, spec.mode)
    if row is None:
        return None
    record = best_record(row, spec.metric, spec.mode)
    (run_dir / "best.json").write_text(json.dumps(record, indent=2, default=str))
    return record


def _fmt(metrics: dict[str, Any]) -> str:
    """Overall metrics only (``val/hr@10``, not ``val/short/hr@10``): the per-group ones are in best.json."""
    return ", ".join(
        f"{k}={v:.4g}"
        for k, v in sorted(metrics.items())
        if k.count("/") == 1 and isinstance(v, float) and math.isfinite(v)
    )


def _print_best(record: dict[str, Any] | None, run_dir: Path, summary_counts: str) -> None:
    print(f"\n{summary_counts}")
    if record is None:
        print("no trial finished with a finite validation metric")
    else:
        print(
            f"best trial {record['trial_id']} (best validation epoch {record['best_epoch']} of {record['epochs']}):"
        )
        print(f"  config: {json.dumps(record['config'], sort_keys=True)}")
        print(f"  validation: {_fmt(record['val'])}")
        print(f"  test (at the best validation epoch): {_fmt(record['test'])}")
        if any(k.count("/") > 1 for k in record["val"]):
            print("  per-group metrics: best.json")
    print(f"results: {run_dir}")
    print(f"watch:   tensorboard --logdir {run_dir}")


def preflight_checks(resolved: ResolvedSpec, args: argparse.Namespace) -> None:
    """Refuse, before any trial exists, what Ray would only warn about: node-local storage on several nodes, and a
    trial no node can ever hold (or wait for an autoscaler with ``--wait-for-resources``)."""
    from tune.cluster import check_storage, cluster_nodes, preflight, wait_for_resources

    spec = resolved.spec
    nodes = cluster_nodes()
    wait = float(getattr(args, "wait_for_resources", 0.0) or 0.0)
    # an autoscaling cluster may grow past one node, so its storage must be shared from the start
    check_storage(spec.storage, len(nodes) if wait <= 0 else max(len(nodes), 2), shared=args.shared_storage)
    if wait > 0:
        wait_for_resources({"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}, wait)
    else:
        preflight(spec.resources.cpu, spec.resources.gpu, nodes)


def run_search(
    resolved: ResolvedSpec, data: Any, run_dir: Path, args: argparse.Namespace, argv: list[str]
) -> int:
    """Fit (or resume) the search, write the result files, then replicate and report."""
    import pandas as pd

    started_here = connect(None if args.local else args.address)
    try:
        try:
            preflight_checks(resolved, args)
        except SpecError as exc:
            exc.file = exc.file or resolved.path
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        run_dir.mkdir(parents=True, exist_ok=True)
        if not args.resume:
            (run_dir / "spec.yaml").write_text(yaml.safe_dump(resolved.raw, sort_keys=False))
        tuner = build_tuner(resolved, data, run_dir, args)
        interrupted = False
        try:
            tuner.fit()
        except KeyboardInterrupt:
            interrupted = True
        except RuntimeError as exc:
            # Ray 2.60's Tune re-raises its memory monitor's kill of a trial as a RuntimeError and stops the whole
            # search (docs/reliability.md, gap E): say so in one line; --resume restores from the checkpoints
            if type(exc.__cause__).__name__ != "OutOfMemoryError":
                raise
            print(f"ranktune: a trial was killed for using too much memory ({exc.__cause__})".splitlines()[0])
            interrupted = True
        remote = is_remote_uri(resolved.spec.storage)
        if remote:
            download(
                f"{ray_storage_path(resolved.spec.storage, resolved.spec.name, run_dir)}/search",
                run_dir / "search",
            )
        record = write_results(resolved, run_dir, argv)
        summary = pd.read_csv(run_dir / "summary.csv")
        counts = summary["status"].value_counts().to_dict() if not summary.empty else {}
        unfinished = sum(counts.get(s, 0) for s in ("RUNNING", "PENDING", "PAUSED"))
        _print_best(
            record, run_dir, "trials: " + ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items()))
        )
        if interrupted or unfinished:
            again = [a for a in argv if a not in ("--resume", "--retry-errored", "--restart-errored")]
            print(
                f"interrupted: resume with python -m tune.run {shlex.join(again)} --resume", file=sys.stderr
            )
            return EXIT_INTERRUPTED
        if resolved.spec.replicate is not None and not args.skip_replicate and record is not None:
            from tune.replicate import replicate

            replicate(resolved, data, run_dir)
        if not args.skip_report:
            _write_report(run_dir)
        if remote:
            upload(run_dir, ray_storage_path(resolved.spec.storage, resolved.spec.name, run_dir))
        return EXIT_OK if record is not None else EXIT_FAILED
    finally:
        if started_here:
            import ray

            ray.shutdown()


def _write_report(run_dir: Path) -> None:
    try:
        from analysis.report import main as report_main
    except ImportError:
        return
    report_main([str(run_dir)])
