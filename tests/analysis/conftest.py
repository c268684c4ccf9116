"""A fake result folder written exactly in the documented layout (docs/architecture.md, "Results layout").

Search phase: 6 trials of a hybrid model with searched ``alpha`` (grid), ``lr`` (loguniform) and
``num_negatives`` (choice) under ASHA (grace 1, factor 3, 9 epochs → rungs 1, 3, 9):

==========  =====  ======  ==  ==========  =====  ========  ========
trial       alpha  lr      nn  status      epochs best_ep   val/test
==========  =====  ======  ==  ==========  =====  ========  ========
t0          0.3    1e-3    1   TERMINATED  9      8         .30/.28
t1          0.5    2e-3    4   TERMINATED  9      9         .42/.40
t2          0.7    5e-4    4   TERMINATED  3      3         .25/.24
t3          0.5    1e-4    1   TERMINATED  1      1         .20/.19
t4          0.3    3e-3    4   ERROR       2      —         —
t5          0.7    8e-3    1   DIVERGED    1      —         —
==========  =====  ======  ==  ==========  =====  ========  ========

t0's progress.csv repeats epochs 4 and 5 (a restore re-wrote them); the first copies hold wrong values (-1).

Replicate phase (seeds 0–4): ``top1`` = t1's config, ``top2`` = t0's config, ``baseline:sasrec_only`` (alpha 1).
test/hr@10 = 0.35 + seed offset ``OFFSETS`` + group shift: top1 gets +0.05 + ``TOP1_NOISE`` (a planted
difference), top2 gets ``TOP2_NOISE`` (mean shift 0: identical to the baseline in expectation). One ``top3`` run
errored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

SPEC = """\
# fake experiment for the analysis tests
name: fake_alpha
trainable: hybrid_sasrec_gnn
data: {source: synthetic, num_users: 100, num_items: 50}
config: {max_epochs: 9, fusion: fixed}
space:
  alpha: {grid: [0.3, 0.5, 0.7]}
  lr: {loguniform: [1.0e-4, 1.0e-2]}
  num_negatives: {choice: [1, 4]}
