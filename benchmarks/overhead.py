"""The service's overhead: ranktune on Ray Tune against a plain Python loop, and the driver's bookkeeping rate.

1. **Per-trial overhead.** The same configs are trained one after another in a plain loop (build the model, then
   per epoch ``train_epoch`` + ``evaluate("val")`` and ``evaluate("test")`` at a new best — exactly the runner's
   work without Ray) and through ``tune.run.main`` (a grid over ``seed``, FIFO): with one trial at a time and a
   checkpoint every epoch, with a checkpoint only at the end, and with two trials at once. The difference per trial
   is what the service adds (trial start, reporting, checkpoints, TensorBoard/CSV logs, result files); two trainables:
   ``trainables.toy:Toy`` (milliseconds per epoch, so nearly all overhead) and ``hybrid_sasrec_gnn`` on its tiny data.
2. **Bookkeeping throughput**, as Ray's release test ``bookkeeping_overhead`` measures it: hundreds of trials that
   only report once, with plain Ray Tune (a function that calls ``tune.report``) and with ranktune (``tune.run.main``
   on ``Toy`` with 4 users × 4 items and one epoch, so the runner, its checkpoint, the HParams logger and
   ``summary.csv`` are all in the figure). Trials per second and the ratio.

One local Ray (started once and timed separately) serves every run. Run ``python -m benchmarks.overhead``
(``--trials 200``, ``--quick``, ``--append``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.common import Table, emit, machine, scratch
from trainables import resolve

CASES: dict[str, dict[str, Any]] = {
    # registry or import name: data, fixed config, selection metric, trials (quick, default)
    "trainables.toy:Toy": {
        "data": {"num_users": 64, "num_items": 50},
        "config": {"max_epochs": 5},
        "metric": "val/hr@5",
        "trials": (2, 8),
    },
    "hybrid_sasrec_gnn": {
        "data": None,  # the trainable's tiny_data
        "config": None,  # its tiny_config, 3 epochs
        "metric": "val/hr@10",
        "trials": (2, 4),
    },
}


def case_setup(name: str) -> tuple[type, dict[str, Any], dict[str, Any]]:
    cls = resolve(name)
    case = CASES[name]
    data = case["data"] if case["data"] is not None else dict(cls.tiny_data)
    config = case["config"] if case["config"] is not None else {**cls.tiny_config, "max_epochs": 3}
    return cls, data, config


def plain_loop(name: str, seeds: list[int]) -> float:
    """Seconds to build the data once and train every seed's config in turn, with the runner's per-epoch work."""
    cls, data_cfg, config = case_setup(name)
    key = CASES[name]["metric"].split("/", 1)[1]
    start = time.perf_counter()
    data = cls.load_data(cls.DataConfig(**data_cfg))
    for seed in seeds:
        torch.manual_seed(seed)
        model = cls(cls.Config(**{**config, "seed": seed}), data, torch.device("cpu"))
        best = None
        for epoch in range(model.config.max_epochs):
            model.train_epoch(epoch)
            value = model.evaluate("val")[key]
            if best is None or value > best:
                best = value
                model.evaluate("test")
        model.close()
    return time.perf_counter() - start


def write_spec(
    folder: Path, name: str, trainable: str, data: dict[str, Any], config: dict[str, Any], **kw: Any
) -> Path:
    """A minimal spec file for ``tune.run.main`` (no replicate block, FIFO, grid or random search)."""
    spec = {
        "name": name,
        "trainable": trainable,
        "data": {"source": "synthetic", **data},
        "config": config,
        "space": kw["space"],
        "metric": kw["metric"],
        "mode": "max",
        "search": {
            "algorithm": kw.get("algorithm", "grid"),
            "num_samples": kw.get("num_samples", 1),
            "max_concurrent": kw["concurrent"],
            "seed": 0,
        },
        "scheduler": {"type": "fifo"},
        "resources": {"cpu": 1, "gpu": 0},
        "checkpoint": {"every": kw.get("every", 1), "keep": 2},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def service(spec: Path, storage: Path) -> float:
    """Wall seconds of ``tune.run.main`` on a spec (its console output captured)."""
    from tune.run import main as run_main

    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        code = run_main([str(spec), "--storage", str(storage), "--skip-replicate", "--skip-report"])
    if code != 0:
        raise RuntimeError(f"tune.run exited {code} for {spec}:\n{sink.getvalue()[-2000:]}")
    return time.perf_counter() - start


def per_trial_table(quick: bool, folder: Path) -> Table:
    table = Table(
        "per-trial overhead: ranktune (tune.run) vs a plain Python loop over the same configs",
        ["trainable", "run", "trials", "epochs each", "wall s", "× loop", "overhead s / trial"],
    )
    for name in CASES:
        n = CASES[name]["trials"][0 if quick else 1]
        seeds = list(range(n))
        cls, data, config = case_setup(name)
        short = name.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
        loop_s = plain_loop(name, seeds)
        table.add(short, "plain loop (reference)", n, config["max_epochs"], loop_s, 1.0, 0.0)
        variants = [
            ("tune.run, 1 at a time, checkpoint every epoch", 1, 1),
            ("tune.run, 1 at a time, checkpoint at the end", 1, config["max_epochs"]),
            ("tune.run, 2 at a time, checkpoint every epoch", 2, 1),
        ]
        for i, (label, concurrent, every) in enumerate(variants[:1] if quick else variants):
            spec = write_spec(
                folder,
                f"{short.lower()}-{i}",
                name,
                data,
                config,
                space={"seed": {"grid": seeds}},
                metric=CASES[name]["metric"],
                concurrent=concurrent,
                every=every,
            )
            wall = service(spec, folder / "runs")
            overhead = (wall - loop_s) / n if concurrent == 1 else float("nan")
            table.add(short, label, n, config["max_epochs"], wall, wall / loop_s, overhead)
    table.notes = [
        "overhead per trial = (tune.run wall − loop wall) / trials, for the one-at-a-time runs; both include "
        "building the data once; the tune.run wall also includes writing summary.csv, best.json and manifest.json",
    ]
    return table


def only_report(config: dict[str, Any]) -> None:
    """A Ray Tune function trainable that does nothing but report once (Ray's bookkeeping benchmark)."""
    from ray import tune

    tune.report({"score": config["x"]})


def raw_tune(trials: int, storage: Path) -> float:
    from ray import tune

    tuner = tune.Tuner(
        only_report,
        param_space={"x": tune.uniform(0.0, 1.0)},
        tune_config=tune.TuneConfig(num_samples=trials, metric="score", mode="max", reuse_actors=True),
        run_config=tune.RunConfig(name="raw", storage_path=str(storage), verbose=0),
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        tuner.fit()
    return time.perf_counter() - start


def bookkeeping_table(trials: int, folder: Path) -> Table:
    table = Table(
        f"driver bookkeeping: {trials} trials that only report once",
        ["driver", "trials", "wall s", "trials / s", "wall × plain Ray Tune"],
    )
    raw = raw_tune(trials, folder / "raw")
    table.add("plain Ray Tune (function calls tune.report)", trials, raw, trials / raw, 1.0)
    spec = write_spec(
        folder,
        "bookkeeping",
        "trainables.toy:Toy",
        {"num_users": 4, "num_items": 4},
        {"max_epochs": 1},
        space={"lr": {"loguniform": [1.0e-3, 1.0e-1]}},
        metric="val/hr@1",
        algorithm="random",
        num_samples=trials,
        concurrent=None,
    )
    wall = service(spec, folder / "runs")
    table.add("ranktune tune.run (Toy, 1 epoch, 4×4)", trials, wall, trials / wall, wall / raw)
    table.notes = [
        "ranktune's figure includes per trial: the runner (build, one epoch, val + test evaluation), a checkpoint "
        "(state.pt written and registered), the HParams TensorBoard logger, and at the end summary.csv from every "
        "trial folder; plain Ray Tune's includes only its own result logging",
    ]
    return table


def bench(argv: list[str] | None = None) -> list[Table]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials of the bookkeeping benchmark")
    parser.add_argument(
        "--quick", action="store_true", help="2 trials per case, one tune.run variant, 6 bookkeeping trials"
    )
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--append", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as each 1-CPU trial runs
    machine_line = machine()
    import ray

    from benchmarks.common import local_ray

    start = time.perf_counter()
    with local_ray(num_cpus=args.cpus), scratch("overhead") as folder:
        ray_start = time.perf_counter() - start
        tables = [
            per_trial_table(args.quick, folder),
            bookkeeping_table(6 if args.quick else args.trials, folder),
        ]
        tables[0].notes.append(
            f"starting the local Ray ({ray.cluster_resources().get('CPU', 0):g} CPUs) took "
            f"{ray_start:.1f} s, once per search, not counted above"
        )
    emit(tables, "overhead", args.append, machine_line)
    return tables


def main(argv: list[str] | None = None) -> int:
    bench(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
