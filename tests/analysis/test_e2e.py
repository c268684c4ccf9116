"""End to end on a local Ray: a real search + replication is analysed, and winner.yaml re-runs exactly the winner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import best, significance

TOY = str(Path(__file__).parents[1] / "tune" / "toy_spec.yaml")
pytestmark = pytest.mark.slow


def test_real_run_is_analysed_and_the_winner_spec_reproduces_it(ray_local, tmp_path: Path) -> None:
    from tune.run import main as run_main

    assert run_main([TOY, "--smoke", "--storage", str(tmp_path)]) == 0
    run_dir = tmp_path / "toy"
    assert (run_dir / "report" / "report.md").exists()  # tune.run writes the report at the end
    assert (run_dir / "report" / "learning_curves.png").stat().st_size > 0
    assert best.main([str(run_dir)]) == 0
    assert significance.main([str(run_dir)]) == 0
    assert "Warning: only 2 seed(s)" in (run_dir / "significance.md").read_text()

    assert run_main([str(run_dir / "winner.yaml"), "--storage", str(tmp_path / "again")]) == 0
    rerun = pd.read_csv(tmp_path / "again" / "toy_winner" / "summary.csv")
    replicated = pd.read_csv(run_dir / "replicate_summary.csv")
    top1 = replicated[replicated["group"] == "top1"]
    assert sorted(rerun["config/seed"]) == sorted(top1["config/seed"]) == [0, 1]
    both = top1.merge(rerun, on="config/seed", suffixes=("_rep", "_win"))
    for column in ("config/lr", "config/dim", "val/hr@5", "test/hr@5"):
        assert (both[f"{column}_rep"] == both[f"{column}_win"]).all(), column
