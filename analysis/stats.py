"""Pure statistics for replicated runs: confidence intervals, paired tests, effect size, Holm correction.

Every seed system ends with "3–5 runs with different seeds" and "p < 0.05". With so few seeds the choice of test
matters, so each function here wraps the SciPy / statsmodels reference implementation (never a re-derivation) and
fixes the degenerate cases that appear in practice: identical runs (zero variance) and a single seed.

* :func:`t_interval` — Student-t interval of a mean; exact under normality, the usual choice for n = 3–10.
* :func:`bootstrap_interval` — percentile bootstrap from :func:`scipy.stats.bootstrap` with an explicit
  ``numpy.random.Generator`` (reproducible). Percentile rather than BCa: with 3–5 values BCa's jackknife
  acceleration is unstable and undefined when values tie.
* :func:`paired_tests` — paired t-test and Wilcoxon signed-rank on runs that share a seed, plus Cohen's d_z.
  With n ≤ 5 pairs the two-sided exact Wilcoxon cannot go below p = 2/2^n = 0.0625, so it can never reach 0.05;
  :data:`MIN_PAIRS_WILCOXON` states the smallest n where it can.
* :func:`holm` — Holm's step-down correction across every comparison of a report (controls the family-wise
  error rate without assuming independence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

#: Smallest number of pairs for which a two-sided exact Wilcoxon test can give p < 0.05 (2 / 2^6 = 0.03125).
MIN_PAIRS_WILCOXON = 6


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and two 95% intervals of one metric over seeds."""

    n: int
    mean: float
    std: float
    t_low: float
    t_high: float
    boot_low: float
    boot_high: float


@dataclass(frozen=True)
class PairedResult:
    """Paired comparison of ``a`` against ``b`` (differences ``a - b``, one per shared seed)."""

    n: int
    mean_diff: float
    diff_low: float  # t-interval of the mean difference
    diff_high: float
    t_stat: float
    p_t: float
    w_stat: float
    p_wilcoxon: float
    d_z: float


def _as_array(values: np.ndarray | list[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D sample, got shape {x.shape}")
    return x[np.isfinite(x)]


def t_interval(values: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; ``(nan, nan)`` for fewer than 2 values, a point if all tie."""
    x = _as_array(values)
    if x.size < 2:
        return (float("nan"), float("nan"))
    sem = sps.sem(x)
    if sem == 0.0:
        return (float(x[0]), float(x[0]))
    low, high = sps.t.interval(confidence, df=x.size - 1, loc=x.mean(), scale=sem)
    return (float(low), float(high))


def bootstrap_interval(
    values: np.ndarray | list[float],
    rng: np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 9999,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, drawn from ``rng``; ``(nan, nan)`` for fewer than 2 values."""
    x = _as_array(values)
    if x.size < 2:
        return (float("nan"), float("nan"))
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    res = sps.bootstrap(
        (x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile", rng=rng
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def summarize(
    values: np.ndarray | list[float],
    rng: np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 9999,
) -> Summary:
    """:class:`Summary` of one metric over seeds (non-finite values are dropped)."""
    x = _as_array(values)
    t_low, t_high = t_interval(x, confidence)
    b_low, b_high = bootstrap_interval(x, rng, confidence, n_resamples)
    mean = float(x.mean()) if x.size else float("nan")
    std = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    return Summary(int(x.size), mean, std, t_low, t_high, b_low, b_high)


def cohens_dz(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    """Cohen's d_z for paired samples: mean difference over the standard deviation of the differences.

    It equals the paired t statistic divided by sqrt(n); ``±inf`` for a constant non-zero shift, 0 for no shift.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd <= 1e-12 * np.abs(d).max() or sd == 0.0:
        return 0.0 if d.mean() == 0.0 else float(np.sign(d.mean()) * np.inf)
    return float(d.mean() / sd)


def paired_tests(
    a: np.ndarray | list[float], b: np.ndarray | list[float], confidence: float = 0.95
) -> PairedResult:
    """Two-sided paired t-test (:func:`scipy.stats.ttest_rel`) and Wilcoxon signed-rank test.

    ``a[i]`` and ``b[i]`` must come from the same seed. Identical samples give p = 1 (SciPy would return NaN for
    the t-test); fewer than 2 pairs give NaN everywhere.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples need equal 1-D shapes, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    nan = float("nan")
    if n < 2:
        return PairedResult(n, nan, nan, nan, nan, nan, nan, nan, nan)
    d = x - y
    low, high = t_interval(d, confidence)
    if np.all(d == 0.0):
        return PairedResult(n, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0)
    w = sps.wilcoxon(x, y)
    if np.ptp(d) <= 1e-12 * np.abs(d).max():
        # a constant shift (up to rounding): the t statistic's limit is ±inf and its p-value 0; SciPy would
        # divide rounding noise by rounding noise
        shift = float(np.sign(d.mean()) * np.inf)
        return PairedResult(
            n, float(d.mean()), low, high, shift, 0.0, float(w.statistic), float(w.pvalue), shift
        )
    t = sps.ttest_rel(x, y)
    return PairedResult(
        n=n,
        mean_diff=float(d.mean()),
        diff_low=low,
        diff_high=high,
        t_stat=float(t.statistic),
        p_t=float(t.pvalue),
        w_stat=float(w.statistic),
        p_wilcoxon=float(w.pvalue),
        d_z=cohens_dz(x, y),
    )


def holm(pvalues: np.ndarray | list[float], alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values and rejections (statsmodels ``multipletests(method="holm")``).

    NaN p-values (comparisons with fewer than 2 pairs) are left out of the family and stay NaN / not rejected.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    reject = np.zeros(p.shape, dtype=bool)
    ok = np.isfinite(p)
    if ok.any():
        rej, adj, _, _ = multipletests(p[ok], alpha=alpha, method="holm")
        adjusted[ok] = adj
        reject[ok] = rej
    return adjusted, reject
