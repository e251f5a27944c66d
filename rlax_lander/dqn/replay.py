"""A small pure uniform replay buffer (a ring of fixed capacity).

Why not flashbax: it is a further dependency with its own JAX version pins, and for uniform
one-step replay we need ~60 lines; a pytree of arrays with a pointer vmaps over seeds trivially.

Transitions are (obs, action, reward, next_obs, terminated). With auto-resetting envs, the
`next_obs` of a transition that ended an episode must be the env's *final* observation
(gymnax 1.x `info["final_observation"]`), not the reset observation that `step` returns;
`terminated` (not truncated) decides bootstrapping in the loss.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
    """obs [..., *obs_shape] f32, action [...] int32, reward [...] f32,
    next_obs [..., *obs_shape] f32, terminated [...] f32 (1.0 = no bootstrap)."""

    obs: jnp.ndarray
    action: jnp.ndarray
    reward: jnp.ndarray
    next_obs: jnp.ndarray
    terminated: jnp.ndarray


@struct.dataclass
class ReplayState:
    """data: Transition with leading axis [capacity]; ptr: next write slot; size: filled."""

    data: Transition
    ptr: jnp.ndarray
    size: jnp.ndarray


def init(capacity: int, obs_shape: tuple[int, ...]) -> ReplayState:
    """An empty buffer of `capacity` transitions with observations of `obs_shape`."""
    z = lambda shape, dtype: jnp.zeros((capacity, *shape), dtype)  # noqa: E731
    data = Transition(
        obs=z(obs_shape, jnp.float32), action=z((), jnp.int32), reward=z((), jnp.float32),
        next_obs=z(obs_shape, jnp.float32), terminated=z((), jnp.float32),
    )
    return ReplayState(data=data, ptr=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def capacity(state: ReplayState) -> int:
    """The (static) number of slots."""
    return state.data.reward.shape[0]


def add(state: ReplayState, batch: Transition) -> ReplayState:
    """Write a batch of n transitions (leading axis [n], n <= capacity) at the ring pointer,
    overwriting the oldest once full."""
    cap = capacity(state)
    n = batch.reward.shape[0]
    chex.assert_rank(batch.reward, 1)
    chex.assert_tree_shape_prefix(batch, (n,))
    if n > cap:
        raise ValueError(f"cannot add {n} transitions to a buffer of capacity {cap}")
    idx = (state.ptr + jnp.arange(n, dtype=jnp.int32)) % cap
    cast = lambda x, b: b.astype(x.dtype)  # noqa: E731
    data = jax.tree.map(lambda x, b: x.at[idx].set(cast(x, b)), state.data, batch)
    return ReplayState(
        data=data, ptr=(state.ptr + n) % cap, size=jnp.minimum(state.size + n, cap)
    )


def sample(state: ReplayState, key: jax.Array, batch_size: int) -> Transition:
    """`batch_size` transitions drawn uniformly (with replacement) from the filled slots.
    An empty buffer returns slot 0 (zeros); callers start learning after filling."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
    return jax.tree.map(lambda x: x[idx], state.data)
