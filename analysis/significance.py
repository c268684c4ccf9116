"""``python -m analysis.significance RUN_DIR``: is the winner really better than the baseline, or lucky?

Reads the replicate phase (``replicate_summary.csv``: every top config and every named baseline re-run to
completion once per seed) and reports, on the *test* split only:

* per group and metric: mean ± std over seeds, a 95% Student-t interval and a 95% percentile-bootstrap interval;
* per (top config, baseline, metric): the paired differences over shared seeds, a paired t-test, a Wilcoxon
  signed-rank test, Cohen's d_z, and Holm-adjusted p-values across *all* comparisons of the table. A comparison is
  called significant when its Holm-adjusted t-test p-value is below ``--alpha``.

The configs were chosen on the validation split in the search phase, so these test numbers are not biased by
that choice. The number of seeds is stated, and fewer than 5 draws a warning.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from analysis.io import FAILED_STATUSES, Run, RunDirError, format_value, load_run, markdown_table
from analysis.stats import MIN_PAIRS_WILCOXON, holm, paired_tests, summarize

RECOMMENDED_SEEDS = 5


def replicated(run: Run) -> pd.DataFrame:
    """Finished replicate runs, one row per (group, seed) (the last one when a seed appears twice)."""
    rep = run.replicate
    if rep is None or rep.empty or "group" not in rep.columns:
        return pd.DataFrame(columns=["group", "config/seed"])
    rep = rep[~rep["status"].isin(FAILED_STATUSES)]
    return rep.drop_duplicates(subset=["group", "config/seed"], keep="last")


def groups_in_order(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(top groups by rank, baseline groups by name) present in a replicate frame."""
    names = frame["group"].astype(str).unique().tolist()
    tops = sorted((g for g in names if g.startswith("top") and g[3:].isdigit()), key=lambda g: int(g[3:]))
    return tops, sorted(g for g in names if g.startswith("baseline:"))


def default_metrics(run: Run, all_metrics: bool) -> list[str]:
    """The test counterpart of the selection metric, or every ``test/*`` column with ``all_metrics``."""
    if run.replicate is None:
        return []
    if all_metrics:
        return [c for c in run.replicate.columns if c.startswith("test/")]
    return [run.test_metric] if run.test_metric in run.replicate.columns else []


def group_table(run: Run, metrics: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Mean, std and 95% t / bootstrap intervals of each metric over seeds, per replicated group."""
    frame = replicated(run)
    rows = []
    tops, bases = groups_in_order(frame)
    for group in tops + bases:
        part = frame[frame["group"] == group]
        for metric in metrics:
            s = summarize(pd.to_numeric(part[metric], errors="coerce").to_numpy(), rng)
            rows.append(
                {
                    "group": group,
                    "metric": metric,
                    "n_seeds": s.n,
                    "mean": s.mean,
                    "std": s.std,
                    "t_low": s.t_low,
                    "t_high": s.t_high,
                    "boot_low": s.boot_low,
                    "boot_high": s.boot_high,
                }
            )
    return pd.DataFrame(rows)


def comparison_table(run: Run, metrics: list[str], alpha: float = 0.05) -> pd.DataFrame:
    """Paired tests of every top config against every baseline, Holm-corrected across the whole table."""
    frame = replicated(run)
    tops, bases = groups_in_order(frame)
    by_group = {g: part.set_index("config/seed") for g, part in frame.groupby("group")}
    rows = []
    for top in tops:
        for base in bases:
            a, b = by_group[top], by_group[base]
            seeds = sorted(set(a.index) & set(b.index))
            for metric in metrics:
                x = pd.to_numeric(a.loc[seeds, metric], errors="coerce").to_numpy()
                y = pd.to_numeric(b.loc[seeds, metric], errors="coerce").to_numpy()
                r = paired_tests(x, y)
                rows.append(
                    {
                        "config": top,
                        "baseline": base,
                        "metric": metric,
                        "n_pairs": r.n,
                        "mean_diff": r.mean_diff,
                        "diff_low": r.diff_low,
                        "diff_high": r.diff_high,
                        "t": r.t_stat,
                        "p_t": r.p_t,
                        "wilcoxon_w": r.w_stat,
                        "p_wilcoxon": r.p_wilcoxon,
                        "d_z": r.d_z,
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_t_holm"], reject = holm(table["p_t"].to_numpy(), alpha)
    table["p_wilcoxon_holm"], _ = holm(table["p_wilcoxon"].to_numpy(), alpha)
    table["significant"] = reject
    table["verdict"] = [
        _verdict(run, metric, diff) if rejected else "no evidence"
        for metric, diff, rejected in zip(table["metric"], table["mean_diff"], reject)
    ]
    return table


LOWER_IS_BETTER = ("loss", "mean_rank", "rank")
HIGHER_IS_BETTER = ("hr", "ndcg", "mrr", "precision", "recall", "f1", "auroc", "aupr", "auc", "acc")


def _verdict(run: Run, metric: str, diff: float) -> str:
    """ "higher"/"lower", with "(better)"/"(worse)" where the metric's direction is known: the spec's ``mode`` for
    the selection metric's test counterpart, the usual direction of ranking metrics, none for counts or α."""
    name = metric.split("/")[-1].split("@")[0]
    if metric == run.test_metric:
        higher_better: bool | None = run.mode == "max"
    elif name in LOWER_IS_BETTER:
        higher_better = False
    elif name in HIGHER_IS_BETTER:
        higher_better = True
    else:
        higher_better = None
    text = "higher" if diff > 0 else "lower"
    if higher_better is None:
        return text
    return f"{text} ({'better' if (diff > 0) == higher_better else 'worse'})"


def seed_notes(run: Run, comparisons: pd.DataFrame) -> list[str]:
    """Statements about seeds, failed runs and the limits of the tests."""
    frame = replicated(run)
    seeds = sorted(int(s) for s in frame["config/seed"].unique()) if len(frame) else []
    failed = run.failed(run.replicate) if run.replicate is not None else []
    notes = [
        f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))}); {len(failed)} failed replicate run(s) skipped.",
        f"Selection used `{run.metric}` on the validation split (search phase); every number below is on the test "
        "split (replicate phase), so the choice of configs does not bias it.",
    ]
    if len(seeds) < RECOMMENDED_SEEDS:
        notes.append(
            f"**Warning: only {len(seeds)} seed(s); use at least {RECOMMENDED_SEEDS} for these tests.**"
        )
    if len(comparisons) and comparisons["n_pairs"].max() < MIN_PAIRS_WILCOXON:
        notes.append(
            f"With fewer than {MIN_PAIRS_WILCOXON} pairs the two-sided Wilcoxon test cannot reach "
            "p < 0.05; the paired t-test decides."
        )
    return notes


