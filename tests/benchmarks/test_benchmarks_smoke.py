"""Every benchmark script runs at its quick size and returns tables with the expected columns.

Structure only: timings and ratios depend on the machine and are never asserted (they are read in RESULTS.md).
The scripts that start trials through ``tune.run`` share the session's local Ray and are marked slow.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import common


def _finite(values: list) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values)


def test_markdown_table_and_append(tmp_path, monkeypatch, capsys):
    table = common.Table("t", ["name", "seconds", "ratio"])
    table.add("loop", 2.0, 1.0)
    table.add("vectorised", 0.0125, float("nan"))
    table.notes = ["a note"]
    assert common.markdown(table) == (
        "| name | seconds | ratio |\n| --- | ---: | ---: |\n| loop | 2 | 1 |\n| vectorised | 0.0125 | n/a |"
    )
    assert table.column("seconds") == [2.0, 0.0125]
    results = tmp_path / "RESULTS.md"
    results.write_text("# head\n")
    monkeypatch.setattr(common, "RESULTS", results)
    text = common.emit([table], "demo", append=True, machine_line="a machine")
    written = results.read_text()
    assert written == "# head\n\n" + text + "\n"
    assert "## demo — " in written and "machine: a machine" in written and "### t" in written
    assert "- a note" in written and text in capsys.readouterr().out


def test_machine_line_names_cores_load_and_versions():
    line = common.machine()
    assert (
        "logical cores" in line
        and "load average" in line
        and f"torch {torch.__version__.split('+')[0]}" in line
    )


def test_median():
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.median([4.0, 1.0, float("nan"), 2.0, 3.0]) == 2.5
    assert math.isnan(common.median([]))


def test_kernels_quick():
    from benchmarks.kernels import bench

    (table,) = bench(["--quick", "--repeat", "1"])
    assert table.columns == ["kernel", "size", "vectorised s", "loop reference s", "speed-up", "same result"]
    assert len(table.rows) == 7
    assert _finite(table.column("vectorised s")) and _finite(table.column("loop reference s"))
    # every comparison that can be exact agrees (the sampler draws at random, the pair loop is timed on a slice)
    assert [v for v in table.column("same result") if isinstance(v, bool)] == [True] * 5


def test_gpu_without_cuda_prints_one_line(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the GPU benchmark would run")
    from benchmarks.gpu import bench, main

    assert bench(["--device", "cuda"]) == []
    assert main(["--quick"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("gpu: CUDA is not available")


@pytest.mark.slow
def test_search_efficiency_quick(ray_local):
    from benchmarks.search_efficiency import METHODS, bench

    (table,) = bench(["--quick", "--specs", "hybrid_alpha"])
    assert table.columns[:5] == ["method", "search seeds", "trials", "epochs", "wall s"]
    assert "epochs to 1%" in table.columns and "chosen config test (replicated)" in table.columns
    assert table.column("method") == list(METHODS)
    assert table.column("trials") == [4, 2, 4, 4]  # 2 × 2 × 1 grid; random: half; ASHA: as many as the grid
    grid = table.rows[0]
    assert grid[table.columns.index("epochs")] == 8 and grid[table.columns.index("reached 1%")] == "1/1"
    assert _finite(table.column("chosen config test (replicated)"))


@pytest.mark.slow
def test_overhead_quick(ray_local):
    from benchmarks.overhead import bench

    per_trial, bookkeeping = bench(["--quick"])
    assert per_trial.columns == [
        "trainable",
        "run",
        "trials",
        "epochs each",
        "wall s",
        "× loop",
        "overhead s / trial",
    ]
    assert per_trial.column("trainable") == ["Toy", "Toy", "hybrid_sasrec_gnn", "hybrid_sasrec_gnn"]
    assert _finite(per_trial.column("wall s"))
    assert bookkeeping.columns == ["driver", "trials", "wall s", "trials / s", "wall × plain Ray Tune"]
    assert bookkeeping.column("trials") == [6, 6] and _finite(bookkeeping.column("trials / s"))


@pytest.mark.slow
def test_memory_quick(ray_local):
    from benchmarks.memory import bench

    (table,) = bench(["--quick"])
    assert table.columns == [
        "dataset",
        "peak PSS MiB",
        "peak RSS MiB",
        "PSS / dataset",
        "PSS × reference",
        "wall s",
    ]
    assert len(table.rows) == 2 and table.rows[0][table.columns.index("PSS × reference")] == 1.0
    assert _finite(table.column("peak RSS MiB"))
