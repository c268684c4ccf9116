"""Peak memory of K concurrent trials: the dataset shared through Ray's object store vs built by every trial.

``tune.run`` builds a spec's dataset once in the driver and hands it to every trial with
``tune.with_parameters`` (it goes into the object store once; the trials on a node read it from there). The
alternative a plain script would take is that every trial builds its own copy. This script runs both through
``tune.run.main`` with K trials at once (a grid over ``seed``, ``max_concurrent = K``) on :class:`Ballast`, a
protocol trainable whose dataset is one float32 table of ``--mb`` MiB and whose epoch reads every byte of it and then
holds for a moment (so the K trials overlap). Three variants:

* ``object store, torch tensor`` — the dataset as ranktune's trainables hold it (tensors in a dataclass);
* ``object store, numpy array`` — the same table as a NumPy array, which Ray hands to workers without a copy, turned
  into a tensor in the trial with ``torch.from_numpy`` (no copy either): what sharing could cost;
* ``built in each trial`` — ``load_data`` returns only the recipe; each trial builds the table itself.

A thread samples, every 0.2 s, the proportional set size (PSS: shared pages divided among the processes that map
them, so shared memory is not counted K times) and the RSS of the driver and every process under it (the local Ray:
GCS, raylet with its object store, workers), and reports the peak above the level measured just before the run.
Run ``python -m benchmarks.memory`` (``--mb 300``, ``--k 2``, ``--quick``, ``--append``). Linux only (PSS).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psutil
import torch
import yaml
from pydantic import Field

from benchmarks.common import Table, emit, local_ray, machine, scratch
from trainables.protocol import DataConfig, MetricNames, Trainable, TrainableConfig

MIB = 2**20


class BallastConfig(TrainableConfig):
    hold_s: float = Field(
        2.0, ge=0.0, le=600.0, description="Seconds each epoch holds after reading the table."
    )


class BallastData(DataConfig):
    source: Literal["synthetic"] = Field("synthetic", description="Only the random table.")
    mb: int = Field(300, ge=1, le=65536, description="Size of the float32 table in MiB.")
    kind: Literal["torch", "numpy"] = Field("torch", description="Table type: torch tensor or NumPy array.")
    build_in_trial: bool = Field(
        False, description="load_data returns only this recipe and every trial builds the table itself."
    )


@dataclass
class BallastTable:
    table: torch.Tensor | np.ndarray  # [mb · 2^18] float32


def build_table(cfg: BallastData) -> BallastTable:
    g = torch.Generator().manual_seed(cfg.seed)
    table = torch.rand(cfg.mb * MIB // 4, generator=g)  # [mb · 2^18]
    return BallastTable(table.numpy() if cfg.kind == "numpy" else table)


class Ballast(Trainable):
    """A trainable that only holds a large dataset and reads it every epoch (memory benchmark only)."""

    Config = BallastConfig
    DataConfig = BallastData
    tiny_data = {"mb": 1}
    tiny_config = {"max_epochs": 1, "hold_s": 0.0}

    @classmethod
    def load_data(cls, data_config: BallastData) -> BallastTable | BallastData:
        return data_config if data_config.build_in_trial else build_table(data_config)

    @classmethod
    def metric_names(cls, config: TrainableConfig) -> MetricNames:
        return MetricNames(train=("loss",), eval=("score",))

    def __init__(self, config: BallastConfig, data: BallastTable | BallastData, device: torch.device) -> None:
        super().__init__(config, data if isinstance(data, BallastTable) else build_table(data), device)
        self.config: BallastConfig = config
        self.table = self.data.table
        if isinstance(self.table, np.ndarray):
            with (
                warnings.catch_warnings()
            ):  # Ray hands out a read-only view; this trainable never writes to it
                warnings.simplefilter("ignore", UserWarning)
                self.table = torch.from_numpy(self.table)  # [mb · 2^18], zero-copy view of the object store

    def train_epoch(self, epoch: int) -> dict[str, float]:
        total = float(self.table.sum())  # reads every page of the table
        time.sleep(self.config.hold_s)
        return {"loss": total / self.table.numel()}

    def evaluate(self, split: str) -> dict[str, float]:
        return {"score": float(self.table[: 1 + self.config.seed].sum())}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class TreeMemory:
    """Samples PSS and RSS (bytes) of this process and all its descendants in a thread; keeps the peaks."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peak_pss = self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def sample() -> tuple[int, int]:
        me = psutil.Process()
        pss = rss = 0
        for proc in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                pss += info.pss
                rss += info.rss
        return pss, rss

    def _run(self) -> None:
        while not self._stop.is_set():
            pss, rss = self.sample()
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_variant(
    folder: Path, name: str, data: dict[str, Any], k: int, epochs: int, hold_s: float
) -> tuple[int, int, float]:
    """Peak PSS and RSS above the idle level (bytes), and wall seconds, of one ``tune.run`` with K trials at once."""
    from tune.run import main as run_main

    spec = {
        "name": name,
        "trainable": "benchmarks.memory:Ballast",
        "data": {"source": "synthetic", **data},
        "config": {"max_epochs": epochs, "hold_s": hold_s},
        "space": {"seed": {"grid": list(range(k))}},
        "metric": "val/score",
        "search": {"algorithm": "grid", "num_samples": 1, "max_concurrent": k},
        "resources": {"cpu": 1, "gpu": 0},
        "checkpoint": {"every": epochs, "keep": 1},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    time.sleep(1.0)  # let workers of the previous run settle
    idle_pss, idle_rss = TreeMemory.sample()
    start = time.perf_counter()
    sink = io.StringIO()
    with TreeMemory() as memory, contextlib.redirect_stdout(sink):
        code = run_main([str(path), "--storage", str(folder / "runs"), "--skip-replicate", "--skip-report"])
    if code != 0:
        raise RuntimeError(f"tune.run exited {code} for {name}:\n{sink.getvalue()[-2000:]}")
    return memory.peak_pss - idle_pss, memory.peak_rss - idle_rss, time.perf_counter() - start


def bench(argv: list[str] | None = None) -> list[Table]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="dataset size in MiB")
    parser.add_argument("--k", type=int, default=2, help="concurrent trials (and CPUs of the local Ray)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trial")
    parser.add_argument(
        "--quick", action="store_true", help="a 16 MiB dataset, 1 epoch holding 0.5 s, two variants"
    )
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    mb, epochs, hold_s = (16, 1, 0.5) if args.quick else (args.mb, args.epochs, 2.0)
    machine_line = machine()
    variants = [
        ("built in each trial (reference)", {"build_in_trial": True}),
        ("1 MiB table: the trials' own processes", {"build_in_trial": True, "mb": 1}),
        ("object store, torch tensor (ranktune)", {"kind": "torch"}),
        ("object store, numpy array → torch.from_numpy in the trial", {"kind": "numpy"}),
    ]
    table = Table(
        f"peak memory of {args.k} concurrent trials, dataset {mb} MiB",
        ["dataset", "peak PSS MiB", "peak RSS MiB", "PSS / dataset", "PSS × reference", "wall s"],
    )
    with local_ray(num_cpus=args.k), scratch("memory") as folder:
        reference = None
        for i, (label, data) in enumerate(variants[::2] if args.quick else variants):
            pss, rss, wall = run_variant(folder, f"memory-{i}", {"mb": mb, **data}, args.k, epochs, hold_s)
            reference = reference or pss
            table.add(label, pss / MIB, rss / MIB, pss / (mb * MIB), pss / reference, wall)
    table.notes = [
        "PSS and RSS summed over the driver and every process under it (Ray's GCS, raylet + object store, "
        "workers), peak minus the level just before the run; RSS counts shared pages once per process that maps "
        "them, PSS divides them",
        f"{args.k} trials of {epochs} epoch(s), each epoch reads the whole table and holds {hold_s:g} s",
    ]
    emit([table], "memory", args.append, machine_line)
    return [table]


def main(argv: list[str] | None = None) -> int:
    bench(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
