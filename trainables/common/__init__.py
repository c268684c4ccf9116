"""Shared, pure, vectorised pieces used by two or more trainables.

* :mod:`~trainables.common.losses` — focal, weighted BCE, BPR, InfoNCE, margin ranking;
* :mod:`~trainables.common.metrics` — ranks, HR/NDCG/MRR@k, precision/recall@k, AUROC/AUPR, F1 thresholds;
* :mod:`~trainables.common.samplers` — negative samplers (one module per family);
* :mod:`~trainables.common.data` — pair indexes, padding, chronological splits.
"""
