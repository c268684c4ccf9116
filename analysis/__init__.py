"""What the results mean: tables, statistics and plots read from a finished ranktune result folder.

Command lines (each ``main(argv) -> int``; exit code 2 when RUN_DIR is not a ranktune result folder):

* ``python -m analysis.best RUN_DIR`` — top configs by the validation metric, and ``winner.yaml``;
* ``python -m analysis.significance RUN_DIR`` — test metrics over seeds, paired tests against baselines;
* ``python -m analysis.report RUN_DIR`` — ``report/report.md`` with every table and PNG plot.

This package never imports Ray or torch, so a folder copied from a cluster can be analysed on a laptop.
"""

from analysis.io import Run, RunDirError, load_run, read_progress

__all__ = ["Run", "RunDirError", "load_run", "read_progress"]
