"""analysis.stats against hand-computed values and the SciPy / statsmodels reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis.stats import bootstrap_interval, cohens_dz, holm, paired_tests, summarize, t_interval

A = np.array([0.412, 0.398, 0.431, 0.405, 0.420, 0.389])
B = np.array([0.401, 0.392, 0.415, 0.407, 0.402, 0.380])


def test_t_interval_hand_computed() -> None:
    # mean 3, sem sqrt(2.5 / 5), t_{0.975, 4} = 2.7764451
    low, high = t_interval([1, 2, 3, 4, 5])
    half = 2.7764451052 * math.sqrt(0.5)
    assert low == pytest.approx(3 - half, abs=1e-9) and high == pytest.approx(3 + half, abs=1e-9)


def test_t_interval_degenerate_cases() -> None:
    assert t_interval([0.3, 0.3, 0.3]) == (0.3, 0.3)
    assert all(math.isnan(v) for v in t_interval([0.3]))


def test_bootstrap_equals_scipy_with_same_generator() -> None:
    ours = bootstrap_interval(A, np.random.default_rng(7), n_resamples=2000)
    ref = sps.bootstrap((A,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(7))
    assert ours == (ref.confidence_interval.low, ref.confidence_interval.high)
    again = bootstrap_interval(A, np.random.default_rng(7), n_resamples=2000)
    other = bootstrap_interval(A, np.random.default_rng(8), n_resamples=2000)
    assert again == ours and other != ours
    assert ours[0] < A.mean() < ours[1]


def test_summarize() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0, float("nan")], np.random.default_rng(0))
    assert (s.n, s.mean) == (5, 3.0)
    assert s.std == pytest.approx(math.sqrt(2.5))
    assert s.boot_low < 3.0 < s.boot_high


def test_paired_tests_hand_computed() -> None:
    # differences [1, 2, 3]: mean 2, sd 1, t = 2 / (1 / sqrt 3); exact Wilcoxon with all 3 ranks positive: 2/8
    r = paired_tests([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert r.n == 3 and r.mean_diff == 2.0
    assert r.t_stat == pytest.approx(2 * math.sqrt(3))
    assert r.p_t == pytest.approx(2 * sps.t.sf(2 * math.sqrt(3), df=2))
    assert r.p_wilcoxon == pytest.approx(0.25)
    assert r.d_z == pytest.approx(2.0)


def test_paired_tests_equal_scipy_reference() -> None:
    r = paired_tests(A, B)
    t = sps.ttest_rel(A, B)
    w = sps.wilcoxon(A, B)
    assert (r.t_stat, r.p_t) == pytest.approx((t.statistic, t.pvalue), rel=1e-12)
    assert (r.w_stat, r.p_wilcoxon) == pytest.approx((w.statistic, w.pvalue), rel=1e-12)
    assert r.d_z == pytest.approx(t.statistic / math.sqrt(len(A)), rel=1e-12)
    low, high = sps.t.interval(0.95, df=len(A) - 1, loc=(A - B).mean(), scale=sps.sem(A - B))
    assert (r.diff_low, r.diff_high) == pytest.approx((low, high))


def test_paired_tests_identical_and_too_few() -> None:
    same = paired_tests(A, A)
    assert (same.p_t, same.p_wilcoxon, same.d_z, same.mean_diff) == (1.0, 1.0, 0.0, 0.0)
    assert math.isnan(paired_tests([1.0], [2.0]).p_t)
    with pytest.raises(ValueError):
        paired_tests([1.0, 2.0], [1.0])


def test_cohens_dz() -> None:
    assert cohens_dz([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert cohens_dz([2.0, 3.0], [1.0, 2.0]) == math.inf


def test_holm_hand_computed_and_statsmodels() -> None:
    # sorted 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    adjusted, reject = holm([0.01, 0.04, 0.03])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert reject.tolist() == [True, False, False]
    p = np.array([0.001, 0.2, 0.013, 0.04, 0.5])
    ref = multipletests(p, alpha=0.05, method="holm")
    ours = holm(p)
    assert np.allclose(ours[0], ref[1]) and (ours[1] == ref[0]).all()


def test_holm_leaves_nan_out_of_the_family() -> None:
    adjusted, reject = holm([0.02, float("nan"), 0.02])
    assert adjusted[[0, 2]] == pytest.approx([0.04, 0.04])
    assert math.isnan(adjusted[1]) and reject.tolist() == [True, False, True]


def test_constant_shift_up_to_rounding_is_an_exact_shift() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4]) + 0.7  # differences equal 0.7 up to floating-point rounding
    r = paired_tests(a, a - 0.7)
    assert (r.t_stat, r.p_t, r.d_z) == (math.inf, 0.0, math.inf)
    assert r.mean_diff == pytest.approx(0.7)
