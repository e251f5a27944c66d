"""Plots of aggregate results: interval estimates, performance profiles, learning curves, and
the binning of training episodes into learning curves (the one place for both).

Matplotlib with the non-interactive Agg backend; every function writes one PNG to ``path`` and
returns the path. Bands and intervals come from ``rlax_lander.stats`` (stratified bootstrap).
"""

from __future__ import annotations

import os
import warnings
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


def bin_episodes(episodes: Mapping[str, np.ndarray], num_cells: int, total_env_steps: int,
                 num_bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Learning curves from finished-episode rows: (bin centres [B] in env steps, mean return
    per cell and bin [C, B], NaN where a bin has no episode).

    episodes: {"seed" [E] cell index, "env_step" [E] env steps at the episode's end,
    "return" [E]} (as `runner.RunResult.episodes`).
    """
    edges = np.linspace(0, max(1, total_env_steps), num_bins + 1)
    idx = np.clip(np.searchsorted(edges, episodes["env_step"], side="left") - 1, 0,
                  num_bins - 1)
    tot = np.zeros((num_cells, num_bins))
    cnt = np.zeros((num_cells, num_bins))
    np.add.at(tot, (episodes["seed"], idx), np.asarray(episodes["return"], np.float64))
    np.add.at(cnt, (episodes["seed"], idx), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * (edges[1:] + edges[:-1]), tot / cnt


def plot_run_curves(groups: Mapping[str, np.ndarray], x, path, title: str,
                    success: float | None = None) -> str:
    """Training curves of a run: per group (a label -> curves [S, B] with NaN gaps), the mean
    over its seeds with a 95% t-band (one group: "mean of S seeds").

    x: [B] bin centres in env steps; success: a dotted line at the env's success mark.
    """
    _check_mapping(groups, "groups")
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for i, (label, curves) in enumerate(groups.items()):
        curves = np.asarray(curves, np.float64)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty bins are NaN
            mean = np.nanmean(curves, 0)
            n = np.sum(~np.isnan(curves), 0)
            sem = (np.nanstd(curves, 0, ddof=1) / np.sqrt(np.maximum(n, 1))
                   if len(curves) > 1 else np.zeros_like(mean))
        ax.plot(x, mean, color=f"C{i % 10}", label=f"{label} ({len(curves)} seeds)")
        ax.fill_between(x, mean - 1.96 * sem, mean + 1.96 * sem, color=f"C{i % 10}", alpha=0.2)
    if success is not None:
        ax.axhline(success, color="k", lw=0.8, ls=":")
    ax.set_xlabel("env steps (per seed)")
    ax.set_ylabel("training episode return (mean, 95% band)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
