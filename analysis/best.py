"""``python -m analysis.best RUN_DIR``: the top configs of a search, and the winner as a re-runnable spec.

Selection uses the *validation* metric only (the spec's ``metric:``, e.g. ``val/hr@10``); the test metric shown
beside it is the one the runner recorded at the best validation epoch and plays no part in the ranking.

The winner is the best search trial by validation, or, once the replicate phase has run, the replicated top
config with the best *mean validation* metric over seeds (one lucky seed no longer decides). ``winner.yaml`` is
the original spec with the winner's searched values fixed in ``config:``, the replication seeds as the only
searched dimension (a grid, so ``python -m tune.run winner.yaml`` runs exactly that config once per seed), no
early stopping and no replicate phase.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis.io import Run, RunDirError, load_run, markdown_table

WINNER_FILE = "winner.yaml"


def _same(choice: Any, value: Any) -> bool:
    if isinstance(choice, (bool, str)) or isinstance(value, (bool, str)) or choice is None:
        return str(choice) == str(value)
    try:
        return math.isclose(float(choice), float(value), rel_tol=1e-9)
    except (TypeError, ValueError):
        return False


def typed_value(value: Any, kind: str, args: list[Any]) -> Any:
    """A summary.csv cell back in the type the spec's dimension gives (CSV turns 64 into 64.0)."""
    if kind in ("grid", "choice"):
        return next((choice for choice in args if _same(choice, value)), value)
    if kind in ("randint", "qrandint"):
        return int(round(float(value)))
    return float(value)


def config_values(run: Run, row: pd.Series) -> dict[str, Any]:
    """The searched values of one summary row, typed like the spec's dimensions."""
    space = run.space
    out = {}
    for key in run.searched:
        value = row[f"config/{key}"]
        kind, args = space[key]
        out[key] = typed_value(value.item() if hasattr(value, "item") else value, kind, args)
    return out


def top_table(run: Run, k: int = 10) -> pd.DataFrame:
    """Best ``k`` usable search trials: searched values, best validation metric, test at that epoch, epochs."""
    ranked = run.ranked().head(k)
    table = pd.DataFrame(
        {"rank": range(1, len(ranked) + 1), "trial_id": ranked["trial_id"].astype(str).values}
    )
    for key in run.searched:
        table[key] = [config_values(run, row)[key] for _, row in ranked.iterrows()]
    table[run.metric] = ranked[run.metric].astype(float).values
    test_cols = [c for c in ranked.columns if c.startswith("test/")]
    for col in test_cols:
        table[col] = pd.to_numeric(ranked[col], errors="coerce").values
    for col in ("best_epoch", "epochs"):
        if col in ranked.columns:
            table[col] = pd.to_numeric(ranked[col], errors="coerce").astype("Int64").values
    if "status" in ranked.columns:
        table["status"] = ranked["status"].values
    return table


def choose_winner(run: Run) -> tuple[dict[str, Any], str]:
    """Searched values of the winner and a one-line reason (validation metric only, see the module docstring)."""
    rep = run.replicate
    if rep is not None and "group" in rep.columns and run.metric in rep.columns:
        tops = run.usable(rep[rep["group"].astype(str).str.match(r"^top\d+$")])
        if len(tops):
            means = tops.groupby("group")[run.metric].agg(["mean", "count"])
            means = means.sort_values("mean", ascending=run.mode == "min", kind="stable")
            group = str(means.index[0])
            row = tops[tops["group"] == group].iloc[0]
            reason = (
                f"replicated config {group} has the best mean {run.metric} "
                f"({means['mean'].iloc[0]:.4f} over {int(means['count'].iloc[0])} seeds)"
            )
            return config_values(run, row), reason
    ranked = run.ranked()
    if ranked.empty:
        raise RunDirError(
            f"{run.path}: no finished trial with a value of {run.metric}; nothing to choose from"
        )
    row = ranked.iloc[0]
    reason = f"search trial {row['trial_id']} has the best {run.metric} ({row[run.metric]:.4f})"
    return config_values(run, row), reason


