"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

Each function takes a loaded :class:`~analysis.io.Run`, writes one PNG (or one per hyperparameter) into
``out_dir`` and returns the paths it wrote; a figure with nothing to show is not written.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.best import typed_value
from analysis.io import Run, max_epochs
from analysis.significance import groups_in_order, replicated
from analysis.stats import t_interval

_GROUP_COLUMN = re.compile(r"^test/([^/]+)/(.+)$")


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _positions(run: Run, key: str, values: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """x positions of a searched knob: its value, or the index of the choice for grid/choice knobs."""
    kind, args = run.space[key]
    if kind in ("grid", "choice"):
        labels = [str(a) for a in args]
        typed = [str(typed_value(v, kind, args)) for v in values]
        return np.array([labels.index(t) if t in labels else np.nan for t in typed], dtype=float), labels
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), None


def metric_vs_params(run: Run, out_dir: Path) -> list[Path]:
    """Selection metric against each searched knob: every search trial, and replicated configs' mean ± 95% CI."""
    search = run.usable(run.summary)
    rep = replicated(run)
    rep = rep[rep["group"].astype(str).str.match(r"^top\d+$")] if len(rep) else rep
    paths = []
    for key in run.searched:
        fig = Figure(figsize=(5, 3.6))
        ax = fig.add_subplot()
        x, labels = _positions(run, key, search[f"config/{key}"])
        ax.scatter(x, search[run.metric].astype(float), alpha=0.6, label="search trials")
        if len(rep) and run.metric in rep.columns and f"config/{key}" in rep.columns:
            for group, part in rep.groupby("group"):
                values = pd.to_numeric(part[run.metric], errors="coerce").to_numpy()
                low, high = t_interval(values)
                mean = float(np.nanmean(values))
                gx, _ = _positions(run, key, part[f"config/{key}"].iloc[:1])
                err = [[mean - low], [high - mean]] if np.isfinite(low) else None
                ax.errorbar(gx, [mean], yerr=err, fmt="s", capsize=4, label=f"{group} (mean ± 95% CI)")
        if labels is not None:
            ax.set_xticks(range(len(labels)), labels)
        elif run.space[key][0] in ("loguniform", "qloguniform"):
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(run.metric)
        ax.legend(fontsize=7)
        paths.append(_save(fig, out_dir / f"metric_vs_{_safe(key)}.png"))
    return paths


