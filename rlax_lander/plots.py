"""Plots of aggregate results: interval estimates, performance profiles, learning curves.

Matplotlib with the non-interactive Agg backend; every function writes one PNG to ``path`` and
returns the path. Bands and intervals come from ``rlax_lander.stats`` (stratified bootstrap).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rlax_lander import stats  # noqa: E402


def _check_mapping(data: Mapping, name: str) -> None:
    if not isinstance(data, Mapping) or len(data) == 0:
        raise ValueError(f"{name} must be a non-empty dict of name -> data")


def _save(fig, path) -> str:
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_interval_estimates(
    results: Mapping[str, tuple[float, float, float]],
    path,
    xlabel: str = "score",
    title: str | None = None,
) -> str:
    """Horizontal interval plot: one row per name, a dot at the point and a bar from lo to hi.

    Args:
      results: ``{name: (point, lo, hi)}`` scalars (e.g. ``stats.Interval`` of an IQM).
      path: output PNG path (parent folders are created).
      xlabel, title: axis label (unit of the scores) and optional title.
    """
    _check_mapping(results, "results")
    names = list(results)
    values = np.array([[float(v) for v in results[n]] for n in names], dtype=np.float64)
    if values.shape[1] != 3:
        raise ValueError("results values must be (point, lo, hi) triples")
    fig, ax = plt.subplots(figsize=(6.0, 0.5 * len(names) + 1.2))
    rows = np.arange(len(names))
    point, lo, hi = values.T
    ax.hlines(rows, lo, hi, lw=6, alpha=0.4, color="C0")
    ax.plot(point, rows, "o", color="C0")
    ax.set_yticks(rows, names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_performance_profiles(
    scores_by_name: Mapping[str, object],
    taus: Sequence[float],
    path,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    xlabel: str = "return threshold tau",
) -> str:
    """Performance profiles (fraction of runs with score > tau) with bootstrap bands.

    Args:
      scores_by_name: ``{name: scores}``, each [runs, tasks] or [runs].
      taus: [T] thresholds in the unit of the scores.
      path: output PNG path.
      reps, confidence, seed: bootstrap settings of the bands (``stats.performance_profile``).
    """
    _check_mapping(scores_by_name, "scores_by_name")
    taus = np.asarray(taus, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for i, (name, scores) in enumerate(scores_by_name.items()):
        prof = stats.performance_profile(scores, taus, reps=reps, confidence=confidence, seed=seed)
        ax.plot(taus, prof.point, color=f"C{i}", label=name)
        ax.fill_between(taus, prof.lo, prof.hi, color=f"C{i}", alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_learning_curves(
    curves: Mapping[str, tuple[object, object]],
    path,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    xlabel: str = "environment steps",
    ylabel: str = "episode return",
) -> str:
    """Mean learning curve over seeds with a pointwise bootstrap band per method.

    Args:
      curves: ``{name: (steps [T], returns [seeds, T])}``.
      path: output PNG path.
      reps, confidence, seed: bootstrap settings of the band (seeds resampled per time point).
    """
    _check_mapping(curves, "curves")
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for i, (name, (steps, returns)) in enumerate(curves.items()):
        steps = np.asarray(steps, dtype=np.float64)
        returns = np.asarray(returns, dtype=np.float64)
        if steps.ndim != 1 or returns.ndim != 2 or returns.shape[1] != steps.shape[0]:
            raise ValueError(
                f"curves[{name!r}] must be (steps [T], returns [seeds, T]), "
                f"got shapes {steps.shape} and {returns.shape}"
            )
        band = stats.stratified_bootstrap_ci(
            returns, stats.mean_per_task, reps=reps, confidence=confidence, seed=seed
        )
        ax.plot(steps, band.point, color=f"C{i}", label=f"{name} (n={returns.shape[0]})")
        ax.fill_between(steps, band.lo, band.hi, color=f"C{i}", alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
