"""CSV loader of the ``hetero_twostage`` trainable: three comma-separated tables in one directory.

Schema (header row required; ids are integers, not necessarily contiguous; extra numeric columns are
features):

``employees.csv``
    ``employee_id``, ``department_id``, ``manager_id`` (an ``employee_id``, or empty / ``-1`` for none),
    ``left`` (turnover label, 0 or 1), then one or more numeric feature columns.
``positions.csv``
    ``position_id``, ``department_id``, then one or more numeric feature columns.
``preferences.csv``
    ``employee_id``, ``position_id``: one row per position the employee prefers (applied to, shortlisted).

Every problem raises :class:`~trainables.protocol.DataError` with one line naming the file, the column, the
bad value (with its line number) and what is expected.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from trainables.hetero_twostage.data import HeteroTaskData, _finish
from trainables.protocol import DataError

EMPLOYEE_COLUMNS = ("employee_id", "department_id", "manager_id", "left")
POSITION_COLUMNS = ("position_id", "department_id")
PREFERENCE_COLUMNS = ("employee_id", "position_id")


def _read(path: Path, required: tuple[str, ...], need_features: bool) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected a CSV table with columns {', '.join(required)}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"{path}: file is empty; expected a header with columns {', '.join(required)}"
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: cannot parse as comma-separated values ({exc})") from exc
    if len(frame.columns) == 1:
        for sep in (";", "\t", "|"):
            if sep in str(frame.columns[0]):
                raise DataError(
                    f"{path}: header {frame.columns[0]!r} is delimited by {sep!r}; expected commas"
                )
    for column in required:
        if column not in frame.columns:
            raise DataError(
                f"{path}: missing column {column!r}; expected {', '.join(required)} "
                f"(found {', '.join(frame.columns)})"
            )
    if need_features and len(frame.columns) == len(required):
        raise DataError(f"{path}: no feature column; expected numeric columns besides {', '.join(required)}")
    if frame.empty:
        raise DataError(f"{path}: no rows; expected at least one data row")
    return frame


def _numeric(
    frame: pd.DataFrame, column: str, path: Path, integer: bool, optional: bool = False
) -> torch.Tensor:
    raw = frame[column].astype(str).str.strip()
    empty = raw == ""
    if optional:
        raw = raw.where(~empty, "-1")
    elif empty.any():
        line = int(empty.to_numpy().nonzero()[0][0]) + 2
        raise DataError(
            f"{path}: column {column!r} line {line} is empty (truncated file?); expected a number"
        )
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | (values.round() != values if integer else False)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        kind = "an integer id" if integer else "a number"
        raise DataError(f"{path}: column {column!r} line {i + 2} has value {raw.iloc[i]!r}; expected {kind}")
    dtype = torch.long if integer else torch.float32
    return torch.tensor(values.to_numpy(), dtype=dtype)


def _map_ids(
    ids: torch.Tensor,
    known: torch.Tensor,
    path: Path,
    column: str,
    what: str,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Index of each id in the sorted ``known`` ids; unknown ids are an error (``rows``: their table rows)."""
    pos = torch.searchsorted(known, ids).clamp(max=known.numel() - 1)
    bad = known[pos] != ids
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        line = (int(rows[i]) if rows is not None else i) + 2
        raise DataError(
            f"{path}: column {column!r} line {line} has id {int(ids[i])}; expected a known {what}"
        )
    return pos


