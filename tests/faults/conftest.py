"""Helpers of the fault matrix (see docs/reliability.md): toy specs, a guard that Ray is never started, CLI runs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOY_SPEC = ROOT / "tests" / "tune" / "toy_spec.yaml"


def write_toy_spec(tmp_path: Path, name: str = "toy", **sections: Any) -> Path:
    """The toy spec with whole sections replaced (``config={...}``, ``space={...}``) written to ``tmp_path``."""
    raw = yaml.safe_load(TOY_SPEC.read_text())
    raw.pop("replicate", None)
    raw["name"] = name
    raw.update(sections)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tree_digest(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (byte-for-byte comparison of a folder)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(
    args: list[str], timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m tune.run ARGS`` in a fresh process (its own local Ray), from the repository root."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tune.run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if ``tune.run.main`` gets as far as connecting to Ray or building a Tuner."""
    import tune.orchestrate

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Ray was started for an input that should have been refused")

    monkeypatch.setattr(tune.orchestrate, "run_search", refuse)
    monkeypatch.setattr(tune.orchestrate, "connect", refuse)


@pytest.fixture(scope="session")
def toy_spec():
    """:func:`write_toy_spec` (test modules cannot import this conftest under ``--import-mode=importlib``)."""
    return write_toy_spec


@pytest.fixture(scope="session")
def digest():
    """:func:`tree_digest`."""
    return tree_digest


@pytest.fixture(scope="session")
def cli():
    """:func:`run_cli`."""
    return run_cli
