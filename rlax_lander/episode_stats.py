"""Per-episode outcome codes and a summary of a batch of evaluation episodes.

Shared by the Box2D evaluation harness (``rlax_lander.interop.box2d``), the JAX-env evaluation
and the fidelity script, so that both environments are measured the same way (as in Appendix A.2
of the LunarLander reference).

Outcome codes (int), one per episode:

* ``LANDED`` (0): terminated with +100 because the hull went to sleep ("not awake"); this wins
  if a crash or out-of-bounds happens in the same step, as in the original's reward.
* ``CRASH`` (1): terminated with -100 because the hull touched the ground (``game_over``); a crash
  that is also out of bounds counts as a crash.
* ``OUT`` (2): terminated with -100 because ``|x| >= 1`` (normalised horizontal position).
* ``TRUNCATED`` (3): reached the time limit (1000 steps) without terminating.
"""

from __future__ import annotations

import numpy as np

from rlax_lander import stats

LANDED, CRASH, OUT, TRUNCATED = 0, 1, 2, 3
OUTCOMES: tuple[str, ...] = ("landed", "crash", "out", "truncated")

# Return at or above which an episode counts as a success (the conventional "solved" bar).
SUCCESS_RETURN = 200.0


def outcome_codes(outcomes) -> np.ndarray:
    """Maps outcomes given as names (``OUTCOMES``) or int codes to an int64 code array [E]."""
    arr = np.asarray(outcomes)
    if arr.ndim != 1:
        raise ValueError(f"outcomes must be 1-D [episodes], got shape {arr.shape}")
    if arr.dtype.kind in "US":
        lookup = {name: code for code, name in enumerate(OUTCOMES)}
        unknown = sorted(set(arr.tolist()) - set(lookup))
        if unknown:
            raise ValueError(f"outcomes contains unknown names {unknown}; expected {OUTCOMES}")
        return np.array([lookup[o] for o in arr.tolist()], dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"outcomes must be int codes or names, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= len(OUTCOMES)):
        raise ValueError(
            f"outcomes codes must lie in [0, {len(OUTCOMES)}), got {arr.min()}..{arr.max()}"
        )
    return arr.astype(np.int64)


def summarize_episodes(
    returns,
    lengths,
    outcomes,
    success_return: float = SUCCESS_RETURN,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Summary statistics of E evaluation episodes.

    Args:
      returns: [E] undiscounted episode returns.
      lengths: [E] episode lengths in env steps.
      outcomes: [E] outcome codes or names (see module docstring).
      success_return: an episode with return >= this counts as a success.
      reps, confidence, seed: bootstrap settings of the intervals (episodes resampled).
    Returns:
      A JSON-serialisable dict: ``episodes``; ``mean``, ``median`` of the return (each
      ``{"point", "lo", "hi"}``); ``std`` (population, ddof=0), ``min``, ``max`` of the return;
      ``mean_length``; ``success_rate``; ``outcomes`` = ``{name: fraction}`` over ``OUTCOMES``.
    """
    returns = np.asarray(returns, dtype=np.float64)
    lengths = np.asarray(lengths)
    if returns.ndim != 1 or returns.size == 0:
        raise ValueError(
            f"returns must be a non-empty 1-D array [episodes], got shape {returns.shape}"
        )
    if lengths.shape != returns.shape:
        raise ValueError(f"lengths must have shape {returns.shape}, got {lengths.shape}")
    codes = outcome_codes(outcomes)
    if codes.shape != returns.shape:
        raise ValueError(f"outcomes must have shape {returns.shape}, got {codes.shape}")

    def interval(statistic):
        est = stats.stratified_bootstrap_ci(
            returns, statistic, reps=reps, confidence=confidence, seed=seed
        )
        return {"point": est.point, "lo": est.lo, "hi": est.hi}

    counts = np.bincount(codes, minlength=len(OUTCOMES))
    return {
        "episodes": int(returns.size),
        "mean": interval(stats.mean),
        "median": interval(stats.median),
        "std": float(returns.std()),
        "min": float(returns.min()),
        "max": float(returns.max()),
        "mean_length": float(lengths.mean()),
        "success_rate": float(np.mean(returns >= success_return)),
        "outcomes": {name: float(c) / returns.size for name, c in zip(OUTCOMES, counts)},
    }
