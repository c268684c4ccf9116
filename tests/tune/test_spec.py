"""Spec validation: every bad input is one SpecError naming file, key, value and what is allowed; exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tune.errors import SpecError
from tune.run import main
from tune.spec import load_spec

TOY = Path(__file__).with_name("toy_spec.yaml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def toy_with(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(TOY.read_text())
    for dotted, value in changes.items():
        node = raw
        parts = dotted.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return write(tmp_path, yaml.safe_dump(raw))


def error_of(path: Path, *overrides: str, smoke: bool = False) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path, list(overrides), smoke=smoke)
    return info.value


def test_the_toy_spec_is_valid():
    resolved = load_spec(TOY)
    assert resolved.num_trials == 2
    assert [d.key for d in resolved.dims] == ["lr", "dim"]


def test_malformed_yaml_names_file_and_line(tmp_path):
    err = error_of(write(tmp_path, "name: x\nspace: {lr: [1, 2\n"))
    assert "malformed YAML" in str(err) and str(tmp_path) in str(err)
    assert err.line is not None


def test_python_tag_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    err = error_of(write(tmp_path, f"name: !!python/object/apply:os.system ['touch {marker}']\n"))
    assert "tag not allowed" in str(err)
    assert not marker.exists()


def test_duplicate_key_names_both_lines(tmp_path):
    err = error_of(write(tmp_path, TOY.read_text() + "mode: min\n"))
    assert err.key == "mode" and "duplicate key" in str(err)


def test_empty_file(tmp_path):
    assert "empty" in str(error_of(write(tmp_path, "")))


def test_unknown_trainable_lists_the_registry(tmp_path):
    err = error_of(toy_with(tmp_path, trainable="hybrid_sasrec"))
    assert err.key == "trainable" and "hybrid_sasrec_gnn" in err.allowed


def test_misspelt_top_level_key(tmp_path):
    err = error_of(toy_with(tmp_path, metirc="val/hr@5"))
    assert err.key == "metirc" and "metric" in (err.allowed or "")


def test_misspelt_config_key_lists_the_knobs(tmp_path):
    err = error_of(toy_with(tmp_path, config__max_epoch=3))
    assert err.key == "config.max_epoch" and "max_epochs" in err.allowed


def test_wrong_type(tmp_path):
    err = error_of(toy_with(tmp_path, search__num_samples="many"))
    assert err.key == "search.num_samples"


def test_negative_num_samples(tmp_path):
    assert error_of(toy_with(tmp_path, search__num_samples=-1)).key == "search.num_samples"


def test_empty_grid(tmp_path):
    err = error_of(toy_with(tmp_path, space__dim={"grid": []}))
    assert err.key == "space.dim.grid" and "non-empty" in str(err)


def test_low_above_high(tmp_path):
    err = error_of(toy_with(tmp_path, space__lr={"uniform": [0.5, 0.1]}))
    assert err.key == "space.lr.uniform" and "low must be smaller" in str(err)


def test_loguniform_needs_positive_low(tmp_path):
    assert "log scale" in str(error_of(toy_with(tmp_path, space__lr={"loguniform": [0.0, 0.1]})))


def test_lr_must_be_positive(tmp_path):
    err = error_of(toy_with(tmp_path, space__lr={"choice": [0.01, -0.1]}))
    assert err.key == "space.lr" and err.value == -0.1 and "> 0" in err.allowed


def test_unknown_space_key(tmp_path):
    err = error_of(toy_with(tmp_path, space__learning_rate={"choice": [0.1]}))
    assert err.key == "space.learning_rate" and "lr" in err.allowed


def test_unknown_scheduler(tmp_path):
    err = error_of(toy_with(tmp_path, scheduler__type="pbt"))
    assert err.key == "scheduler.type" and "asha" in err.allowed


def test_metric_never_reported(tmp_path):
    err = error_of(toy_with(tmp_path, metric="val/hr@10"))
    assert err.key == "metric" and "val/hr@5" in err.allowed


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    resolved = load_spec(
        write(tmp_path, TOY.read_text().replace("config: {max_epochs: 4}", "config: {weight_decay: 1e-3}"))
    )
    assert resolved.spec.config["weight_decay"] == pytest.approx(0.001)


def test_set_overrides_and_smoke(tmp_path):
    resolved = load_spec(TOY, ["search.num_samples=3", "space.dim={grid: [2, 4, 8]}"], smoke=True)
    assert resolved.spec.search.num_samples == 3
    assert resolved.num_trials == 9
    assert resolved.spec.config["max_epochs"] == 2


def test_grid_algorithm_rejects_continuous_dimensions(tmp_path):
    err = error_of(toy_with(tmp_path, search__algorithm="grid"))
    assert err.key == "space.lr" and "grid or choice" in err.allowed


def test_missing_data_file_exits_2_before_ray(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        TOY.read_text().replace("trainable: trainables.toy:Toy", "trainable: trainables.toy:Nope")
    )
    assert main([str(spec), "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_exit_code_2_with_one_line(tmp_path, capsys):
    code = main([str(toy_with(tmp_path, config__lr=0)), "--storage", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "config.lr" in err
    assert not (tmp_path / "out").exists()


def test_name_collision_exits_2_and_leaves_folder_unchanged(tmp_path, capsys):
    run_dir = tmp_path / "toy"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("mine")
    assert main([str(TOY), "--storage", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert [p.name for p in run_dir.iterdir()] == ["keep.txt"] and (
        run_dir / "keep.txt"
    ).read_text() == "mine"


def test_dry_run_prints_trials_and_resources(tmp_path, capsys):
    assert main([str(TOY), "--dry-run", "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 trial(s)" in out and "cpu=1 gpu=0" in out and "sampled configs" in out
    assert not (tmp_path / "toy").exists()
