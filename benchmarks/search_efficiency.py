"""Search efficiency: exhaustive grid vs random search vs ASHA + random vs ASHA + Optuna TPE, on shipped specs.

The question (issue 10): for the same search space, how many training epochs and how much wall time does each
search strategy spend, how soon does it first reach a configuration within 1% of the best one the exhaustive grid
finds, and how good is the configuration it finally picks once re-run over seeds (so a lucky validation value does
not count)? Every search is a real ``python -m tune.run`` run (``tune.run.main`` with ``--set`` overrides) on the
spec's embedded synthetic data; the figures come from each run's ``summary.csv`` and per-trial ``progress.csv``
(``analysis.io``), and the chosen config's test metric from the replicate phase (``tune.replicate``).

To compare like with like, every method searches the same *discrete* space (the grid's values; the random and TPE
searches draw from them as ``choice`` dimensions): the grid runs every point for the full epochs; random search
runs half as many points for the full epochs; the two ASHA searches run as many points as the grid but stop
the weak ones early. The grid is deterministic and run once; the other methods are run with several search seeds and
their medians reported. Wall times are measured from the call of ``tune.run.main`` (one Ray instance, started
once, serves every search, so Ray's start-up is left out).

Scales (``--scale``): ``quick`` (a seconds-long check for the tests), ``small`` (what fits a shared 2-core machine:
the specs' smoke-sized data, 4 epochs, 12-point spaces, 2 search seeds, 2 replication seeds) and ``full`` (the specs'
own data and epochs, 30- and 45-point spaces, 5 search seeds, 5 replication seeds — for a bigger machine).

Run ``python -m benchmarks.search_efficiency [--scale small] [--specs hybrid_alpha two_tower_mns] [--append]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.io import read_progress
from benchmarks.common import Table, emit, local_ray, machine, median, scratch

SPACES = Path(__file__).resolve().parent.parent / "search_spaces"
METHODS = ("grid", "random", "asha_random", "asha_tpe")


@dataclass(frozen=True)
class Scale:
    """One size of the benchmark for one spec: data and fixed-config overrides, the discrete search values."""

    data: dict[str, Any]
    config: dict[str, Any]
    values: dict[str, list[Any]]
    grace_period: int


SMOKE_HYBRID = {"num_users": 200, "num_items": 100, "num_clusters": 5}
SMOKE_TWO_TOWER = {"num_users": 80, "num_communities": 4, "max_events": 10, "num_popular": 2}
SCALES: dict[str, dict[str, Scale]] = {
    "hybrid_alpha": {
        "quick": Scale(
            {**SMOKE_HYBRID, "num_users": 60, "num_items": 40},
            {"max_epochs": 2, "dim": 8, "max_len": 10, "num_blocks": 1},
            {"alpha": [0.3, 0.7], "lr": [3.0e-3, 1.0e-2], "num_negatives": [1]},
            1,
        ),
        "small": Scale(
            SMOKE_HYBRID,
            {"max_epochs": 4, "dim": 16, "max_len": 20, "num_blocks": 1},
            {"alpha": [0.3, 0.5, 0.7], "lr": [1.0e-3, 1.0e-2], "num_negatives": [1, 4]},
            1,
        ),
        "full": Scale(
            {},
            {},
            {"alpha": [0.3, 0.4, 0.5, 0.6, 0.7], "lr": [1.0e-3, 3.0e-3, 1.0e-2], "num_negatives": [1, 4]},
            3,
        ),
    },
    "two_tower_mns": {
        "quick": Scale(
            SMOKE_TWO_TOWER,
            {"max_epochs": 2, "d_emb": 8},
            {"num_rand_negs": [0, 20], "temperature": [0.1], "lr": [1.0e-3, 3.0e-3]},
            1,
        ),
        "small": Scale(
            SMOKE_TWO_TOWER,
            {"max_epochs": 4, "d_emb": 8},
            {"num_rand_negs": [0, 5, 20], "temperature": [0.05, 0.2], "lr": [1.0e-3, 3.0e-3]},
            1,
        ),
        "full": Scale(
            {},
            {},
            {
                "num_rand_negs": [0, 2, 5, 20, 100],
                "temperature": [0.05, 0.1, 0.2],
                "lr": [3.0e-4, 1.0e-3, 3.0e-3],
            },
            2,
        ),
    },
}
SEEDS = {"quick": [0], "small": [0, 1], "full": [0, 1, 2, 3, 4]}
REPLICATION_SEEDS = {"quick": [0], "small": [0, 1], "full": [0, 1, 2, 3, 4]}


def grid_size(values: dict[str, list[Any]]) -> int:
    size = 1
    for v in values.values():
        size *= len(v)
    return size


def overrides(method: str, scale: Scale, search_seed: int, replication_seeds: list[int]) -> list[str]:
    """``--set`` assignments that turn the shipped spec into this method's search at this scale."""
    kind = "grid" if method == "grid" else "choice"
    space = {k: {kind: v} for k, v in scale.values.items()}
    n = grid_size(scale.values)
    search = {
        "grid": {"algorithm": "grid", "num_samples": 1},
        "random": {"algorithm": "random", "num_samples": max(1, n // 2)},
        "asha_random": {"algorithm": "random", "num_samples": n},
        "asha_tpe": {"algorithm": "optuna", "num_samples": n},
    }[method]
    scheduler = "asha" if method.startswith("asha") else "fifo"
    sets = [f"space={json.dumps(space)}", f"scheduler.type={scheduler}", f"search.seed={search_seed}"]
    sets += [f"search.{k}={v}" for k, v in search.items()]
    sets += [f"data.{k}={json.dumps(v)}" for k, v in scale.data.items()]
    sets += [f"config.{k}={json.dumps(v)}" for k, v in scale.config.items()]
    if scheduler == "asha":
        sets.append(f"scheduler.grace_period={scale.grace_period}")
    sets += [
        "replicate.top_k=1",
        "replicate.baselines={}",
        f"replicate.seeds={json.dumps(replication_seeds)}",
    ]
    return sets


def first_within(run_dir: Path, metric: str, target: float, mode: str, t0: float) -> tuple[float, float]:
    """Epochs spent and seconds elapsed (since ``t0``) when any trial first reported ``metric`` within the target.

    All trials' epochs are put in the order they were reported (Ray's ``timestamp``, then the trial's own
    ``time_total_s``); the cumulative count up to the first good epoch is the epochs spent. NaN if never reached.
    """
    frames = []
    for progress_file in sorted((run_dir / "search").glob("*/progress.csv")):
        frame = read_progress(progress_file)
        if not frame.empty and metric in frame.columns:
            frames.append(frame[["timestamp", "time_total_s", metric]])
    if not frames:
        return float("nan"), float("nan")
    rows = pd.concat(frames).sort_values(["timestamp", "time_total_s"], kind="stable").reset_index(drop=True)
    good = rows[metric] >= target if mode == "max" else rows[metric] <= target
    if not good.any():
        return float("nan"), float("nan")
    i = int(good.to_numpy().argmax())
    return float(i + 1), float(rows["timestamp"].iloc[i] - t0)


@dataclass
class SearchResult:
    trials: int
    epochs: int
    wall_s: float
    best_val: float
    chosen_test: float
    chosen: dict[str, Any]
    run_dir: Path
    t0: float


def run_one(
    spec: str, method: str, scale: Scale, seed: int, rep_seeds: list[int], storage: Path
) -> SearchResult:
    """One search (and the replication of its chosen config); tune's console output is captured, not shown."""
    from tune.replicate import main as replicate_main
    from tune.run import main as run_main

    name = f"{spec}-{method}-s{seed}"
    argv = [str(SPACES / f"{spec}.yaml"), "--storage", str(storage), "--name", name, "--skip-replicate"]
    argv += ["--skip-report"] + [a for s in overrides(method, scale, seed, rep_seeds) for a in ("--set", s)]
    sink = io.StringIO()
    t0 = time.time()
    with contextlib.redirect_stdout(sink):
        code = run_main(argv)
    wall = time.time() - t0
    run_dir = storage / name
    if code != 0:
        raise RuntimeError(f"tune.run exited {code} for {name}:\n{sink.getvalue()[-2000:]}")
    summary = pd.read_csv(run_dir / "summary.csv")
    best = json.loads((run_dir / "best.json").read_text())
    with contextlib.redirect_stdout(sink):
        replicate_main([str(run_dir)])
    replicas = pd.read_csv(run_dir / "replicate_summary.csv")
    test_metric = "test/" + best["metric"].split("/", 1)[1]
    chosen = {k: best["config"][k] for k in scale.values if k in best["config"]}
    return SearchResult(
        trials=len(summary),
        epochs=int(summary["epochs"].sum()),
        wall_s=wall,
        best_val=float(best["value"]),
        chosen_test=float(replicas.loc[replicas["group"] == "top1", test_metric].mean()),
        chosen=chosen,
        run_dir=run_dir,
        t0=t0,
    )


def bench(argv: list[str] | None = None) -> list[Table]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", choices=["quick", "small", "full"], default="small", help="see the docstring"
    )
    parser.add_argument("--quick", action="store_const", const="quick", dest="scale", help="--scale quick")
    parser.add_argument(
        "--specs", nargs="+", default=list(SCALES), choices=list(SCALES), help="specs to search"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="search seeds (default: by scale)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--append", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else SEEDS[args.scale]
    rep_seeds = REPLICATION_SEEDS[args.scale]
    machine_line = machine()
    tables = []
    with local_ray(num_cpus=args.cpus), scratch("search-efficiency") as storage:
        for spec in args.specs:
            scale = SCALES[spec][args.scale]
            table = Table(
                f"{spec}: search strategies on the same {grid_size(scale.values)}-point space ({args.scale})",
                [
                    "method",
                    "search seeds",
                    "trials",
                    "epochs",
                    "wall s",
                    "epochs × grid",
                    "wall × grid",
                    "best val",
                    "epochs to 1%",
                    "wall s to 1%",
                    "reached 1%",
                    "chosen config test (replicated)",
                ],
            )
            grid = run_one(spec, "grid", scale, 0, rep_seeds, storage)
            grid_best = json.loads((grid.run_dir / "best.json").read_text())
            metric, mode = grid_best["metric"], grid_best["mode"]
            target = grid.best_val * (0.99 if mode == "max" else 1.01)
            results: dict[str, list[SearchResult]] = {"grid": [grid]}
            for method in METHODS[1:]:
                results[method] = [run_one(spec, method, scale, s, rep_seeds, storage) for s in seeds]
            chosen_lines = []
            for method, runs in results.items():
                reach = [first_within(r.run_dir, metric, target, mode, r.t0) for r in runs]
                table.add(
                    method,
                    len(runs),
                    median([r.trials for r in runs]),
                    median([r.epochs for r in runs]),
                    median([r.wall_s for r in runs]),
                    median([r.epochs for r in runs]) / grid.epochs,
                    median([r.wall_s for r in runs]) / grid.wall_s,
                    median([r.best_val for r in runs]),
                    median([e for e, _ in reach]),
                    median([w for _, w in reach]),
                    f"{sum(e == e for e, _ in reach)}/{len(runs)}",
                    median([r.chosen_test for r in runs]),
                )
                chosen_lines.append(f"{method}: " + "; ".join(json.dumps(r.chosen) for r in runs))
            table.notes = [
                f"selection metric {metric}; grid best {grid.best_val:.4f}, target (within 1%) {target:.4f}; "
                "medians over the search seeds (epochs/wall to 1%: over the seeds that reached it, see "
                "'reached 1%'); wall to 1% has whole-second resolution (Ray's timestamp); 'chosen config test' is "
                "the mean test "
                f"{metric.split('/', 1)[1]} of the chosen config over replication seeds {rep_seeds}",
                "chosen configs — " + " | ".join(chosen_lines),
            ]
            tables.append(table)
    emit(tables, "search_efficiency", args.append, machine_line)
    return tables


def main(argv: list[str] | None = None) -> int:
    bench(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
