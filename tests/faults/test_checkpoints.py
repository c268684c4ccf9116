"""Scenarios 5 and 13: deleted, truncated and hostile checkpoints.

The runner restores from the newest *valid* checkpoint of a trial (older ones are tried, newest first), starts from
epoch 0 only when none is valid and says so in one line, and loads every checkpoint with ``weights_only=True``
explicitly, so a pickle planted in a checkpoint folder never runs, even with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from ray.tune import Checkpoint

from trainables.runner import CHECKPOINT_FILE, load_checkpoint_state, restore_newest_valid


def write_checkpoints(trial_dir: Path, epochs: int) -> list[Path]:
    """Checkpoints ``checkpoint_000000`` … like Ray's, each holding the runner's state of that epoch."""
    paths = []
    for epoch in range(epochs):
        path = trial_dir / f"checkpoint_{epoch:06d}"
        path.mkdir(parents=True)
        torch.save({"epoch": epoch, "weights": torch.full((3,), float(epoch))}, path / CHECKPOINT_FILE)
        paths.append(path)
    return paths


class _RunsCode:
    """Pickles to a call of ``os.system``: what a hostile checkpoint would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_newest_checkpoint_is_used_when_valid(tmp_path, capsys):
    paths = write_checkpoints(tmp_path, 3)
    state = restore_newest_valid(Checkpoint.from_directory(str(paths[-1])))
    assert state["epoch"] == 2 and torch.equal(state["weights"], torch.full((3,), 2.0))
    assert capsys.readouterr().out == ""


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    paths = write_checkpoints(tmp_path, 3)
    data = (paths[-1] / CHECKPOINT_FILE).read_bytes()
    (paths[-1] / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
    state = restore_newest_valid(Checkpoint.from_directory(str(paths[-1])))
    assert state["epoch"] == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "checkpoint_000002" in out[0] and "not usable" in out[0]


def test_deleted_checkpoints_fall_back_to_the_newest_left(tmp_path, capsys):
    paths = write_checkpoints(tmp_path, 3)
    shutil.rmtree(paths[2])
    (paths[1] / CHECKPOINT_FILE).unlink()
    state = restore_newest_valid(Checkpoint.from_directory(str(paths[2])))
    assert state["epoch"] == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "checkpoint_000002" in out[0] and "checkpoint_000001" in out[1]


def test_no_valid_checkpoint_means_epoch_0_said_in_one_line(tmp_path, capsys):
    paths = write_checkpoints(tmp_path, 2)
    for path in paths:
        (path / CHECKPOINT_FILE).write_bytes(b"PK\x03\x04 truncated")
    assert restore_newest_valid(Checkpoint.from_directory(str(paths[-1]))) is None
    out = capsys.readouterr().out.splitlines()
    assert (
        len(out) == 3 and out[-1] == "ranktune: no valid checkpoint left; the trial starts again from epoch 0"
    )


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_hostile_checkpoint_is_refused_and_never_runs(writer, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "executed"
    paths = write_checkpoints(tmp_path / "trial", 2)
    hostile = {"epoch": 99, "payload": _RunsCode(marker)}
    with (paths[-1] / CHECKPOINT_FILE).open("wb") as fh:
        torch.save(hostile, fh) if writer == "torch.save" else pickle.dump(hostile, fh)

    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_checkpoint_state(paths[-1])
    state = restore_newest_valid(Checkpoint.from_directory(str(paths[-1])))
    assert state["epoch"] == 0
    assert "checkpoint_000001" in capsys.readouterr().out
    assert not marker.exists()