metric: val/hr@10
mode: max
search: {algorithm: optuna, num_samples: 6, max_concurrent: 2, seed: 0}
scheduler: {type: asha, grace_period: 1, reduction_factor: 3}
resources: {cpu: 1, gpu: 0}
checkpoint: {every: 1, keep: 2}
replicate: {top_k: 2, seeds: SEEDS, baselines: {sasrec_only: {alpha: 1.0}}}
smoke: {data: {num_users: 20}, config: {max_epochs: 2}, search: {num_samples: 2}}
"""

# trial_id, alpha, lr, num_negatives, status, epochs, best_epoch, val, test
TRIALS = [
    ("t0", 0.3, 1e-3, 1, "TERMINATED", 9, 8, 0.30, 0.28),
    ("t1", 0.5, 2e-3, 4, "TERMINATED", 9, 9, 0.42, 0.40),
    ("t2", 0.7, 5e-4, 4, "TERMINATED", 3, 3, 0.25, 0.24),
    ("t3", 0.5, 1e-4, 1, "TERMINATED", 1, 1, 0.20, 0.19),
    ("t4", 0.3, 3e-3, 4, "ERROR", 2, None, None, None),
    ("t5", 0.7, 8e-3, 1, "DIVERGED", 1, None, None, None),
]
OFFSETS = [0.01, -0.01, 0.02, 0.0, -0.02]
TOP1_NOISE = [0.004, -0.003, 0.002, -0.001, 0.0]
TOP2_NOISE = [0.01, -0.01, 0.005, -0.005, 0.0]
GROUPS = {
    "top1": ("t1", 0.5, 2e-3, 4),
    "top2": ("t0", 0.3, 1e-3, 1),
    "baseline:sasrec_only": ("", 1.0, 1e-3, 1),
}


def _curve(final: float, best_epoch: int, epochs: int) -> list[float]:
    """Validation metric per epoch: rises linearly to ``final`` at ``best_epoch``, then 0.01 lower."""
    return [final * e / best_epoch if e <= best_epoch else final - 0.01 for e in range(1, epochs + 1)]


def _group_metrics(hr: float, alpha: float) -> dict[str, float]:
    """Per-group (short/long sequence) test metrics and α statistics of a hybrid model."""
    return {
        "test/short/hr@10": hr - 0.05,
        "test/long/hr@10": hr + 0.05,
        "test/short/alpha_mean": alpha - 0.1,
        "test/long/alpha_mean": alpha + 0.1,
    }


def write_run_dir(
    root: Path,
    replicate: bool = True,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    top2_val_boost: float = 0.0,
    summary: bool = True,
) -> Path:
    """Write the fake RUN_DIR under ``root`` and return it."""
    run = root / "fake_alpha"
    (run / "search").mkdir(parents=True)
    (run / "spec.yaml").write_text(SPEC.replace("SEEDS", json.dumps(list(seeds))), encoding="utf-8")
    rows = []
    for i, (tid, alpha, lr, nn, status, epochs, best_epoch, val, test) in enumerate(TRIALS):
        logdir = f"search/run_trial_{tid}_{i}_alpha={alpha},lr={lr:.4g}"
        trial = run / logdir
        trial.mkdir()
        config = {
            "alpha": alpha,
            "lr": lr,
            "num_negatives": nn,
            "seed": 0,
            "max_epochs": 9,
            "fusion": "fixed",
        }
        (trial / "params.json").write_text(json.dumps(config), encoding="utf-8")
        row = {
            "trial_id": tid,
            "status": status,
            "epochs": epochs,
            "best_epoch": best_epoch,
            **{f"config/{k}": v for k, v in config.items()},
            "val/hr@10": val,
            "test/hr@10": test,
            **(_group_metrics(test, alpha) if test is not None else {}),
            "error": "RuntimeError: boom" if status != "TERMINATED" else "",
            "error_file": f"{logdir}/error.txt" if status != "TERMINATED" else "",
            "logdir": logdir,
        }
        rows.append(row)
        if status != "TERMINATED":
            (trial / "error.txt").write_text("Traceback ...\nRuntimeError: boom\n", encoding="utf-8")
        curve = _curve(val, best_epoch, epochs) if val is not None else [0.1] * epochs
        progress = [
            {
                "train/loss": 1.0 / e,
                "val/hr@10": v,
                "test/hr@10": test,
                "best_epoch": best_epoch or e,
                "epoch": e,
                "training_iteration": e,
                "trial_id": tid,
            }
            for e, v in enumerate(curve, start=1)
        ]
        if tid == "t0":
            stale = [{**p, "val/hr@10": -1.0} for p in progress[3:5]]  # written before the crash
            progress = progress[:3] + stale + progress[3:]
        pd.DataFrame(progress).to_csv(trial / "progress.csv", index=False)
    if summary:
        pd.DataFrame(rows).to_csv(run / "summary.csv", index=False)
    (run / "best.json").write_text(
        json.dumps({"trial_id": "t1", "metric": "val/hr@10", "mode": "max", "value": 0.42, "best_epoch": 9}),
        encoding="utf-8",
    )
    if replicate:
        write_replicate(run, seeds, top2_val_boost, summary)
    return run


def write_replicate(
    run: Path, seeds: tuple[int, ...], top2_val_boost: float = 0.0, summary: bool = True
) -> None:
    """The replicate phase of the fake run (replicate_summary.csv and replicate/<trial>/progress.csv)."""
    rows = []
    for group, (source, alpha, lr, nn) in GROUPS.items():
        for s in seeds:
            base = 0.35 + OFFSETS[s % len(OFFSETS)]
            if group == "top1":
                hr = base + 0.05 + TOP1_NOISE[s % len(OFFSETS)]
            elif group == "top2":
                hr = base + TOP2_NOISE[s % len(OFFSETS)]
            else:
                hr = base
            val = hr + 0.02 + (top2_val_boost if group == "top2" else 0.0)
            tid = f"r_{group.replace(':', '_')}_{s}"
            logdir = f"replicate/run_trial_{tid}"
            rows.append(
                {
                    "trial_id": tid,
                    "status": "TERMINATED",
                    "epochs": 9,
                    "best_epoch": 9,
                    "config/alpha": alpha,
                    "config/lr": lr,
                    "config/num_negatives": nn,
                    "config/seed": s,
                    "val/hr@10": val,
                    "test/hr@10": hr,
                    **_group_metrics(hr, alpha),
                    "error": "",
                    "error_file": "",
                    "logdir": logdir,
                    "group": group,
                    "source_trial_id": source,
                }
            )
    rows.append(
        {
            "trial_id": "r_top3_0",
            "status": "ERROR",
            "epochs": 1,
            "config/alpha": 0.7,
            "config/seed": 0,
            "error": "RuntimeError: boom",
            "logdir": "replicate/run_trial_r_top3_0",
            "group": "top3",
            "source_trial_id": "t2",
        }
    )
    for row in rows:  # the trial folders, from which an interrupted replication's summary is rebuilt
        trial = run / row["logdir"]
        trial.mkdir(parents=True)
        config = {
            "alpha": row["config/alpha"],
            "seed": row["config/seed"],
            "max_epochs": 9,
            "fusion": "fixed",
        }
        if row["status"] == "ERROR":
            (trial / "error.txt").write_text("Traceback ...\nRuntimeError: boom\n", encoding="utf-8")
        else:
            config.update({"lr": row["config/lr"], "num_negatives": row["config/num_negatives"]})
        replica = {"group": row["group"], "source_trial_id": row["source_trial_id"], "config": dict(config)}
        (trial / "params.json").write_text(json.dumps({"_replica": replica, **config}), encoding="utf-8")
        metrics = {k: v for k, v in row.items() if k.startswith(("val/", "test/"))}
        last = {
            **metrics,
            "best_epoch": row.get("best_epoch", 1),
            "epoch": row["epochs"],
            "trial_id": row["trial_id"],
        }
        pd.DataFrame([last]).to_csv(trial / "progress.csv", index=False)
    if summary:
        pd.DataFrame(rows).to_csv(run / "replicate_summary.csv", index=False)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The fake RUN_DIR with a replicate phase over 5 seeds."""
    return write_run_dir(tmp_path)


@pytest.fixture
def make_run_dir(tmp_path: Path):
    """``make_run_dir(**options)`` writes a variant of the fake RUN_DIR (see :func:`write_run_dir`)."""
    return lambda **options: write_run_dir(tmp_path, **options)
