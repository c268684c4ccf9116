"""What every benchmark script shares: the machine description, a table type, Markdown output and RESULTS.md.

A benchmark's headline figures are ratios measured side by side in one run, but a ratio still depends on the
machine (cores, load, library versions), so every table appended to ``benchmarks/RESULTS.md`` carries a heading
with the time, the machine and the load average at the start of the run. Scripts build a :class:`Table`, print it
with :func:`emit` and, with ``--append``, add it to ``RESULTS.md``; the smoke tests check a table's columns, never
its numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
LIBRARIES = ("torch", "torch_geometric", "ray", "optuna", "numpy", "pandas")


@dataclass
class Table:
    """A titled table: ``columns`` names, ``rows`` of cells (numbers or strings), and free-text ``notes``."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        assert len(cells) == len(self.columns), f"{len(cells)} cells for {len(self.columns)} columns"
        self.rows.append(list(cells))

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (Linux), else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """Names of the CUDA devices torch sees (empty without CUDA or torch)."""
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return []


def versions() -> dict[str, str]:
    """Installed versions of the libraries whose speed the numbers depend on."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
    return out


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    """One line: CPU model, logical cores, memory, GPUs, load average (1/5/15 min), library versions."""
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        memory = "RAM n/a"
    gpus = ", ".join(gpu_names()) or "no GPU"
    libs = ", ".join(f"{k} {v}" for k, v in versions().items())
    return (
        f"{cpu_model()}, {os.cpu_count()} logical cores, {memory}, {gpus}; "
        f"load average {load_average()} (1/5/15 min); {libs}"
    )


def markdown(table: Table, digits: int = 3) -> str:
    """The table as GitHub Markdown (numbers right-aligned, floats to ``digits`` significant places)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:
                return "n/a"
            return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
        return str(value)

    numeric = [
        all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in table.rows) and table.rows
        for i in range(len(table.columns))
    ]
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "| " + " | ".join("---:" if n else "---" for n in numeric) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render(tables: list[Table], header: str) -> str:
    parts = [header, ""]
    for table in tables:
        parts += [f"### {table.title}", "", markdown(table), ""]
        parts += [f"- {note}" for note in table.notes]
        if table.notes:
            parts.append("")
    return "\n".join(parts)


def emit(tables: list[Table], script: str, append: bool, machine_line: str | None = None) -> str:
    """Print the tables under a heading (time, script, machine); with ``append`` add them to RESULTS.md.

    ``machine_line`` should be taken at the *start* of the run, so the load average is the one the run met.
    """
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = f"## {script} — {stamp}\n\nmachine: {machine_line or machine()}"
    text = render(tables, header)
    print(text, flush=True)
    if append:
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text + "\n")
    return text


def best_time(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls (seconds): the least disturbed by other processes."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median(values: list[float]) -> float:
    """The median (mean of the middle two for an even count); NaN for no values."""
    clean = sorted(v for v in values if v == v)
    if not clean:
        return float("nan")
    mid = len(clean) // 2
    return clean[mid] if len(clean) % 2 else (clean[mid - 1] + clean[mid]) / 2


@contextmanager
def local_ray(num_cpus: int = 2, num_gpus: int | None = None) -> Iterator[None]:
    """One local Ray for the whole benchmark (``tune.run.main`` joins it), shut down at the end if started here.

    Starting Ray costs seconds; the benchmarks time it once and leave it out of per-search figures.
    """
    import ray

    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_DEDUP_LOGS", "1")
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # workers inherit it: one torch thread per 1-CPU trial
        kwargs: dict[str, Any] = {"num_cpus": num_cpus}
        if num_gpus is not None:
            kwargs["num_gpus"] = num_gpus
        ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1",
            **kwargs,
        )
    try:
        yield
    finally:
        if started:
            ray.shutdown()


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary results folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"ranktune-{prefix}-") as tmp:
        yield Path(tmp)
