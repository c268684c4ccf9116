"""``python -m tune.run SPEC``: validate a spec, build its data once, search it on Ray Tune, write the results.

Everything that can be wrong with the user's input (the spec, a ``--set``, a data file, an existing experiment
folder) is reported as one line and exit code 2 *before* Ray starts. Once Ray runs, a failing trial fails alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from trainables.protocol import DataError
from tune.cluster import default_storage, detect_notebook_env, is_remote_uri
from tune.errors import EXIT_USAGE, SpecError
from tune.space import sample_configs
from tune.spec import ResolvedSpec, deep_merge, load_spec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tune.run",
        description="Run the hyperparameter search a spec describes, on a local Ray or an existing Ray cluster.",
    )
    p.add_argument("spec", help="path of the experiment spec (search_spaces/*.yaml, or a winner.yaml)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a spec value (YAML syntax), e.g. --set search.num_samples=8 --set config.max_epochs=5",
    )
    p.add_argument(
        "--smoke", action="store_true", help="apply the spec's smoke: block (a CPU run of about a minute)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved spec, the number of trials, sampled configs and resources; start nothing",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the interrupted experiment <storage>/<name>"
    )
    p.add_argument(
        "--retry-errored",
        action="store_true",
        help="with --resume: retry errored trials from their last checkpoint",
    )
    p.add_argument(
        "--restart-errored", action="store_true", help="with --resume: restart errored trials from scratch"
    )
    p.add_argument(
        "--address",
        default=None,
        help="existing Ray cluster: 'auto', the head's host:port, or ray://host:10001 (default: start a local Ray)",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="single-node mode: start a local Ray on this machine's CPUs/GPUs (automatic on Kaggle/Colab), ignoring --address",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="results folder or URI (s3://, gs://, ...) (overrides the spec's storage:)",
    )
    p.add_argument(
        "--shared-storage",
        action="store_true",
        help="the --storage path is a file system (NFS, Lustre, GPFS) mounted at the same path on every node; "
        "required for a plain path on a multi-node cluster",
    )
    p.add_argument(
        "--wait-for-resources",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on an autoscaling cluster: ask the autoscaler for one trial's resources and wait up to SECONDS for a "
        "node that can hold it, instead of refusing at once",
    )
    p.add_argument("--name", default=None, help="experiment name (overrides the spec's name:)")
    p.add_argument("--skip-replicate", action="store_true", help="do not run the spec's replicate phase")
    p.add_argument("--skip-report", action="store_true", help="do not write the report at the end")
    return p


def run_dir_of(resolved: ResolvedSpec) -> Path:
    """The local results folder. For a cloud URI, the local mirror ``./results/<name>`` (see tune.storage)."""
    from tune.storage import local_run_dir

    return local_run_dir(resolved.spec.storage, resolved.spec.name)


def print_dry_run(resolved: ResolvedSpec, run_dir: Path) -> None:
    spec = resolved.spec
    print(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False).rstrip())
    print(
        f"\ntrainable: {spec.trainable} ({resolved.trainable_cls.__module__}.{resolved.trainable_cls.__name__})"
    )
    print(
        f"search: {spec.search.algorithm}, {resolved.num_trials} trial(s), scheduler: {spec.scheduler.type}"
    )
    print(f"resources per trial: cpu={spec.resources.cpu:g} gpu={spec.resources.gpu:g}")
    print(f"results: {run_dir}")
    print("sampled configs:")
    for cfg in sample_configs(resolved.dims, n=3, seed=spec.search.seed):
        print("  " + json.dumps(deep_merge(spec.config, cfg), sort_keys=True))


def load_data(resolved: ResolvedSpec) -> Any:
    """Build the dataset once in the driver; a data problem is a :class:`SpecError`."""
    cls = resolved.trainable_cls
    try:
        return cls.load_data(cls.DataConfig(**resolved.spec.data))
    except DataError as exc:
        raise SpecError(str(exc), file=resolved.path, key="data") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = list(args.set)
        notebook = detect_notebook_env(os.environ)
        if notebook and not args.storage and (args.local or not args.address):
            # Kaggle/Colab: results go to the folder that survives the session, so --resume can continue
            overrides.append(f"storage={default_storage(notebook)}")
        if args.name:
            overrides.append(f"name={args.name}")
        if args.storage:
            overrides.append(f"storage={args.storage}")
        resolved = load_spec(args.spec, overrides, smoke=args.smoke)
        run_dir = run_dir_of(resolved)
        if args.dry_run:
            print_dry_run(resolved, run_dir)
            return 0
        search_dir = run_dir / "search"
        remote = is_remote_uri(
            resolved.spec.storage
        )  # its folder is checked after download (tune.orchestrate)
        if args.resume and not remote:
            if not search_dir.exists():
                raise SpecError(
                    "nothing to resume: the experiment folder has no search/",
                    file=str(run_dir),
                    allowed="a folder written by an earlier python -m tune.run",
                )
            from tune.watchdog import check_experiment_state

            check_experiment_state(search_dir)  # a corrupt state is exit 2 here, before Ray starts
            saved = run_dir / "spec.yaml"
            if saved.exists():  # the spec the run started with; the folder may have moved since
                where = [f"name={resolved.spec.name}", f"storage={resolved.spec.storage}"]
                resolved = load_spec(saved, where)
        elif not args.resume and run_dir.exists() and any(run_dir.iterdir()):
            raise SpecError(
                "the experiment folder already exists",
                file=str(run_dir),
                key="name",
                value=resolved.spec.name,
                allowed="--resume to continue it, or another --name / --storage",
            )
        data = load_data(resolved)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from tune.orchestrate import run_search

    return run_search(resolved, data, run_dir, args, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
