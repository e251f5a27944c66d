"""Aggregate statistics over runs (seeds) and tasks (settings), with bootstrap intervals.

Our own small, tested, numpy-only implementation of the aggregates recommended for deep-RL
evaluation (Agarwal et al., 2021, "Deep RL at the Edge of the Statistical Precipice"): IQM,
stratified bootstrap confidence intervals, probability of improvement and performance profiles.
We do not depend on the `rliable` package: it pulls in arch, seaborn and pandas and has been
unmaintained since 2024. The definitions follow its documentation:

* IQM: the mean of the middle 50 % of all scores pooled into one flat array, with the same
  trimming rule as ``scipy.stats.trim_mean(x, 0.25)``: sort, drop ``floor(0.25 n)`` scores from
  each end, average the rest.
* Stratified bootstrap: for every task independently, resample that task's runs with replacement;
  the interval is the percentile interval of the statistic over the resamples.
* Probability of improvement: per task the Mann-Whitney-U probability
  ``P(X > Y) + 0.5 P(X = Y)``, averaged over tasks.
* Performance profile: fraction of all (run, task) scores strictly greater than ``tau``.

Score arrays are ``[runs, tasks]``; a 1-D array ``[runs]`` is taken as a single task. Scores are in
whatever unit the caller uses (episode return for LunarLander).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

# Bootstrap resamples are materialised in chunks of at most this many elements.
_CHUNK_ELEMENTS = 1 << 22


class Interval(NamedTuple):
    """A point estimate with a confidence interval; fields are floats or same-shape arrays."""

    point: float | np.ndarray
    lo: float | np.ndarray
    hi: float | np.ndarray


# ----------------------------------------------------------------------------- validation


def _as_scores(scores, name: str = "scores") -> np.ndarray:
    """Returns ``scores`` as a float64 ``[runs, tasks]`` array; rank 1 means one task."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have rank 1 [runs] or 2 [runs, tasks], got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _as_flat(scores, name: str = "scores") -> np.ndarray:
    """Returns ``scores`` (any rank >= 1) flattened to a non-empty finite float64 vector."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have rank >= 1, got a scalar")
    if arr.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr.reshape(-1)


def _check_bootstrap_args(reps: int, confidence: float) -> None:
    if not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


# ----------------------------------------------------------------------------- aggregates
# Each aggregate has a batched twin that reduces the trailing [runs, tasks] axes of a
# [reps, runs, tasks] array, so the bootstrap need not call Python once per resample.


def _iqm_rows(flat: np.ndarray) -> np.ndarray:
    """IQM of every row of ``flat`` [reps, n] -> [reps] (scipy ``trim_mean(., 0.25)`` rule)."""
    n = flat.shape[-1]
    cut = int(0.25 * n)
    ordered = np.sort(flat, axis=-1)
    return ordered[..., cut : n - cut].mean(axis=-1)


def iqm(scores) -> float:
    """Interquartile mean of all scores pooled.

    Args:
      scores: array of any rank >= 1 (typically [runs, tasks]); flattened before trimming.
    Returns:
      The mean of the sorted scores after dropping ``floor(0.25 * n)`` from each end.
    """
    return float(_iqm_rows(_as_flat(scores)[None])[0])


def mean(scores) -> float:
    """Mean of all scores pooled (any rank >= 1)."""
    return float(_as_flat(scores).mean())


def median(scores) -> float:
    """Median of all scores pooled (any rank >= 1)."""
    return float(np.median(_as_flat(scores)))


def optimality_gap(scores, threshold: float = 200.0) -> float:
    """Mean shortfall below ``threshold``: ``mean(max(threshold - score, 0))``.

    Args:
      scores: array of any rank >= 1, same unit as ``threshold``.
      threshold: the score regarded as "solved" (200 is LunarLander's conventional bar).
    Returns:
      The average amount by which scores fall short of ``threshold`` (0 when all reach it).
    """
    return float(np.maximum(threshold - _as_flat(scores), 0.0).mean())


def mean_per_task(scores) -> np.ndarray:
    """Mean over runs for every task: ``[runs, tasks] -> [tasks]`` (e.g. a learning curve)."""
    return _as_scores(scores).mean(axis=0)


def _pooled(samples: np.ndarray) -> np.ndarray:
    return samples.reshape(samples.shape[0], -1)


_BATCHED: dict[Callable, Callable] = {
    iqm: lambda s: _iqm_rows(_pooled(s)),
    mean: lambda s: _pooled(s).mean(axis=-1),
    median: lambda s: np.median(_pooled(s), axis=-1),
    optimality_gap: lambda s, threshold=200.0: np.maximum(threshold - _pooled(s), 0.0).mean(axis=-1),
    mean_per_task: lambda s: s.mean(axis=1),
}


def _batched_form(statistic: Callable) -> Callable:
    """A function [reps, runs, tasks] -> [reps, ...] computing ``statistic`` per resample."""
    if statistic in _BATCHED:
        return _BATCHED[statistic]
    if isinstance(statistic, functools.partial) and statistic.func in _BATCHED and not statistic.args:
        return functools.partial(_BATCHED[statistic.func], **statistic.keywords)

    def looped(samples: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(statistic(s), dtype=np.float64) for s in samples])

    return looped


# ----------------------------------------------------------------------------- bootstrap


def _resample_chunks(rng: np.random.Generator, scores: np.ndarray, reps: int, extra: int = 1):
    """Yields stratified resamples of ``scores`` [runs, tasks] as [chunk, runs, tasks] arrays.

    Every task's runs are drawn with replacement independently. ``extra`` scales down the chunk
    size for consumers that expand each resample further (e.g. by a number of thresholds).
    """
    runs, tasks = scores.shape
    chunk = max(1, _CHUNK_ELEMENTS // max(1, runs * tasks * extra))
    task_index = np.arange(tasks)
    done = 0
    while done < reps:
        n = min(chunk, reps - done)
        idx = rng.integers(0, runs, size=(n, runs, tasks))
        yield scores[idx, task_index]
        done += n


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1.0 - float(confidence)
    lo, hi = np.quantile(samples, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return lo, hi


def _unwrap(x: np.ndarray):
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def stratified_bootstrap_ci(
    scores,
    statistic: Callable = iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Point estimate and stratified-bootstrap percentile interval of ``statistic``.

    Args:
      scores: [runs, tasks] (or [runs] for one task), one score per run and task.
      statistic: maps a [runs, tasks] array to a scalar or a fixed-shape array, e.g. ``iqm``,
        ``mean``, ``median``, ``optimality_gap`` (or a keyword ``functools.partial`` of it),
        ``mean_per_task``; these are evaluated vectorised over resamples, any other callable is
        called once per resample.
      reps: number of bootstrap resamples.
      confidence: interval coverage in (0, 1).
      seed: seed of the numpy generator that draws the resamples.
    Returns:
      ``Interval(point, lo, hi)``; floats for scalar statistics, arrays otherwise.
    """
    scores = _as_scores(scores)
    _check_bootstrap_args(reps, confidence)
    if not callable(statistic):
        raise ValueError(f"statistic must be callable, got {statistic!r}")
    point = np.asarray(statistic(scores), dtype=np.float64)
    batched = _batched_form(statistic)
    rng = np.random.default_rng(seed)
    boot = np.concatenate([batched(s) for s in _resample_chunks(rng, scores, reps)], axis=0)
    lo, hi = _percentile_interval(boot, confidence)
    return Interval(_unwrap(point), _unwrap(lo), _unwrap(hi))


# ----------------------------------------------------------------------------- comparisons


def _prob_improvement_batched(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[reps, n, tasks] x [reps, m, tasks] -> [reps]: mean over tasks of P(X>Y) + 0.5 P(X=Y)."""
    xe = x[:, :, None, :]
    ye = y[:, None, :, :]
    per_task = (xe > ye).mean(axis=(1, 2)) + 0.5 * (xe == ye).mean(axis=(1, 2))
    return per_task.mean(axis=-1)


def probability_of_improvement(
    x,
    y,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Probability that a run of X scores above a run of Y, averaged over tasks.

    Per task this is the normalised Mann-Whitney U statistic ``P(X > Y) + 0.5 P(X = Y)``; its
    interval comes from stratified bootstrap resampling of X's and Y's runs independently.

    Args:
      x: [runs_x, tasks] (or [runs_x]) scores of algorithm X.
      y: [runs_y, tasks] (or [runs_y]) scores of algorithm Y; same number of tasks as ``x``.
      reps, confidence, seed: as in ``stratified_bootstrap_ci``.
    Returns:
      ``Interval(point, lo, hi)`` of floats in [0, 1]; 0.5 means no difference.
    """
    x = _as_scores(x, "x")
    y = _as_scores(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of tasks, got {x.shape[1]} and {y.shape[1]}"
        )
    _check_bootstrap_args(reps, confidence)
    point = float(_prob_improvement_batched(x[None], y[None])[0])
    rng = np.random.default_rng(seed)
    extra = max(x.shape[0], y.shape[0])
    boot = []
    for xs in _resample_chunks(rng, x, reps, extra=extra):
        ys = np.concatenate(list(_resample_chunks(rng, y, xs.shape[0], extra=extra)), axis=0)
        boot.append(_prob_improvement_batched(xs, ys))
    lo, hi = _percentile_interval(np.concatenate(boot), confidence)
    return Interval(point, float(lo), float(hi))


def _profile_batched(samples: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """[reps, runs, tasks] -> [reps, len(taus)]: fraction of pooled scores > each tau."""
    pooled = _pooled(samples)
    return (pooled[:, :, None] > taus[None, None, :]).mean(axis=1)


def performance_profile(
    scores,
    taus,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Score distribution: fraction of (run, task) scores strictly above each threshold.

    Args:
      scores: [runs, tasks] (or [runs]) scores.
      taus: [T] thresholds, in the unit of ``scores``.
      reps, confidence, seed: as in ``stratified_bootstrap_ci``.
    Returns:
      ``Interval(point, lo, hi)`` of [T] arrays in [0, 1]. For taus in increasing order all three
      are non-increasing (each resample's profile is, and order statistics preserve that).
    """
    scores = _as_scores(scores)
    taus = np.asarray(taus, dtype=np.float64)
    if taus.ndim != 1 or taus.size == 0:
        raise ValueError(f"taus must be a non-empty 1-D array, got shape {taus.shape}")
    if not np.all(np.isfinite(taus)):
        raise ValueError("taus must be finite")
    _check_bootstrap_args(reps, confidence)
    point = _profile_batched(scores[None], taus)[0]
    rng = np.random.default_rng(seed)
    boot = np.concatenate(
        [_profile_batched(s, taus) for s in _resample_chunks(rng, scores, reps, extra=taus.size)]
    )
    lo, hi = _percentile_interval(boot, confidence)
    return Interval(point, lo, hi)