def load_csv(
    directory: str | None, val_fraction: float, test_fraction: float, eval_negatives: int, seed: int
) -> HeteroTaskData:
    """Read ``employees.csv``, ``positions.csv`` and ``preferences.csv`` from ``directory`` (schema above)."""
    if directory is None:
        raise DataError(
            "data.path: missing; expected the directory holding employees.csv, positions.csv, preferences.csv"
        )
    root = Path(directory)
    emp_path, pos_path, pref_path = root / "employees.csv", root / "positions.csv", root / "preferences.csv"
    emp = _read(emp_path, EMPLOYEE_COLUMNS, need_features=True)
    pos = _read(pos_path, POSITION_COLUMNS, need_features=True)
    pref = _read(pref_path, PREFERENCE_COLUMNS, need_features=False)

    emp_ids = _numeric(emp, "employee_id", emp_path, integer=True)
    known_emp, counts = torch.unique(emp_ids, return_counts=True)
    if (counts > 1).any():
        raise DataError(
            f"{emp_path}: column 'employee_id' repeats id {int(known_emp[counts > 1][0])}; "
            "expected unique ids"
        )
    pos_ids = _numeric(pos, "position_id", pos_path, integer=True)
    known_pos, counts = torch.unique(pos_ids, return_counts=True)
    if (counts > 1).any():
        raise DataError(
            f"{pos_path}: column 'position_id' repeats id {int(known_pos[counts > 1][0])}; "
            "expected unique ids"
        )
    left = _numeric(emp, "left", emp_path, integer=True)
    if ((left != 0) & (left != 1)).any():
        i = int(((left != 0) & (left != 1)).nonzero()[0, 0])
        raise DataError(f"{emp_path}: column 'left' line {i + 2} has value {int(left[i])}; expected 0 or 1")
    if left.sum() == 0 or left.sum() == left.numel():
        raise DataError(f"{emp_path}: column 'left' has only the value {int(left[0])}; expected both 0 and 1")

    emp_dept_raw = _numeric(emp, "department_id", emp_path, integer=True)
    pos_dept_raw = _numeric(pos, "department_id", pos_path, integer=True)
    depts = torch.unique(torch.cat([emp_dept_raw, pos_dept_raw]))
    mgr_raw = _numeric(emp, "manager_id", emp_path, integer=True, optional=True)
    has_mgr = mgr_raw != -1
    manager = torch.full_like(mgr_raw, -1)
    if has_mgr.any():
        rows = has_mgr.nonzero().squeeze(1)
        mapped = _map_ids(mgr_raw[rows], known_emp, emp_path, "manager_id", "employee_id", rows)
        manager[rows] = mapped
    # employees are reindexed in sorted-id order, so every tensor is permuted the same way
    emp_index = _map_ids(emp_ids, known_emp, emp_path, "employee_id", "employee_id")
    pos_index = _map_ids(pos_ids, known_pos, pos_path, "position_id", "position_id")
    emp_order, pos_order = torch.argsort(emp_index), torch.argsort(pos_index)
    emp_feats = [c for c in emp.columns if c not in EMPLOYEE_COLUMNS]
    pos_feats = [c for c in pos.columns if c not in POSITION_COLUMNS]
    emp_x = torch.stack([_numeric(emp, c, emp_path, integer=False) for c in emp_feats], 1)
    pos_x = torch.stack([_numeric(pos, c, pos_path, integer=False) for c in pos_feats], 1)

    pref_emp = _map_ids(
        _numeric(pref, "employee_id", pref_path, integer=True),
        known_emp,
        pref_path,
        "employee_id",
        "employee_id",
    )
    pref_pos = _map_ids(
        _numeric(pref, "position_id", pref_path, integer=True),
        known_pos,
        pref_path,
        "position_id",
        "position_id",
    )
    prefs = torch.stack([pref_emp, pref_pos], 1)
    if torch.bincount(pref_emp).max() < 3:
        raise DataError(
            f"{pref_path}: no employee has 3 or more preferences; "
            "expected some, to hold out val and test pairs"
        )

    gen = torch.Generator().manual_seed(seed)
    return _finish(
        emp_x[emp_order],
        pos_x[pos_order],
        torch.searchsorted(depts, emp_dept_raw)[emp_order],
        torch.searchsorted(depts, pos_dept_raw)[pos_order],
        manager[emp_order],
        left[emp_order].float(),
        prefs,
        depts.numel(),
        val_fraction,
        test_fraction,
        eval_negatives,
        gen,
    )
