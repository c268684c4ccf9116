"""Scenarios 7, 12 and 14: hostile specs, name collisions and broken data files.

Each bad input must give exit code 2 and exactly one line on stderr naming the file (and the line, key and allowed
values where they exist) before Ray is started (the ``no_ray`` fixture fails the test if it is), and nothing in the
input may be executed or written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tune.run import main
from tune.spec import load_spec

TOY = (Path(__file__).resolve().parents[1] / "tune" / "toy_spec.yaml").read_text()
LR = "lr: {loguniform: [1.0e-2, 3.0e-1]}"


def run_refused(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Run the CLI on a bad input; assert exit 2 and a single stderr line; return that line."""
    code = main([str(path), "--storage", str(path.parent / "results"), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(path) in err
    assert not (path.parent / "results").exists()
    return err


SPEC_CASES = {
    # case: (spec text, substrings the one line must hold)
    "python_tag": (
        "name: !!python/object/apply:os.system ['touch {marker}']\ntrainable: trainables.toy:Toy\n",
        [":1:", "YAML tag not allowed", "allowed: plain YAML values"],
    ),
    "duplicate_key": (TOY + "mode: min\n", [":17,", "key 'mode'", "duplicate key (first at line 10)"]),
    "empty_file": ("", ["the spec file is empty", "allowed: a mapping"]),
    "low_above_high": (
        TOY.replace(LR, "lr: {uniform: [0.5, 0.1]}"),
        [":7,", "key 'space.lr.uniform'", "[0.5, 0.1]", "low must be smaller than high"],
    ),
    "loguniform_low_zero": (
        TOY.replace(LR, "lr: {loguniform: [0.0, 0.1]}"),
        [":7,", "key 'space.lr.loguniform'", "a log scale needs low > 0"],
    ),
    "empty_grid": (
        TOY.replace("dim: {grid: [4, 8]}", "dim: {grid: []}"),
        [":8,", "key 'space.dim.grid'", "non-empty list"],
    ),
    "unknown_scheduler": (
        TOY.replace("scheduler: {type: fifo}", "scheduler: {type: pbt}"),
        [":12,", "key 'scheduler.type'", "'pbt'", "allowed: 'fifo', 'asha' or 'hyperband'"],
    ),
    "negative_num_samples": (
        TOY.replace("num_samples: 1,", "num_samples: -1,"),
        [":11,", "key 'search.num_samples'", "-1", "greater than or equal to 1"],
    ),
    "metric_never_reported": (
        TOY.replace("metric: val/hr@5", "metric: val/hr@10"),
        [":9,", "key 'metric'", "'val/hr@10'", "allowed: val/hr@1, val/hr@5"],
    ),
    "knob_out_of_range": (
        TOY.replace("config: {max_epochs: 4}", "config: {max_epochs: 0}"),
        [":5,", "key 'config.max_epochs'", "allowed: int >= 1"],
    ),
    "unknown_knob": (
        TOY.replace("config: {max_epochs: 4}", "config: {max_epoch: 4}"),
        [":5,", "key 'config.max_epoch'", "max_epochs"],
    ),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_bad_spec_is_refused_in_one_line_before_ray(case, tmp_path, capsys, no_ray):
    text, expected = SPEC_CASES[case]
    marker = tmp_path / "executed"
    path = tmp_path / f"{case}.yaml"
    path.write_text(text.replace("{marker}", str(marker)))
    err = run_refused(path, capsys)
    for part in expected:
        assert part in err, (part, err)
    assert not marker.exists()


def test_misspelt_top_level_key_is_named(tmp_path, capsys, no_ray):
    path = tmp_path / "misspelt.yaml"
    path.write_text(TOY.replace("metric:", "metirc:"))
    err = run_refused(path, capsys)
    assert "key 'metirc'" in err and "metric" in err.split("allowed:")[1]


def test_exponent_without_dot_is_read_as_a_float_not_passed_on_as_a_string(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        TOY.replace("config: {max_epochs: 4}", "config: {max_epochs: 4, weight_decay: 1e-3}").replace(
            LR, "lr: {choice: [1e-3, 2e-2]}"
        )
    )
    resolved = load_spec(path)
    assert (
        resolved.spec.config["weight_decay"] == 0.001 and type(resolved.spec.config["weight_decay"]) is float
    )
    assert list(resolved.dims[0].args) == [0.001, 0.02]
    assert all(type(v) is float for v in resolved.dims[0].args)


def test_bad_override_is_refused_too(tmp_path, capsys, no_ray):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    code = main([str(path), "--storage", str(tmp_path / "results"), "--set", "search.num_samples=-1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "search.num_samples" in err


def test_name_collision_exits_2_and_leaves_the_folder_byte_for_byte(
    tmp_path, capsys, no_ray, toy_spec, digest
):
    spec = toy_spec(tmp_path)
    run_dir = tmp_path / "results" / "toy"
    (run_dir / "search" / "trial_a").mkdir(parents=True)
    (run_dir / "summary.csv").write_text("trial_id,status\na,TERMINATED\n")
    (run_dir / "search" / "trial_a" / "progress.csv").write_bytes(b"epoch\n1\n2\n")
    before = digest(run_dir)
    code = main([str(spec), "--storage", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "already exists" in err and "--resume" in err and str(run_dir) in err
    assert digest(run_dir) == before


# ---- scenario 14: data files, one per loader that reads user files ----------------------------------------------

HYBRID_OK = "".join(f"{u}\t{i}\t5\t{100 * u + i}\n" for u in range(1, 5) for i in range(1, 6))
TWO_TOWER_HEAD = "actor,action,target,timestamp\n"
TWO_TOWER_OK = TWO_TOWER_HEAD + "".join(
    f"{u},0,{u % 4 + 1},{10 * u + k}\n" for u in range(1, 5) for k in range(4)
)

DATA_CASES = {
    # case: (trainable, data config without path, file name, file text, substrings of the one line)
    "hybrid_truncated": (
        "hybrid_sasrec_gnn",
        {"source": "movielens"},
        "u.data",
        HYBRID_OK + "5\t1\t5\n",
        ["truncated"],
    ),
    "hybrid_wrong_delimiter": (
        "hybrid_sasrec_gnn",
        {"source": "movielens", "format": "ml-100k"},
        "u.data",
        HYBRID_OK.replace("\t", ","),
        ["separator", "expected 4"],
    ),
    "hybrid_wrong_columns": (
        "hybrid_sasrec_gnn",
        {"source": "movielens"},
        "ratings.inter",
        "user_id:token\tmovie:token\ttimestamp:float\n1\t2\t3\n",
        ["header has no column"],
    ),
    "hybrid_non_numeric_id": (
        "hybrid_sasrec_gnn",
        {"source": "movielens"},
        "u.data",
        HYBRID_OK.replace("3\t2\t5", "bob\t2\t5"),
        ["column 'user'", "'bob'"],
    ),
    "hybrid_empty_after_filtering": (
        "hybrid_sasrec_gnn",
        {"source": "movielens", "min_interactions": 10},
        "u.data",
        HYBRID_OK,
        ["no user has at least 10 interactions"],
    ),
    "two_tower_truncated": (
        "two_tower",
        {"source": "csv"},
        "events.csv",
        TWO_TOWER_OK + "5,0\n",
        ["missing value"],
    ),
    "two_tower_wrong_delimiter": (
        "two_tower",
        {"source": "csv"},
        "events.csv",
        TWO_TOWER_OK.replace(",", ";"),
        ["missing column"],
    ),
    "two_tower_wrong_columns": (
        "two_tower",
        {"source": "csv"},
        "events.csv",
        TWO_TOWER_OK.replace("actor,", "user,"),
        ["missing column", "actor"],
    ),
    "two_tower_non_numeric_id": (
        "two_tower",
        {"source": "csv"},
        "events.csv",
        TWO_TOWER_OK.replace("\n2,0,", "\nbob,0,"),
        ["column 'actor'", "'bob'", "not an integer id"],
    ),
    "two_tower_empty_after_filtering": (
        "two_tower",
        {"source": "csv", "min_events": 5},
        "events.csv",
        TWO_TOWER_OK,
        ["no actor has at least min_events=5"],
    ),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_file_is_refused_in_one_line_before_ray(case, tmp_path, capsys, no_ray):
    from trainables import resolve

    trainable, data, file_name, text, expected = DATA_CASES[case]
    data_file = tmp_path / file_name
    data_file.write_text(text)
    cls = resolve(trainable)
    metric = "val/" + cls.metric_names(cls.Config()).eval[0]
    spec = tmp_path / "spec.yaml"
    raw = {"name": case, "trainable": trainable, "data": {**data, "path": str(data_file)}, "metric": metric}
    spec.write_text(yaml.safe_dump(raw))
    err = run_refused(spec, capsys)
    assert "key 'data'" in err and str(data_file) in err, err
    for part in expected:
        assert part in err, (part, err)


def test_hetero_csv_tables_with_a_bad_value_are_refused(tmp_path, capsys, no_ray):
    from trainables import resolve

    tables = tmp_path / "hr"
    tables.mkdir()
    (tables / "employees.csv").write_text(
        "employee_id,department_id,manager_id,left,age\n1,1,,0,30\n2,1,1,1,x40\n"
    )
    (tables / "positions.csv").write_text("position_id,department_id,level\n1,1,2\n")
    (tables / "preferences.csv").write_text("employee_id,position_id\n1,1\n")
    cls = resolve("hetero_twostage")
    metric = "val/" + cls.metric_names(cls.Config()).eval[0]
    spec = tmp_path / "spec.yaml"
    raw = {"name": "hr", "trainable": "hetero_twostage", "data": {"source": "csv", "path": str(tables)}}
    spec.write_text(yaml.safe_dump({**raw, "metric": metric}))
    err = run_refused(spec, capsys)
    assert "employees.csv" in err and "key 'data'" in err, err
