"""analysis.report and analysis.plots on the fake result folder: files, valid PNGs, tables, partial runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from analysis import plots, report
from analysis.io import load_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0).shape[0] > 2  # something was drawn


def _linked_images(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def test_report_writes_markdown_and_every_plot(run_dir: Path, capsys) -> None:
    assert report.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    text = (run_dir / "report" / "report.md").read_text()
    assert out == text + "\n"
    expected = {
        "metric_vs_alpha.png",
        "metric_vs_lr.png",
        "metric_vs_num_negatives.png",
        "learning_curves.png",
        "asha_rungs.png",
        "group_metrics.png",
        "group_alpha.png",
        "importance.png",
    }
    assert set(_linked_images(text)) == expected
    for name in expected:
        _assert_valid_png(run_dir / "report" / name)
    assert "configs were chosen on the validation split during the search phase" in text
    assert "reported on the test split" in text
    assert "Seeds: 5 (0, 1, 2, 3, 4)" in text and "Warning" not in text
    assert "2 failed trial(s) (ERROR/DIVERGED) are skipped" in text
    assert "| t4 | ERROR | RuntimeError: boom |" in text
    assert "| top1 | baseline:sasrec_only | test/hr@10 | 5 |" in text
    assert "| metric | group | top1 | top2 | baseline:sasrec_only |" in text
    assert (
        "| alpha_mean | long | 0.6000 [0.6000, 0.6000] | 0.4000 [0.4000, 0.4000] | 1.1000 [1.1000, 1.1000] |"
        in text
    )


def test_rung_table_counts_trials_reaching_each_rung(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert plots.rungs(run) == [1, 3, 9]  # grace 1 × 3^k up to max_epochs 9
    table = plots.rung_table(run)
    assert table["trials reaching it"].tolist() == [6, 3, 2]


def test_group_metrics_over_seeds(run_dir: Path) -> None:
    table = plots.group_metrics(load_run(run_dir)).set_index(["config", "group", "metric"])
    assert table.loc[("top1", "short", "hr@10"), "mean"] == pytest.approx(0.4004 - 0.05)
    assert table.loc[("baseline:sasrec_only", "long", "alpha_mean"), "mean"] == pytest.approx(1.1)
    assert len(table) == 3 * 2 * 2  # 3 replicated configs × (short, long) × (hr@10, alpha_mean)


def test_importance_covers_every_searched_knob(run_dir: Path) -> None:
    values = plots.importance(load_run(run_dir))
    assert set(values.index) == {"alpha", "lr", "num_negatives"}
    assert values.sum() == pytest.approx(1.0) and (values >= 0).all()
    assert values.equals(plots.importance(load_run(run_dir)))  # seeded fANOVA: same numbers every time


def test_report_without_replication_and_with_few_seeds(make_run_dir, capsys) -> None:
    run_dir = make_run_dir(replicate=False)
    assert report.main([str(run_dir)]) == 0
    text = (run_dir / "report" / "report.md").read_text()
    assert "replicate_summary.csv` is absent" in text
    assert "## Per-group metrics and α statistics (top search trials)" in text
    for name in _linked_images(text):
        _assert_valid_png(run_dir / "report" / name)
    assert "top1 (mean" not in text


def test_report_warns_below_five_seeds(make_run_dir) -> None:
    run_dir = make_run_dir(seeds=(0, 1, 2))
    assert report.main([str(run_dir)]) == 0
    assert "**Warning: only 3 seed(s); use at least 5" in (run_dir / "report" / "report.md").read_text()


def test_analysis_imports_neither_ray_nor_torch() -> None:
    code = (
        "import sys, analysis.best, analysis.significance, analysis.report, analysis.plots\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'torch'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_group_metrics_shown_are_the_selection_metric_ndcg_alpha_and_count(run_dir: Path) -> None:
    names = ["hr@5", "ndcg@5", "mrr@5", "hr@10", "ndcg@10", "mrr@10", "alpha_mean", "alpha_std", "count"]
    shown = plots.group_metric_names(load_run(run_dir), names)
    assert shown == ["hr@10", "ndcg@10", "alpha_mean", "alpha_std", "count"]
