"""Trials per GPU vs throughput: 1, 2 and 4 trials sharing one GPU through fractional GPU requests.

A small ranking model leaves most of a GPU idle, so ranktune lets a spec ask for ``resources.gpu: 0.5`` or ``0.25``
and Ray packs two or four trials on one device. This script runs the same search (``hybrid_alpha`` at its default
data size, a fixed number of full-length trials, FIFO, no replication) through ``tune.run.main`` with 1, 2 and 4
trials per GPU, and reports the trials finished per hour, the speed-up over one trial per GPU, and the GPU
utilisation and memory sampled every 0.5 s from ``nvidia-smi`` (``torch.cuda.utilization`` where it is missing).

On a machine without CUDA it prints one line and exits 0. Run ``python -m benchmarks.gpu --device cuda``
(``--trials 8``, ``--epochs 3``, ``--per-gpu 1 2 4``, ``--quick``, ``--append``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import torch

from benchmarks.common import Table, emit, local_ray, machine, scratch

SPEC = Path(__file__).resolve().parent.parent / "search_spaces" / "hybrid_alpha.yaml"


class GpuSampler:
    """Samples GPU 0's utilisation (%) and memory used (MiB) in a thread."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.util: list[float] = []
        self.memory: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._smi = shutil.which("nvidia-smi")

    def sample(self) -> tuple[float, float]:
        if self._smi:
            out = subprocess.run(
                [
                    self._smi,
                    "--query-gpu=utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits",
                    "-i",
                    "0",
                ],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            util, used = (float(x) for x in out.split(","))
            return util, used
        free, total = torch.cuda.mem_get_info(0)
        return float(torch.cuda.utilization(0)), (total - free) / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                util, used = self.sample()
                self.util.append(util)
                self.memory.append(used)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_packed(storage: Path, per_gpu: int, trials: int, epochs: int, quick: bool, name: str = "") -> float:
    """Wall seconds of one search with ``per_gpu`` trials sharing the GPU."""
    from tune.run import main as run_main

    sets = [
        'space={"alpha": {"choice": [0.3, 0.5, 0.7]}, "lr": {"loguniform": [1.0e-3, 1.0e-2]}}',
        "search.algorithm=random",
        f"search.num_samples={trials}",
        f"search.max_concurrent={per_gpu}",
        "scheduler.type=fifo",
        f"resources.gpu={1.0 / per_gpu}",
        "resources.cpu=1",
        f"config.max_epochs={epochs}",
    ]
    if quick:
        sets += ["data.num_users=200", "data.num_items=100", "data.num_clusters=5"]
    argv = [
        str(SPEC),
        "--storage",
        str(storage),
        "--name",
        name or f"gpu-{per_gpu}",
        "--skip-replicate",
        "--skip-report",
    ]
    argv += [a for s in sets for a in ("--set", s)]
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        code = run_main(argv)
    if code != 0:
        raise RuntimeError(
            f"tune.run exited {code} with {per_gpu} trials per GPU:\n{sink.getvalue()[-2000:]}"
        )
    return time.perf_counter() - start


def bench(argv: list[str] | None = None) -> list[Table]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda"], default="cuda", help="the device measured (CUDA only)")
    parser.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4], help="trials sharing the GPU")
    parser.add_argument("--trials", type=int, default=8, help="trials per search")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    parser.add_argument("--quick", action="store_true", help="smoke-sized data, 2 trials of 1 epoch")
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu: CUDA is not available here (torch {torch.__version__}); nothing to measure")
        return []
    trials, epochs = (2, 1) if args.quick else (args.trials, args.epochs)
    machine_line = machine()
    table = Table(
        f"trials per GPU vs throughput: hybrid_alpha, {trials} trials × {epochs} epochs ({torch.cuda.get_device_name(0)})",
        [
            "trials per GPU",
            "gpu per trial",
            "wall s",
            "trials / hour",
            "× 1 per GPU",
            "GPU util mean %",
            "GPU MiB peak",
        ],
    )
    cpus = max(os.cpu_count() or 1, max(args.per_gpu))
    with local_ray(num_cpus=cpus, num_gpus=torch.cuda.device_count()), scratch("gpu") as storage:
        # untimed warm-up: the first search on a fresh Ray also pays worker start-up, imports and CUDA initialisation
        run_packed(storage, max(args.per_gpu), max(args.per_gpu), 1, True, name="gpu-warmup")
        reference = None
        for per_gpu in args.per_gpu:
            with GpuSampler() as sampler:
                wall = run_packed(storage, per_gpu, trials, epochs, args.quick)
            rate = trials / wall * 3600
            reference = reference or rate
            util = sum(sampler.util) / len(sampler.util) if sampler.util else float("nan")
            peak = max(sampler.memory) if sampler.memory else float("nan")
            table.add(per_gpu, round(1.0 / per_gpu, 3), wall, rate, rate / reference, util, peak)
    table.notes = [
        "one Ray instance for all rows; the wall time includes building the data and trial start-up"
    ]
    emit([table], "gpu", args.append, machine_line)
    return [table]


def main(argv: list[str] | None = None) -> int:
    bench(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
