"""Tests of rlax_lander.stats (aggregates, stratified bootstrap) and rlax_lander.plots."""

import functools

import numpy as np
import pytest

from rlax_lander import plots, stats


def _hand_iqm(x):
    """Independent IQM: sort, drop floor(n/4) from each end, average the rest."""
    x = np.sort(np.ravel(x))
    k = len(x) // 4
    return sum(x[k : len(x) - k]) / (len(x) - 2 * k)


# ----------------------------------------------------------------------------- aggregates


@pytest.mark.parametrize("shape", [(1,), (3,), (7,), (8,), (10, 3), (41, 5)])
def test_iqm_matches_hand_computation(shape):
    x = np.random.default_rng(sum(shape)).standard_cauchy(shape)
    np.testing.assert_allclose(stats.iqm(x), _hand_iqm(x), rtol=1e-12)


def test_iqm_matches_scipy_trim_mean():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for n in [4, 5, 6, 7, 99, 100]:
        x = rng.normal(size=(n, 3))
        np.testing.assert_allclose(stats.iqm(x), scipy_stats.trim_mean(x, 0.25, axis=None), rtol=1e-12)


def test_iqm_known_values_and_robustness():
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    x = np.arange(1.0, 9.0)
    x[-1] = 1e9  # an outlier in the top quartile does not move the IQM
    assert stats.iqm(x) == pytest.approx(4.5)
    assert stats.mean(x) > 1e8


def test_mean_median_optimality_gap():
    x = np.array([[100.0, 250.0], [300.0, 150.0]])
    assert stats.mean(x) == pytest.approx(200.0)
    assert stats.median(x) == pytest.approx(200.0)
    assert stats.optimality_gap(x, threshold=200.0) == pytest.approx((100.0 + 50.0) / 4)
    assert stats.optimality_gap(x, threshold=0.0) == 0.0
    np.testing.assert_allclose(stats.mean_per_task(x), [200.0, 200.0])


# ----------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("statistic", [stats.iqm, stats.mean, stats.median])
def test_ci_contains_point_and_shrinks_with_runs(statistic):
    rng = np.random.default_rng(2)
    small = rng.normal(10.0, 3.0, size=(25, 2))
    large = rng.normal(10.0, 3.0, size=(400, 2))
    est_small = stats.stratified_bootstrap_ci(small, statistic, reps=1000, seed=0)
    est_large = stats.stratified_bootstrap_ci(large, statistic, reps=1000, seed=0)
    for est in (est_small, est_large):
        assert est.lo < est.point < est.hi
    # 16x the runs -> about a quarter of the width; allow generous slack.
    assert (est_large.hi - est_large.lo) < 0.5 * (est_small.hi - est_small.lo)


def test_ci_coverage_of_normal_mean():
    rng = np.random.default_rng(3)
    true_mean, covered, trials = 5.0, 0, 200
    for t in range(trials):
        x = rng.normal(true_mean, 2.0, size=(30, 1))
        est = stats.stratified_bootstrap_ci(x, stats.mean, reps=500, confidence=0.95, seed=t)
        covered += est.lo <= true_mean <= est.hi
    assert 0.85 <= covered / trials <= 0.995


def test_ci_wider_at_higher_confidence():
    x = np.random.default_rng(4).normal(size=(50, 1))
    narrow = stats.stratified_bootstrap_ci(x, stats.mean, confidence=0.5, seed=0)
    wide = stats.stratified_bootstrap_ci(x, stats.mean, confidence=0.99, seed=0)
    assert wide.lo < narrow.lo < narrow.hi < wide.hi


def test_bootstrap_is_stratified_per_task():
    # Task 0 always scores 0, task 1 always 1: any per-task resample has mean 0.5 exactly,
    # while resampling pooled cells would not.
    x = np.stack([np.zeros(20), np.ones(20)], axis=1)
    est = stats.stratified_bootstrap_ci(x, stats.mean, reps=300, seed=0)
    assert est.point == est.lo == est.hi == pytest.approx(0.5)


def test_bootstrap_resamples_tasks_independently():
    # Task 1 mirrors task 0 run by run, so the mean is 0 whenever both tasks reuse the same
    # run indices; independent resampling per task gives a CI of positive width.
    v = np.random.default_rng(11).normal(size=20)
    est = stats.stratified_bootstrap_ci(np.stack([v, -v], axis=1), stats.mean, reps=300, seed=0)
    assert est.point == pytest.approx(0.0)
    assert est.hi - est.lo > 0.1


def test_bootstrap_deterministic_and_generic_callable_agrees_with_vectorised():
    x = np.random.default_rng(5).normal(size=(15, 3))
    a = stats.stratified_bootstrap_ci(x, stats.iqm, reps=200, seed=7)
    b = stats.stratified_bootstrap_ci(x, stats.iqm, reps=200, seed=7)
    generic = stats.stratified_bootstrap_ci(x, lambda s: _hand_iqm(s), reps=200, seed=7)
    assert a == b
    np.testing.assert_allclose(generic, a, rtol=1e-12)
    gap = functools.partial(stats.optimality_gap, threshold=0.5)
    generic_gap = stats.stratified_bootstrap_ci(
        x, lambda s: stats.optimality_gap(s, 0.5), reps=200, seed=7
    )
    vectorised_gap = stats.stratified_bootstrap_ci(x, gap, reps=200, seed=7)
    np.testing.assert_allclose(vectorised_gap, generic_gap, rtol=1e-12)