def _set_dotted(mapping: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = mapping
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def winner_spec(run: Run, values: dict[str, Any]) -> dict[str, Any]:
    """The run's spec with ``values`` fixed, seeds as the only (grid) dimension, FIFO and no replicate phase."""
    spec = copy.deepcopy(run.spec)
    config = dict(spec.get("config") or {})
    for key, value in values.items():
        _set_dotted(config, key, value)
    fixed_seed = config.pop("seed", None)
    seeds = run.seeds or [int(fixed_seed if fixed_seed is not None else 0)]
    spec["name"] = f"{run.name}_winner"
    spec["config"] = config
    spec["space"] = {"seed": {"grid": seeds}}
    search = spec.get("search") or {}
    spec["search"] = {"algorithm": "grid", "num_samples": 1, "seed": int(search.get("seed", 0))}
    if search.get("max_concurrent") is not None:
        spec["search"]["max_concurrent"] = search["max_concurrent"]
    spec["scheduler"] = {"type": "fifo"}
    spec.pop("replicate", None)
    smoke = spec.get("smoke")
    if isinstance(smoke, dict):
        smoke = {k: v for k, v in smoke.items() if k in ("data", "config", "resources")}
        smoke.get("config", {}).pop("seed", None)
        smoke["space"] = {"seed": {"grid": seeds[:1]}}
        spec["smoke"] = smoke
    return spec


def write_winner(run: Run, path: Path | None = None) -> tuple[Path, str]:
    """Write ``winner.yaml`` (default: into RUN_DIR); return its path and why that config won."""
    values, reason = choose_winner(run)
    spec = winner_spec(run, values)
    target = path or run.path / WINNER_FILE
    header = (
        f"# Winner of experiment '{run.name}': {reason}.\n"
        f"# Selected on validation only. Re-run: python -m tune.run {target.name}\n"
    )
    target.write_text(
        header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, default_flow_style=None),
        encoding="utf-8",
    )
    return target, reason


def status_counts(frame: pd.DataFrame) -> str:
    """``"5 TERMINATED, 1 ERROR"`` style summary of a summary's status column."""
    counts = frame["status"].astype(str).value_counts()
    return ", ".join(f"{n} {s}" for s, n in counts.sort_index().items()) or "no trials"


def table_view(run: Run, table: pd.DataFrame) -> pd.DataFrame:
    """:func:`top_table` without the test columns other than the selection metric's counterpart."""
    return table.drop(columns=[c for c in table.columns if c.startswith("test/") and c != run.test_metric])


def best_markdown(run: Run, table: pd.DataFrame, winner_line: str) -> str:
    """The markdown of ``best.md``."""
    failed = run.failed(run.summary)
    lines = [
        f"# Best configs of `{run.name}`",
        "",
        f"Trials: {len(run.summary)} ({status_counts(run.summary)}); {len(failed)} failed trial(s) skipped.",
        f"Ranked by the validation metric `{run.metric}` ({run.mode}); test columns are the test metrics at the "
        "best validation epoch and were not used for selection.",
    ]
    if run.rebuilt:
        lines.append(
            f"{' and '.join(run.rebuilt)} missing (interrupted run): rows rebuilt from the trial folders."
        )
    other_tests = [c for c in table.columns if c.startswith("test/") and c != run.test_metric]
    if other_tests:
        lines.append(f"Other test metrics ({len(other_tests)}) are in best.csv.")
    lines += ["", markdown_table(table_view(run, table)), "", winner_line, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.best", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a ranktune result folder (<storage>/<name>/)")
    parser.add_argument("--top", type=int, default=10, help="how many configs the table lists (default 10)")
    parser.add_argument("--no-winner", action="store_true", help="do not write winner.yaml")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run_dir)
        table = top_table(run, args.top)
        winner_line = "No winner: no finished trial."
        if not args.no_winner and len(run.ranked()):
            path, reason = write_winner(run)
            winner_line = f"Winner written to `{path.name}` ({reason})."
    except RunDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = best_markdown(run, table, winner_line)
    (run.path / "best.md").write_text(text, encoding="utf-8")
    table.to_csv(run.path / "best.csv", index=False)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
