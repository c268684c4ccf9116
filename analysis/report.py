"""``python -m analysis.report RUN_DIR``: one ``report/report.md`` with the tables and PNG plots of a run.

It gathers what every seed system asks for at the end of a study: the best configs (selected on validation in
the search phase), test metrics over seeds with confidence intervals and paired tests against the baselines
(replicate phase), the metric against each searched knob, learning curves, how many trials survived each ASHA
rung, per-group metrics and α statistics of hybrid models, and fANOVA hyperparameter importance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis import plots
from analysis.best import status_counts, table_view, top_table
from analysis.io import Run, RunDirError, format_value, load_run, markdown_table
from analysis.significance import analyse, default_metrics

REPORT_DIR = "report"


def _figures(paths: list[Path], caption: str) -> list[str]:
    return [f"![{caption}: {p.stem}]({p.name})" for p in paths]


def group_markdown(groups: pd.DataFrame) -> str:
    """:func:`plots.group_metrics` as one row per (metric, group) and one column per config: ``mean [CI]``."""
    cells = [
        format_value(m) + (f" [{format_value(lo)}, {format_value(hi)}]" if pd.notna(lo) else "")
        for m, lo, hi in zip(groups["mean"], groups["low"], groups["high"])
    ]
    wide = groups.assign(cell=cells).pivot(index=["metric", "group"], columns="config", values="cell")
    order = list(dict.fromkeys(groups["config"]))
    rows = groups[["metric", "group"]].drop_duplicates()
    wide = wide.reindex(pd.MultiIndex.from_frame(rows))[order].reset_index()
    return markdown_table(wide.fillna(""))


def build_report(run: Run, top: int = 10, alpha: float = 0.05, seed: int = 0) -> Path:
    """Write ``RUN_DIR/report/report.md`` and its PNGs; return the markdown's path."""
    out = run.path / REPORT_DIR
    out.mkdir(exist_ok=True)
    spec = run.spec
    search = spec.get("search") or {}
    sched = spec.get("scheduler") or {}
    failed = run.failed(run.summary)
    lines = [
        f"# Report: `{run.name}`",
        "",
        f"- Trainable `{spec.get('trainable')}`; selection metric `{run.metric}` ({run.mode}).",
        f"- Search: {search.get('algorithm', 'random')}, {len(run.summary)} trial(s) ({status_counts(run.summary)}); "
        f"scheduler {sched.get('type', 'fifo')}.",
        f"- {len(failed)} failed trial(s) (ERROR/DIVERGED) are skipped in every table and plot but the search-phase "
        "trial count above includes them.",
        "- **Selection and reporting are separate:** configs were chosen on the validation split during the search "
        "phase; the replicate phase re-ran them (and the baselines) on fresh seeds, and its numbers are reported "
        "on the test split.",
    ]
    if run.rebuilt:
        lines.append(
            f"- {' and '.join(run.rebuilt)} missing (interrupted run): rows rebuilt from the trial folders."
        )
    if not failed.empty and "error" in failed.columns:
        lines += ["", "Failed trials:", "", markdown_table(failed[["trial_id", "status", "error"]])]

    lines += [
        "",
        "## Best configs (search phase, validation)",
        "",
        markdown_table(table_view(run, top_table(run, top))),
    ]

    metrics = default_metrics(run, all_metrics=False)
    lines += ["", "## Replication over seeds (test split)", "", analyse(run, metrics, alpha, seed)[2]]

    figures = plots.metric_vs_params(run, out)
    lines += ["", "## Metric against each searched hyperparameter", ""]
    lines += _figures(figures, "metric vs") or ["_(no searched hyperparameters)_"]

    lines += ["", "## Learning curves of the top trials", ""]
    lines += _figures(plots.learning_curves(run, out), "learning curves") or ["_(no progress.csv found)_"]

    rung_figures = plots.rung_plot(run, out)
    if rung_figures:
        lines += ["", "## Trials surviving each ASHA rung", "", markdown_table(plots.rung_table(run)), ""]
        lines += _figures(rung_figures, "ASHA rungs")

    groups = plots.group_metrics(run)
    if not groups.empty:
        source = (
            "replicate phase, mean and 95% t-CI over seeds"
            if run.replicate is not None
            else "top search trials"
        )
        lines += ["", f"## Per-group metrics and α statistics ({source})", "", group_markdown(groups), ""]
        lines += _figures(plots.group_plots(run, out), "per-group")

    importance = plots.importance(run, seed=seed)
    lines += ["", "## Hyperparameter importance (fANOVA on finished search trials)", ""]
    if importance.empty:
        lines.append(
            "_(needs at least 2 finished trials whose values differ, and a searched knob that varies)_"
        )
    else:
        table = pd.DataFrame({"hyperparameter": importance.index, "importance": importance.to_numpy()})
        lines += [markdown_table(table), ""]
        lines += _figures(plots.importance_plot(importance, out), "importance")

    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a ranktune result folder (<storage>/<name>/)")
    parser.add_argument("--top", type=int, default=10, help="rows of the best-configs table (default 10)")
    parser.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and fANOVA (default 0)")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run_dir)
    except RunDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = build_report(run, args.top, args.alpha, args.seed)
    print(path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