def test_vector_statistic_gives_per_task_band():
    x = np.random.default_rng(6).normal(loc=[0.0, 10.0, 20.0], size=(40, 3))
    est = stats.stratified_bootstrap_ci(x, stats.mean_per_task, reps=500, seed=0)
    assert est.point.shape == est.lo.shape == est.hi.shape == (3,)
    assert np.all(est.lo < est.point) and np.all(est.point < est.hi)
    assert np.all(np.diff(est.point) > 5.0)


# ----------------------------------------------------------------------------- comparisons


def _brute_force_poi(x, y):
    per_task = []
    for t in range(x.shape[1]):
        wins = sum((a > b) + 0.5 * (a == b) for a in x[:, t] for b in y[:, t])
        per_task.append(wins / (x.shape[0] * y.shape[0]))
    return np.mean(per_task)


def test_probability_of_improvement_extremes():
    rng = np.random.default_rng(7)
    low = rng.uniform(0.0, 1.0, size=(12, 2))
    high = low + 5.0
    sep = stats.probability_of_improvement(high, low, reps=200)
    assert sep.point == sep.lo == sep.hi == 1.0
    assert stats.probability_of_improvement(low, high, reps=200).point == 0.0
    same = stats.probability_of_improvement(low, low, reps=500)
    assert same.point == pytest.approx(0.5)
    assert same.lo < 0.5 < same.hi


def test_probability_of_improvement_matches_brute_force_with_ties():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 4, size=(9, 3)).astype(float)  # many ties
    y = rng.integers(0, 4, size=(6, 3)).astype(float)
    est = stats.probability_of_improvement(x, y, reps=300)
    assert est.point == pytest.approx(_brute_force_poi(x, y))
    assert 0.0 <= est.lo <= est.point <= est.hi <= 1.0


def test_performance_profile_monotone_and_bounded():
    rng = np.random.default_rng(9)
    scores = rng.normal(100.0, 80.0, size=(30, 2))
    taus = np.linspace(-200.0, 400.0, 61)
    prof = stats.performance_profile(scores, taus, reps=500)
    for curve in prof:
        assert curve.shape == taus.shape
        assert np.all((0.0 <= curve) & (curve <= 1.0))
        assert np.all(np.diff(curve) <= 0.0)
    assert np.all(prof.lo <= prof.hi)
    assert prof.point[0] == 1.0 and prof.point[-1] == 0.0
    i = 30  # tau = 100
    assert prof.point[i] == pytest.approx(np.mean(scores > taus[i]))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: stats.iqm([]), "scores"),
        (lambda: stats.iqm(3.0), "scores"),
        (lambda: stats.mean([1.0, np.nan]), "scores"),
        (lambda: stats.stratified_bootstrap_ci(np.zeros((0, 3)), stats.mean), "scores"),
        (lambda: stats.stratified_bootstrap_ci(np.zeros((2, 2, 2)), stats.mean), "scores"),
        (lambda: stats.stratified_bootstrap_ci(np.ones(5), stats.mean, confidence=1.0), "confidence"),
        (lambda: stats.stratified_bootstrap_ci(np.ones(5), stats.mean, confidence=0.0), "confidence"),
        (lambda: stats.stratified_bootstrap_ci(np.ones(5), stats.mean, reps=0), "reps"),
        (lambda: stats.probability_of_improvement(np.ones((3, 2)), np.ones((3, 1))), "tasks"),
        (lambda: stats.probability_of_improvement(np.ones((3, 2, 1)), np.ones((3, 2))), "x"),
        (lambda: stats.probability_of_improvement(np.ones(3), []), "y"),
        (lambda: stats.performance_profile(np.ones(3), []), "taus"),
        (lambda: stats.performance_profile(np.ones(3), [0.0], confidence=1.5), "confidence"),
    ],
)
def test_bad_input_raises_naming_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- plots


def _assert_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 2000


def test_plots_write_png(tmp_path):
    rng = np.random.default_rng(10)
    a, b = rng.normal(200, 50, size=(10, 1)), rng.normal(150, 50, size=(10, 1))
    intervals = {
        "a": stats.stratified_bootstrap_ci(a, stats.iqm, reps=200),
        "b": (150.0, 120.0, 180.0),
    }
    p1 = plots.plot_interval_estimates(intervals, tmp_path / "sub" / "iqm.png")
    taus = np.linspace(0, 300, 31)
    p2 = plots.plot_performance_profiles({"a": a, "b": b}, taus, tmp_path / "prof.png", reps=200)
    steps = np.arange(0, 50_000, 1_000)
    curves = {
        "a": (steps, rng.normal(size=(5, steps.size)).cumsum(axis=1)),
        "b": (steps, rng.normal(size=(3, steps.size))),
    }
    p3 = plots.plot_learning_curves(curves, tmp_path / "curves.png", reps=200)
    for p in (p1, p2, p3):
        _assert_png(p)


def test_plots_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="results"):
        plots.plot_interval_estimates({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="curves"):
        plots.plot_learning_curves({"a": (np.arange(3), np.zeros((2, 4)))}, tmp_path / "y.png")
