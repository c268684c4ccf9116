"""The analysis half of the matrix: rows a restored trial writes again are counted once.

A trial restored from its epoch-2 checkpoint reports epoch 2 again (``restored_from_epoch`` 2), so its progress file
holds that epoch twice. Both readers keep one row per epoch (the last one), so a resumed experiment's tables
equal an uninterrupted one's.
"""

from __future__ import annotations

import pandas as pd

from analysis.io import read_progress as analysis_read_progress
from tune.results import read_progress, summarize

ROWS = [
    # epoch, restored_from_epoch, val/hr@5, best_epoch
    (1, 0, 0.25, 1),
    (2, 0, 0.50, 2),
    (2, 2, 0.50, 2),
    (3, 2, 0.75, 3),
    (4, 2, 0.70, 3),
]


def write_trial(trial_dir):
    trial_dir.mkdir(parents=True)
    (trial_dir / "params.json").write_text('{"lr": 0.1}')
    frame = pd.DataFrame(ROWS, columns=["epoch", "restored_from_epoch", "val/hr@5", "best_epoch"])
    frame["test/hr@5"] = [0.2, 0.4, 0.4, 0.6, 0.6]
    frame.to_csv(trial_dir / "progress.csv", index=False)
    (trial_dir / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-01-01_00-00-00)\nRuntimeError: injected failure at epoch 3\n"
    )


def test_both_readers_keep_one_row_per_epoch(tmp_path):
    write_trial(tmp_path / "search" / "trial_a")
    ours = read_progress(tmp_path / "search" / "trial_a")
    theirs = analysis_read_progress(tmp_path / "search" / "trial_a" / "progress.csv")
    for frame in (ours, theirs):
        assert list(frame["epoch"]) == [1, 2, 3, 4]
        assert list(frame["restored_from_epoch"]) == [0, 2, 2, 2]  # the last row of epoch 2 wins


def test_summary_counts_epochs_and_failures_of_a_restored_trial(tmp_path):
    write_trial(tmp_path / "search" / "trial_a")
    summary = summarize(tmp_path / "search", tmp_path, {"trial_a": ("a", "TERMINATED")})
    row = summary.iloc[0]
    assert (row["trial_id"], row["status"], row["epochs"], row["failures"], row["best_epoch"]) == (
        "a",
        "TERMINATED",
        4,
        1,
        3,
    )
    assert row["val/hr@5"] == 0.75 and row["error"] == "RuntimeError: injected failure at epoch 3"
