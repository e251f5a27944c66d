"""The training metrics, declared once for every algorithm and every writer.

A training program's `train_chunk(state, hparams) -> (state, metrics)` returns, per seed:
- one scalar per `CHUNK_METRICS` entry (a summary of that chunk), and
- the episode trace `EPISODE_TRACE`: per vector step of the chunk, which envs finished an
  episode and with what return, so per-episode rows and learning curves can be written.

`metrics.csv`, the per-chunk table, TensorBoard, `ablate` and the studies all read these two
declarations, so a new metric is one new `Metric` here plus the line that computes it.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Metric:
    """name: key in the metrics dict; dtype: numpy dtype name; doc: meaning and unit."""

    name: str
    dtype: str
    doc: str


CHUNK_METRICS: tuple[Metric, ...] = (
    Metric("env_step", "int32", "env steps done by this seed at the end of the chunk"),
    Metric("episodes", "int32", "episodes finished during the chunk (summed over envs)"),
    Metric("episode_return", "float32",
           "mean undiscounted return of the episodes finished in the chunk (NaN if none)"),
    Metric("loss", "float32", "mean TD loss over the chunk's gradient updates"),
    Metric("q_mean", "float32", "mean Q(s, a) of the taken actions in the update batches"),
    Metric("q_abs_max", "float32", "largest |Q(s, a)| seen in the chunk's update batches"),
    Metric("epsilon", "float32", "exploration rate at the end of the chunk"),
    Metric("nonfinite", "bool", "a loss or parameter went non-finite during the chunk"),
)
"""Scalars per seed and chunk."""

EPISODE_TRACE: tuple[Metric, ...] = (
    Metric("step_env_step", "int32", "[L] env steps done after each vector step"),
    Metric("episode_done", "bool", "[L, n] an episode of env j ended at this vector step"),
    Metric("episode_end_return", "float32",
           "[L, n] return of the episode that ended there (0 elsewhere)"),
)
"""Per vector step of a chunk (L steps, n envs per seed)."""

CHUNK_NAMES = tuple(m.name for m in CHUNK_METRICS)
TRACE_NAMES = tuple(m.name for m in EPISODE_TRACE)


def chunk_summary(trace: dict, loss, q_taken, epsilon, nonfinite) -> dict:
    """The `CHUNK_METRICS` of one chunk from its episode trace and update statistics.

    trace: `EPISODE_TRACE` arrays of the chunk; loss [U] per update; q_taken [U, B] Q(s, a)
    of each update batch; epsilon: scalar at the chunk's end; nonfinite: bool scalar.
    """
    done = trace["episode_done"]
    episodes = done.sum(dtype=jnp.int32)
    ret_sum = jnp.where(done, trace["episode_end_return"], 0.0).sum()
    return {
        "env_step": trace["step_env_step"][-1],
        "episodes": episodes,
        "episode_return": jnp.where(episodes > 0, ret_sum / jnp.maximum(episodes, 1), jnp.nan),
        "loss": jnp.mean(loss),
        "q_mean": jnp.mean(q_taken),
        "q_abs_max": jnp.max(jnp.abs(q_taken)),
        "epsilon": jnp.asarray(epsilon, jnp.float32),
        "nonfinite": jnp.asarray(nonfinite, bool),
    }


def episode_rows(trace: dict) -> dict:
    """Finished episodes of host traces with a leading seed axis, seed-major then time:
    {"seed", "env_step", "env_index", "return"} 1-D numpy arrays.

    trace: `EPISODE_TRACE` numpy arrays shaped [S, L] / [S, L, n].
    """
    done = np.asarray(trace["episode_done"])
    s_idx, t_idx, e_idx = np.nonzero(done)
    return {"seed": s_idx.astype(np.int32),
            "env_step": np.asarray(trace["step_env_step"])[s_idx, t_idx].astype(np.int64),
            "env_index": e_idx.astype(np.int32),
            "return": np.asarray(trace["episode_end_return"])[s_idx, t_idx, e_idx].astype(np.float32)}
