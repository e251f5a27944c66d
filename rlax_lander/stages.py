"""The shape every training program in this package has: pure stages, composed once.

An algorithm module provides `make_stages(config, env, env_params) -> Stages`:
- `init(key, hparams) -> state`: networks, optimizer, env reset; no env steps;
- `prefill(state, hparams) -> (state, trace)`: steps taken before the first update (e.g. a
  replay prefill), with their `metrics.EPISODE_TRACE`; None when the algorithm has none;
- `train_chunk(state, hparams) -> (state, metrics)`: one chunk of training, returning the
  `metrics.CHUNK_METRICS` scalars and the chunk's `metrics.EPISODE_TRACE`.

All three are pure (jit-able, vmappable over keys and hparams). `compose` builds
`train(key, hparams)`, one compiled program: init, prefill, then a `lax.scan` of
`num_chunks` chunks. The resumable runner calls the same stages chunk by chunk from Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from flax import struct


class Stages(NamedTuple):
    """init, prefill (or None), train_chunk: see the module docstring.

    num_chunks: chunks in a full run; chunk_env_steps: env steps per seed in one chunk;
    prefill_env_steps: env steps per seed taken by `prefill` (0 without one).
    """

    init: Callable
    prefill: Callable | None
    train_chunk: Callable
    num_chunks: int
    chunk_env_steps: int
    prefill_env_steps: int


@struct.dataclass
class TrainResult:
    """Output of a composed `train`: final `state`, the prefill trace (None without a
    prefill) and `metrics` stacked over chunks (leading axis [num_chunks])."""

    state: Any
    prefill_trace: Any
    metrics: dict

    @property
    def params(self):
        """The trained policy's params (`state.policy_params` where the state has them)."""
        return getattr(self.state, "policy_params", self.state.params)


def compose(stages: Stages) -> Callable:
    """`train(key, hparams) -> TrainResult`: init, prefill, then a scan of every chunk."""

    def train(key: jax.Array, hparams) -> TrainResult:
        state = stages.init(key, hparams)
        prefill_trace = None
        if stages.prefill is not None:
            state, prefill_trace = stages.prefill(state, hparams)
        state, metrics = jax.lax.scan(lambda s, _: stages.train_chunk(s, hparams), state, None,
                                      stages.num_chunks)
        return TrainResult(state=state, prefill_trace=prefill_trace, metrics=metrics)

    return train
