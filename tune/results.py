"""Result files written beside Ray's experiment folder: ``summary.csv``, ``best.json``, ``manifest.json``.

They are built from the trial folders on disk (``params.json`` + ``progress.csv`` + ``error.txt``), not from the
driver's memory, so they are the same after an interruption and a ``--resume``, and can be rebuilt later.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from trainables.runner import TIMEOUT_MARKER

DIVERGED_MARK = "TrialDivergedError"


def flatten(d: dict[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (``sep`` joins the keys)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, sep, f"{prefix}{k}{sep}"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_progress(trial_dir: Path) -> pd.DataFrame:
    """A trial's ``progress.csv`` with the rows a restored trial wrote twice removed (last row per epoch kept)."""
    path = trial_dir / "progress.csv"
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        # a driver killed mid-write can leave a torn last line: skip malformed rows instead of failing
        df = pd.read_csv(path, on_bad_lines="skip")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()
    if "epoch" in df.columns:
        df["epoch"] = pd.to_numeric(df["epoch"], errors="coerce")
        df = df[df["epoch"].notna()]
        df = df.drop_duplicates(subset="epoch", keep="last").sort_values("epoch").reset_index(drop=True)
    return df


def failure_count(trial_dir: Path) -> int:
    """Failed attempts of a trial: Ray appends one ``Failure # N`` block to ``error.txt`` per failure."""
    path = trial_dir / "error.txt"
    if not path.exists():
        return 0
    return sum(1 for ln in path.read_text(errors="replace").splitlines() if ln.startswith("Failure # "))


def _error_line(trial_dir: Path) -> tuple[str, str]:
    path = trial_dir / "error.txt"
    if not path.exists():
        return "", ""
    text = path.read_text(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # the root cause is the last "SomeError: message" line of the (possibly nested) traceback
    causes = [
        ln
        for ln in lines
        if ":" in ln and ln.split(":", 1)[0].split(".")[-1].endswith(("Error", "Exception"))
    ]
    line = causes[-1] if causes else (lines[-1] if lines else "")
    return line[:500], str(path)


def trial_dirs(experiment_dir: Path) -> list[Path]:
    """Trial folders of a Ray experiment folder (those holding a ``params.json``)."""
    return sorted(p.parent for p in experiment_dir.glob("*/params.json"))


def summarize(
    experiment_dir: Path, run_dir: Path, states: dict[str, tuple[str, str]] | None = None
) -> pd.DataFrame:
    """One row per trial: status, epochs, failures, best epoch, config, metrics at the best validation epoch, error.

    ``failures`` counts failed attempts (a retried trial that then finished is ``TERMINATED`` with ``failures`` > 0,
    and ``error`` names the cause of its last failure, e.g. Ray's ``OutOfMemoryError``).

    ``states`` maps a trial folder name to ``(trial_id, Ray status)`` (from Ray's experiment state); a folder it
    does not name is left out (the old folder of a trial that ``--restart-errored`` replaced), and without it every
    folder is a trial and one with reported epochs counts as ``TERMINATED``. An error whose root cause is a divergence is ``DIVERGED``.
    """
    states = states or {}
    rows = []
    for tdir in trial_dirs(experiment_dir):
        if states and tdir.name not in states:
            continue  # replaced: --restart-errored starts a failed trial again as a new trial in a new folder
        params = json.loads((tdir / "params.json").read_text())
        progress = read_progress(tdir)
        error, error_file = _error_line(tdir)
        trial_id, status = states.get(tdir.name, ("", ""))
        if not trial_id:
            has_id = not progress.empty and "trial_id" in progress.columns
            trial_id = str(progress["trial_id"].iloc[-1]) if has_id else tdir.name
        epochs = int(progress["epoch"].max()) if "epoch" in progress.columns and not progress.empty else 0
        if (tdir / TIMEOUT_MARKER).exists() and status in ("", "ERROR"):
            status = "TIMED_OUT"
            error = error or (tdir / TIMEOUT_MARKER).read_text().strip()
        elif error and status in ("", "ERROR"):
            status = "DIVERGED" if DIVERGED_MARK in error else "ERROR"
        elif not status:
            status = "TERMINATED" if epochs > 0 else "PENDING"
        row: dict[str, Any] = {
            "trial_id": trial_id,
            "status": status,
            "epochs": epochs,
            "failures": failure_count(tdir),
            "best_epoch": math.nan,
            **{f"config/{k}": v for k, v in flatten(params).items()},
        }
        if not progress.empty and "best_epoch" in progress.columns:
            last = progress.iloc[-1]
            best_epoch = int(last["best_epoch"])
            row["best_epoch"] = best_epoch
            at_best = progress[progress["epoch"] == best_epoch]
            at_best = at_best.iloc[-1] if not at_best.empty else last
            for col in progress.columns:
                if col.startswith("val/"):
                    row[col] = at_best[col]
                elif col.startswith("test/"):
                    row[col] = last[col]
        row["error"] = error
        row["error_file"] = str(Path(error_file).relative_to(run_dir)) if error_file else ""
        row["logdir"] = str(tdir.relative_to(run_dir))
        rows.append(row)
    return pd.DataFrame(rows)


def best_row(summary: pd.DataFrame, metric: str, mode: str) -> pd.Series | None:
    """The trial whose best validation value is best; errored/diverged trials and NaN values are ignored."""
    if summary.empty or metric not in summary.columns:
        return None
    ok = summary[summary["status"].isin(["TERMINATED", "RUNNING"]) & summary[metric].notna()]
    if ok.empty:
        return None
    idx = ok[metric].idxmax() if mode == "max" else ok[metric].idxmin()
    return ok.loc[idx]


def best_record(row: pd.Series, metric: str, mode: str) -> dict[str, Any]:
    """``best.json`` content for a summary row."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        return v.item() if hasattr(v, "item") else v

    config: dict[str, Any] = {}
    for k, v in row.items():
        if k.startswith("config/"):
            node = config
            parts = k[len("config/") :].split(".")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = clean(v)
    return {
        "trial_id": row["trial_id"],
        "metric": metric,
        "mode": mode,
        "value": clean(row[metric]),
        "best_epoch": clean(row["best_epoch"]),
        "epochs": clean(row["epochs"]),
        "config": config,
        "val": {k: clean(v) for k, v in row.items() if k.startswith("val/")},
        "test": {k: clean(v) for k, v in row.items() if k.startswith("test/")},
        "path": row["logdir"],
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def manifest(argv: list[str], spec_raw: dict[str, Any], summary: pd.DataFrame) -> dict[str, Any]:
    """Everything needed to reproduce the run: argv, seeds, versions, commit, every trial's resolved config."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in (
        "ranktune",
        "ray",
        "torch",
        "torch-geometric",
        "optuna",
        "pandas",
        "numpy",
        "pydantic",
        "scipy",
    ):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    configs = {}
    for _, row in summary.iterrows():
        configs[str(row["trial_id"])] = {
            k[len("config/") :]: (v.item() if hasattr(v, "item") else v)
            for k, v in row.items()
            if k.startswith("config/")
        }
    return {
        "argv": argv,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": _git_commit(),
        "search_seed": spec_raw.get("search", {}).get("seed", 0),
        "data_seed": spec_raw.get("data", {}).get("seed", 0),
        "trials": configs,
    }
