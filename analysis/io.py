"""Load a finished (or interrupted) ranktune result folder with nothing but the folder itself.

The layout is the one in ``docs/architecture.md``: ``spec.yaml``, ``summary.csv``, ``best.json``,
``search/<trial>/{params.json,progress.csv}``, and after replication ``replicate_summary.csv`` and ``replicate/``.
Nothing here imports Ray or torch, so a folder copied from a cluster's storage can be analysed on a laptop.

Two things real folders do that this module absorbs:

* a trial restored from a checkpoint writes some ``progress.csv`` rows again: :func:`read_progress` keeps the
  last row of each epoch;
* an interrupted run may have no ``summary.csv`` (or ``replicate_summary.csv``) yet: :func:`summary_from_trials`
  (and :func:`replicate_from_trials`) rebuild it from the trial folders (status ``ERROR`` where Ray left an ``error.txt``, ``INCOMPLETE`` where a trial stopped before
  ``max_epochs``, which the folder alone cannot tell apart from an early stop by ASHA).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

SPEC_FILE = "spec.yaml"
SUMMARY_FILE = "summary.csv"
BEST_FILE = "best.json"
REPLICATE_FILE = "replicate_summary.csv"
#: Statuses of trials whose results are not used (they are counted and reported instead).
FAILED_STATUSES = ("ERROR", "DIVERGED")
KINDS = ("grid", "choice", "uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint")


class RunDirError(Exception):
    """The folder is not a ranktune result folder (or its spec is unreadable); the CLIs exit with code 2."""


class _Loader(yaml.SafeLoader):
    """Safe YAML that reads ``1e-3`` as a float, as ``tune`` does when it writes and reads specs."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with safe construction only."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def flatten_space(space: dict[str, Any], prefix: str = "") -> dict[str, tuple[str, list[Any]]]:
    """``{dotted key: (kind, args)}`` for every searched knob of a spec's ``space:`` (nested or dotted keys)."""
    out: dict[str, tuple[str, list[Any]]] = {}
    for name, value in (space or {}).items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS:
            kind, args = next(iter(value.items()))
            out[key] = (kind, list(args))
        elif isinstance(value, dict):
            out.update(flatten_space(value, prefix=f"{key}."))
    return out


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config → ``{dotted key: value}`` (the ``config/<key>`` columns of ``summary.csv``)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(flatten_config(v, prefix=f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_progress(path: Path) -> pd.DataFrame:
    """A trial's ``progress.csv``, one row per epoch (the last row wins when a restore re-wrote an epoch)."""
    try:
        frame = pd.read_csv(path, on_bad_lines="skip")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()
    key = "epoch" if "epoch" in frame.columns else "training_iteration"
    if key not in frame.columns:
        return pd.DataFrame()
    frame = frame[pd.to_numeric(frame[key], errors="coerce").notna()].copy()
    frame[key] = frame[key].astype(int)
    frame = frame.drop_duplicates(subset=key, keep="last").sort_values(key).reset_index(drop=True)
    return frame.rename(columns={key: "epoch"})


def max_epochs(spec: dict[str, Any]) -> int | None:
    """Epochs of a full trial: the scheduler's ``max_t``, else the fixed ``config.max_epochs`` (None if neither)."""
    sched = spec.get("scheduler") or {}
    value = sched.get("max_t") or (spec.get("config") or {}).get("max_epochs")
    return int(value) if value is not None else None


def summary_from_trials(experiment: Path, spec: dict[str, Any]) -> pd.DataFrame:
    """Rebuild ``summary.csv`` rows from the trial folders of an experiment folder (``search/``)."""
    rows = []
    full = max_epochs(spec)
    for trial_dir in sorted(p for p in experiment.iterdir() if p.is_dir()):
        params_file = trial_dir / "params.json"
        if not params_file.exists():
            continue
        params = json.loads(params_file.read_text(encoding="utf-8"))
        progress = read_progress(trial_dir / "progress.csv")
        row: dict[str, Any] = {f"config/{k}": v for k, v in flatten_config(params).items()}
        row["trial_id"] = str(progress["trial_id"].iloc[-1]) if "trial_id" in progress else trial_dir.name
        row["epochs"] = int(progress["epoch"].max()) if len(progress) else 0
        failed = (trial_dir / "error.txt").exists()
        if failed:
            row["status"] = "ERROR"
        elif full is not None and row["epochs"] < full:
            row["status"] = "INCOMPLETE"
        else:
            row["status"] = "TERMINATED"
        if len(progress):
            last = progress.iloc[-1]
            best_epoch = int(last.get("best_epoch", last["epoch"]))
            at_best = progress[progress["epoch"] == best_epoch]
            at_best = at_best.iloc[-1] if len(at_best) else last
            row["best_epoch"] = best_epoch
            row.update({c: at_best[c] for c in progress.columns if c.startswith("val/")})
            row.update({c: last[c] for c in progress.columns if c.startswith("test/")})
        row["error"] = ""
        if failed:
            lines = (
                (trial_dir / "error.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
            )
            row["error"] = lines[-1] if lines else "error"
        row["logdir"] = str(trial_dir.relative_to(experiment.parent))
        rows.append(row)
    return pd.DataFrame(rows)


def replicate_from_trials(experiment: Path, spec: dict[str, Any]) -> pd.DataFrame | None:
    """Rebuild ``replicate_summary.csv`` from ``replicate/``: each trial's config carries its replica record
    (a nested mapping with ``group`` and ``source_trial_id``), which becomes the ``group`` columns."""
    frame = summary_from_trials(experiment, spec)
    marks = [c for c in frame.columns if c.startswith("config/") and c.endswith(".group")]
    if frame.empty or not marks:
        return None
    prefix = marks[0][: -len("group")]
    frame["group"] = frame.pop(marks[0]).astype(str)
    frame["source_trial_id"] = (
        frame.pop(f"{prefix}source_trial_id") if f"{prefix}source_trial_id" in frame else ""
    )
    return frame.drop(columns=[c for c in frame.columns if c.startswith(prefix)])


def _read_summary(path: Path) -> pd.DataFrame:
    text_columns = ("trial_id", "status", "group", "source_trial_id", "error", "error_file", "logdir")
    frame = pd.read_csv(path, dtype={c: str for c in text_columns})
    for col in text_columns[3:]:
        if col in frame.columns:
            frame[col] = frame[col].fillna("")
    return frame


@dataclass
class Run:
    """One result folder: the resolved spec, the search summary and, once replicated, the replicate summary."""

    path: Path
    spec: dict[str, Any]
    summary: pd.DataFrame
    replicate: pd.DataFrame | None
    best: dict[str, Any] | None
    rebuilt: tuple[str, ...] = ()  # result files that were missing and were rebuilt from the trial folders

    @property
    def name(self) -> str:
        return str(self.spec.get("name", self.path.name))

    @property
    def metric(self) -> str:
        return str(self.spec["metric"])

    @property
    def mode(self) -> str:
        return str(self.spec.get("mode", "max"))

    @property
    def space(self) -> dict[str, tuple[str, list[Any]]]:
        return flatten_space(self.spec.get("space") or {})

    @property
    def searched(self) -> list[str]:
        """Searched knobs that appear as ``config/<key>`` columns of the summary."""
        return [k for k in self.space if f"config/{k}" in self.summary.columns]

    @property
    def test_metric(self) -> str | None:
        """The test counterpart of the selection metric (``val/hr@10`` → ``test/hr@10``), if reported."""
        name = "test/" + self.metric.split("/", 1)[1]
        columns = list(self.summary.columns) + list(
            self.replicate.columns if self.replicate is not None else []
        )
        if name in columns:
            return name
        tests = [c for c in columns if c.startswith("test/")]
        return tests[0] if tests else None

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in (self.spec.get("replicate") or {}).get("seeds", [])]

    def usable(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows whose trial did not fail and that have a finite selection metric."""
        if self.metric not in frame.columns:
            return frame.iloc[0:0]
        ok = (
            ~frame["status"].isin(FAILED_STATUSES)
            & pd.to_numeric(frame[self.metric], errors="coerce").notna()
        )
        return frame[ok]

    def failed(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["status"].isin(FAILED_STATUSES)]

    def ranked(self) -> pd.DataFrame:
        """Usable search trials, best first by the selection (validation) metric; ties keep file order."""
        frame = self.usable(self.summary)
        return frame.sort_values(self.metric, ascending=self.mode == "min", kind="stable")

    def trial_dir(self, row: pd.Series, phase: str = "search") -> Path | None:
        """The trial folder of a summary row: its ``logdir`` relative to RUN_DIR, else matched by trial id."""
        logdir = str(row.get("logdir", "") or "")
        if logdir:
            candidate = self.path / logdir
            if candidate.is_dir():
                return candidate
        experiment = self.path / phase
        if experiment.is_dir():
            matches = sorted(p for p in experiment.iterdir() if p.is_dir() and str(row["trial_id"]) in p.name)
            if matches:
                return matches[0]
        return None

    def progress(self, row: pd.Series, phase: str = "search") -> pd.DataFrame:
        directory = self.trial_dir(row, phase)
        return read_progress(directory / "progress.csv") if directory is not None else pd.DataFrame()


def load_run(path: str | Path) -> Run:
    """Load RUN_DIR; raise :class:`RunDirError` with one line when it is not a ranktune result folder."""
    root = Path(path)
    hint = "expected the folder tune.run writes (<storage>/<name>/ with spec.yaml and summary.csv)"
    if not root.is_dir():
        raise RunDirError(f"{root}: not a directory; {hint}")
    spec_file = root / SPEC_FILE
    if not spec_file.is_file():
        raise RunDirError(f"{root}: no {SPEC_FILE}, so not a ranktune result folder; {hint}")
    try:
        spec = read_yaml(spec_file)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{spec_file}: unreadable YAML ({type(exc).__name__}); {hint}") from None
    if not isinstance(spec, dict) or "metric" not in spec:
        raise RunDirError(f"{spec_file}: key 'metric' missing, so not a ranktune spec; {hint}")
    summary_file = root / SUMMARY_FILE
    rebuilt: list[str] = []
    if summary_file.is_file():
        summary = _read_summary(summary_file)
    elif (root / "search").is_dir():
        summary = summary_from_trials(root / "search", spec)
        rebuilt.append(SUMMARY_FILE)
    else:
        raise RunDirError(f"{root}: neither {SUMMARY_FILE} nor search/ found; {hint}")
    if summary.empty:
        summary = pd.DataFrame(columns=["trial_id", "status", "epochs", "best_epoch"])
    replicate = None
    if (root / REPLICATE_FILE).is_file():
        replicate = _read_summary(root / REPLICATE_FILE)
    elif (root / "replicate").is_dir():
        replicate = replicate_from_trials(root / "replicate", spec)
        rebuilt += [REPLICATE_FILE] if replicate is not None else []
    best = (
        json.loads((root / BEST_FILE).read_text(encoding="utf-8")) if (root / BEST_FILE).is_file() else None
    )
    return Run(root, spec, summary, replicate, best, tuple(rebuilt))


def format_value(value: Any, digits: int = 4) -> str:
    """Markdown cell text: floats to ``digits`` significant decimals, NaN/None as an empty cell."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub markdown table of ``frame`` (no extra dependency)."""
    if frame.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(format_value(v.item() if hasattr(v, "item") else v, digits) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])
