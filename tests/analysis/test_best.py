"""analysis.io and analysis.best on the fake result folder of conftest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import best
from analysis.io import RunDirError, load_run, read_progress, read_yaml


def test_progress_keeps_the_last_row_of_a_rewritten_epoch(run_dir: Path) -> None:
    run = load_run(run_dir)
    row = run.summary[run.summary["trial_id"] == "t0"].iloc[0]
    progress = run.progress(row)
    raw = pd.read_csv(run_dir / row["logdir"] / "progress.csv")
    assert len(raw) == 11 and len(progress) == 9
    assert progress["epoch"].tolist() == list(range(1, 10))
    # the stale -1 rows written before the restore are gone; epochs 4, 5 hold 0.30 * e / 8
    assert progress["val/hr@10"].tolist()[3:5] == pytest.approx([0.15, 0.1875])
    assert (progress["val/hr@10"] > 0).all()


def test_read_progress_of_missing_or_empty_file(tmp_path: Path) -> None:
    assert read_progress(tmp_path / "nope.csv").empty
    (tmp_path / "empty.csv").write_text("")
    assert read_progress(tmp_path / "empty.csv").empty


def test_top_table_expected_rows(run_dir: Path) -> None:
    run = load_run(run_dir)
    table = best.top_table(run, k=3)
    assert table["trial_id"].tolist() == ["t1", "t0", "t2"]
    assert table["alpha"].tolist() == [0.5, 0.3, 0.7]
    assert table["num_negatives"].tolist() == [4, 1, 4]
    assert table["val/hr@10"].tolist() == [0.42, 0.30, 0.25]
    assert table["test/hr@10"].tolist() == [0.40, 0.28, 0.24]
    assert table["best_epoch"].tolist() == [9, 8, 3]
    assert table["epochs"].tolist() == [9, 9, 3]
    assert set(table["status"]) == {"TERMINATED"}


def test_best_cli_writes_tables_and_counts_failures(run_dir: Path, capsys) -> None:
    assert best.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Trials: 6 (1 DIVERGED, 1 ERROR, 4 TERMINATED); 2 failed trial(s) skipped." in out
    csv = pd.read_csv(run_dir / "best.csv")
    assert csv["trial_id"].tolist() == ["t1", "t0", "t2", "t3"]
    assert (run_dir / "best.md").read_text() + "\n" == out
    assert "| 1 | t1 | 0.5000 | 0.0020 | 4 | 0.4200 | 0.4000 | 9 | 9 | TERMINATED |" in out


def test_winner_yaml_fixes_the_winner_and_grids_the_seeds(run_dir: Path) -> None:
    from tune.space import parse_space
    from tune.spec import ExperimentSpec

    run = load_run(run_dir)
    spec = run.spec
    path, _ = best.write_winner(run)
    winner = read_yaml(path)
    assert winner["config"] == {**spec["config"], "alpha": 0.5, "lr": 0.002, "num_negatives": 4}
    assert isinstance(winner["config"]["num_negatives"], int)
    assert winner["space"] == {"seed": {"grid": [0, 1, 2, 3, 4]}}
    assert winner["search"]["algorithm"] == "grid" and winner["search"]["num_samples"] == 1
    assert winner["scheduler"] == {"type": "fifo"} and "replicate" not in winner
    assert winner["smoke"]["space"] == {"seed": {"grid": [0]}} and "search" not in winner["smoke"]
    ExperimentSpec(**winner)  # the spec schema of tune.run accepts it (unknown keys would be rejected)
    dims = parse_space(winner["space"])
    assert [d.key for d in dims] == ["seed"] and dims[0].is_enumerated
    assert path.read_text().startswith("# Winner of experiment 'fake_alpha': replicated config top1")


def test_replication_decides_the_winner_on_validation(make_run_dir) -> None:
    # top2 (t0's config) gets a better mean *validation* metric over seeds: it wins although t1 won the search
    run = load_run(make_run_dir(top2_val_boost=0.1))
    values, reason = best.choose_winner(run)
    assert values == {"alpha": 0.3, "lr": 0.001, "num_negatives": 1}
    assert reason.startswith("replicated config top2")


def test_without_replication_the_search_winner_is_used(make_run_dir) -> None:
    run = load_run(make_run_dir(replicate=False))
    values, reason = best.choose_winner(run)
    assert values == {"alpha": 0.5, "lr": 0.002, "num_negatives": 4}
    assert reason == "search trial t1 has the best val/hr@10 (0.4200)"
    assert best.winner_spec(run, values)["space"] == {"seed": {"grid": [0, 1, 2, 3, 4]}}


def test_interrupted_run_without_summary_is_rebuilt_from_trial_folders(make_run_dir) -> None:
    run = load_run(make_run_dir(replicate=False, summary=False))
    assert run.rebuilt
    statuses = dict(zip(run.summary["trial_id"], run.summary["status"]))
    assert statuses == {
        "t0": "TERMINATED",
        "t1": "TERMINATED",
        "t2": "INCOMPLETE",
        "t3": "INCOMPLETE",
        "t4": "ERROR",
        "t5": "ERROR",
    }
    table = best.top_table(run, k=2)
    assert table["trial_id"].tolist() == ["t1", "t0"]
    assert table["val/hr@10"].tolist() == pytest.approx([0.42, 0.30])
    assert table["best_epoch"].tolist() == [9, 8]


@pytest.mark.parametrize("layout", ["missing", "empty", "no_summary", "bad_yaml"])
def test_not_a_result_folder_exits_2_with_one_line(
    tmp_path: Path, run_dir: Path, layout: str, capsys
) -> None:
    target = tmp_path / "target"
    if layout != "missing":
        target.mkdir()
    if layout == "no_summary":
        shutil.copy(run_dir / "spec.yaml", target / "spec.yaml")
    if layout == "bad_yaml":
        (target / "spec.yaml").write_text("name: [unclosed\n")
    from analysis import report, significance

    for module in (best, significance, report):
        assert module.main([str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {target}") and "\n" not in err
    with pytest.raises(RunDirError):
        load_run(target)


def test_folder_copied_from_a_cluster_finds_trials_by_id(run_dir: Path) -> None:
    summary = pd.read_csv(run_dir / "summary.csv")
    summary["logdir"] = (
        "/mnt/cluster-nfs/results/fake_alpha/" + summary["logdir"]
    )  # absolute, gone on a laptop
    summary.to_csv(run_dir / "summary.csv", index=False)
    run = load_run(run_dir)
    progress = run.progress(run.summary[run.summary["trial_id"] == "t1"].iloc[0])
    assert progress["epoch"].tolist() == list(range(1, 10))