def learning_curves(run: Run, out_dir: Path, top: int = 5) -> list[Path]:
    """Validation metric per epoch of the best ``top`` search trials (restored epochs de-duplicated)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    drawn = 0
    for _, row in run.ranked().head(top).iterrows():
        progress = run.progress(row)
        if progress.empty or run.metric not in progress.columns:
            continue
        ax.plot(progress["epoch"], progress[run.metric], marker=".", label=str(row["trial_id"]))
        drawn += 1
    if not drawn:
        return []
    ax.set_xlabel("epoch")
    ax.set_ylabel(run.metric)
    ax.legend(fontsize=7, title=f"top {drawn} trials")
    return [_save(fig, out_dir / "learning_curves.png")]


def rungs(run: Run) -> list[int]:
    """ASHA milestones ``grace_period × reduction_factor^k`` up to the maximum number of epochs."""
    sched = run.spec.get("scheduler") or {}
    grace, factor = int(sched.get("grace_period", 1)), float(sched.get("reduction_factor", 3))
    ran = pd.to_numeric(run.summary.get("epochs", pd.Series(dtype=float)), errors="coerce").dropna()
    max_t = max_epochs(run.spec) or (int(ran.max()) if len(ran) else grace)
    out, k = [], 0
    while grace * factor**k <= max_t:
        out.append(int(round(grace * factor**k)))
        k += 1
    if not out or out[-1] < int(max_t):
        out.append(int(max_t))
    return out


def rung_table(run: Run) -> pd.DataFrame:
    """How many search trials ran at least as far as each rung (failed trials included: they used the budget)."""
    epochs = pd.to_numeric(run.summary.get("epochs"), errors="coerce").fillna(0).to_numpy()
    return pd.DataFrame(
        {"rung (epochs)": rungs(run), "trials reaching it": [int((epochs >= r).sum()) for r in rungs(run)]}
    )


def rung_plot(run: Run, out_dir: Path) -> list[Path]:
    """Bar chart of :func:`rung_table`, for ASHA and HyperBand searches."""
    if (run.spec.get("scheduler") or {}).get("type") not in ("asha", "hyperband") or run.summary.empty:
        return []
    table = rung_table(run)
    fig = Figure(figsize=(5, 3.4))
    ax = fig.add_subplot()
    ax.bar([str(r) for r in table["rung (epochs)"]], table["trials reaching it"])
    ax.set_xlabel("rung (epochs)")
    ax.set_ylabel("trials reaching the rung")
    return [_save(fig, out_dir / "asha_rungs.png")]


def group_metric_names(run: Run, names: list[str]) -> list[str]:
    """Which per-group metrics to show: the selection metric's name (``hr@10``), NDCG at the same k, the α
    statistics and the group sizes; the hybrid model reports a dozen more, which stay in the CSV files."""
    base = run.metric.split("/")[-1]
    at_k = [f"ndcg@{base.split('@')[1]}"] if "@" in base else []
    wanted = [base, *at_k, *(n for n in names if "alpha" in n), "count"]
    chosen = [n for n in dict.fromkeys(wanted) if n in names]
    return chosen or names[:3]


def group_metrics(run: Run) -> pd.DataFrame:
    """Long table (config, group, metric, mean, low, high) of per-group test metrics such as ``test/short/hr@10``.

    Replicated configs give means with a 95% t-interval over seeds; without replication the top 3 search trials
    give single values.
    """
    rep = replicated(run)
    if len(rep):
        tops, bases = groups_in_order(rep)
        parts = [(g, rep[rep["group"] == g]) for g in tops + bases]
        columns = list(rep.columns)
    else:
        ranked = run.ranked().head(3)
        parts = [(f"trial {t}", ranked[ranked["trial_id"] == t]) for t in ranked["trial_id"]]
        columns = list(ranked.columns)
    matches = [(c, m.group(1), m.group(2)) for c in columns if (m := _GROUP_COLUMN.match(str(c)))]
    shown = group_metric_names(run, list(dict.fromkeys(metric for _, _, metric in matches)))
    rows = []
    for column, group, metric in matches:
        if metric not in shown:
            continue
        for name, part in parts:
            values = pd.to_numeric(part[column], errors="coerce").to_numpy()
            low, high = t_interval(values)
            mean = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
            rows.append(
                {"config": name, "group": group, "metric": metric, "mean": mean, "low": low, "high": high}
            )
    return pd.DataFrame(rows)


def group_plots(run: Run, out_dir: Path) -> list[Path]:
    """Per-group metrics (one panel per metric) and α statistics (keys containing ``alpha``) as grouped bars."""
    table = group_metrics(run)
    if table.empty:
        return []
    paths = []
    for stem, part in (
        ("group_metrics", table[~table["metric"].str.contains("alpha")]),
        ("group_alpha", table[table["metric"].str.contains("alpha")]),
    ):
        metrics = list(dict.fromkeys(part["metric"]))
        if not metrics:
            continue
        fig = Figure(figsize=(4.5 * len(metrics), 3.6))
        for i, metric in enumerate(metrics):
            ax = fig.add_subplot(1, len(metrics), i + 1)
            sub = part[part["metric"] == metric]
            groups, configs = list(dict.fromkeys(sub["group"])), list(dict.fromkeys(sub["config"]))
            width = 0.8 / len(configs)
            for j, config in enumerate(configs):
                rows = sub[sub["config"] == config].set_index("group").reindex(groups)
                err = np.vstack([rows["mean"] - rows["low"], rows["high"] - rows["mean"]])
                err = np.where(np.isfinite(err), err, 0.0) if np.isfinite(err).any() else None
                ax.bar(
                    np.arange(len(groups)) + j * width, rows["mean"], width, yerr=err, capsize=3, label=config
                )
            ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups)
            ax.set_title(f"test/<group>/{metric}", fontsize=9)
            ax.legend(fontsize=6)
        paths.append(_save(fig, out_dir / f"{stem}.png"))
    return paths


def _distribution(kind: str, a: list) -> object:
    """The Optuna distribution of one spec dimension (as ``tune.space.to_optuna`` builds it)."""
    from optuna import distributions as od

    if kind in ("grid", "choice"):
        return od.CategoricalDistribution(list(a))
    if kind in ("uniform", "quniform"):
        return od.FloatDistribution(a[0], a[1], step=a[2] if kind == "quniform" else None)
    if kind in ("loguniform", "qloguniform"):
        return od.FloatDistribution(a[0], a[1], log=True)  # Optuna cannot combine log and step
    if kind == "randint":
        return od.IntDistribution(a[0], a[1] - 1)
    return od.IntDistribution(a[0], a[1], step=a[2])


def importance(run: Run, seed: int = 0) -> pd.Series:
    """fANOVA importance of each searched knob on the finished search trials (Optuna, in-memory study).

    Each usable trial becomes a COMPLETE Optuna trial whose value is its best validation metric, with the
    distributions the spec's ``space:`` declares. ASHA-stopped trials are included with their value at fewer
    epochs. Empty when fewer than 2 trials, no knob varies, or the values do not vary.
    """
    import optuna

    frame = run.usable(run.summary)
    keys = [k for k in run.searched if frame[f"config/{k}"].nunique() > 1]
    if len(frame) < 2 or not keys or frame[run.metric].nunique() < 2:
        return pd.Series(dtype=float)
    dists = {key: _distribution(*run.space[key]) for key in keys}
    trials = []
    for _, row in frame.iterrows():
        params = {k: typed_value(row[f"config/{k}"], *run.space[k]) for k in keys}
        try:
            trials.append(
                optuna.trial.create_trial(params=params, distributions=dists, value=float(row[run.metric]))
            )
        except (
            ValueError
        ):  # a value outside the spec's space (e.g. the spec was edited after the run): left out
            continue
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize" if run.mode == "max" else "minimize")
        study.add_trials(trials)
        if len(trials) < 2:
            return pd.Series(dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)
            )
    except RuntimeError:  # fANOVA's forest explains no variance (e.g. values differ only within one leaf)
        return pd.Series(dtype=float)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return pd.Series(result, dtype=float)


def importance_plot(values: pd.Series, out_dir: Path) -> list[Path]:
    if values.empty:
        return []
    fig = Figure(figsize=(5, 0.5 + 0.45 * len(values)))
    ax = fig.add_subplot()
    ordered = values.sort_values()
    ax.barh(list(ordered.index), ordered.to_numpy())
    ax.set_xlabel("fANOVA importance (normalised)")
    return [_save(fig, out_dir / "importance.png")]