def _interval(low: float, high: float) -> str:
    return f"[{format_value(low)}, {format_value(high)}]" if np.isfinite(low) else ""


def groups_markdown(groups: pd.DataFrame) -> str:
    if groups.empty:
        return "_(no replicated runs)_"
    shown = pd.DataFrame(
        {
            "group": groups["group"],
            "metric": groups["metric"],
            "seeds": groups["n_seeds"],
            "mean ± std": [
                f"{format_value(m)} ± {format_value(s)}" if np.isfinite(s) else format_value(m)
                for m, s in zip(groups["mean"], groups["std"])
            ],
            "95% t-CI": [_interval(lo, hi) for lo, hi in zip(groups["t_low"], groups["t_high"])],
            "95% bootstrap CI": [
                _interval(lo, hi) for lo, hi in zip(groups["boot_low"], groups["boot_high"])
            ],
        }
    )
    return markdown_table(shown)


def comparisons_markdown(comparisons: pd.DataFrame) -> str:
    if comparisons.empty:
        return "_(no comparisons: the spec names no baselines, or no top config was replicated)_"
    shown = pd.DataFrame(
        {
            "config": comparisons["config"],
            "baseline": comparisons["baseline"],
            "metric": comparisons["metric"],
            "pairs": comparisons["n_pairs"],
            "mean diff [95% CI]": [
                f"{format_value(d)} {_interval(lo, hi)}"
                for d, lo, hi in zip(
                    comparisons["mean_diff"], comparisons["diff_low"], comparisons["diff_high"]
                )
            ],
            "p (t)": comparisons["p_t"],
            "p (Wilcoxon)": comparisons["p_wilcoxon"],
            "d_z": comparisons["d_z"],
            "p Holm (t)": comparisons["p_t_holm"],
            "verdict": comparisons["verdict"],
        }
    )
    return markdown_table(shown)


def analyse(run: Run, metrics: list[str], alpha: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(group table, comparison table, markdown section) of a run's replicate phase."""
    if run.replicate is None:
        text = (
            "No replicate phase in this folder (`replicate_summary.csv` is absent): run "
            f"`python -m tune.replicate {run.path}` to re-run the top configs and baselines over seeds."
        )
        return pd.DataFrame(), pd.DataFrame(), text
    groups = group_table(run, metrics, np.random.default_rng(seed))
    comparisons = comparison_table(run, metrics, alpha)
    notes = seed_notes(run, comparisons)
    text = "\n\n".join(
        [
            "\n".join(f"- {n}" for n in notes),
            "### Test metrics over seeds",
            groups_markdown(groups),
            f"### Paired comparisons against baselines (Holm across {len(comparisons)} comparison(s), α = {alpha})",
            comparisons_markdown(comparisons),
        ]
    )
    return groups, comparisons, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.significance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run_dir", help="a ranktune result folder (<storage>/<name>/)")
    parser.add_argument(
        "--metric",
        action="append",
        default=None,
        help="test metric to analyse (repeatable; default: the test counterpart of spec.metric)",
    )
    parser.add_argument("--all-metrics", action="store_true", help="analyse every test/* metric")
    parser.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap generator (default 0)")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run_dir)
    except RunDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics = args.metric or default_metrics(run, args.all_metrics)
    missing = [m for m in metrics if run.replicate is not None and m not in run.replicate.columns]
    if missing:
        print(
            f"error: {run.path / 'replicate_summary.csv'}: no column {missing[0]!r} "
            f"(expected one of the test/* columns)",
            file=sys.stderr,
        )
        return 2
    groups, comparisons, section = analyse(run, metrics, args.alpha, args.seed)
    text = f"# Significance of `{run.name}`\n\n{section}\n"
    (run.path / "significance.md").write_text(text, encoding="utf-8")
    if not groups.empty:
        groups.to_csv(run.path / "significance_groups.csv", index=False)
        comparisons.to_csv(run.path / "significance.csv", index=False)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
