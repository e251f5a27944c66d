"""A small pure uniform replay buffer (a ring of fixed capacity).

Why not flashbax: it is a further dependency with its own JAX version pins, and for uniform
one-step replay we need ~60 lines; a pytree of arrays with a pointer vmaps over seeds trivially.

Transitions are (obs, action, reward, next_obs, terminated). With auto-resetting envs, the
`next_obs` of a transition that ended an episode must be the env's *final* observation
(gymnax 1.x `info["final_observation"]`), not the reset observation that `step` returns;
`terminated` (not truncated) decides bootstrapping in the loss. `done` (terminated or
truncated) marks where an episode ended, so n-step windows (`sample_n_step`) stop there.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
    """obs [..., *obs_shape] f32, action [...] int32, reward [...] f32,
    next_obs [..., *obs_shape] f32, terminated [...] f32 (1.0 = no bootstrap),
    done [...] f32 (1.0 = the episode ended here: terminated or truncated). `done=None`
    (the default) means "same as terminated": `add` stores that, which is exact without
    time limits; callers of `sample_n_step` on envs that truncate must pass `done`."""

    obs: jnp.ndarray
    action: jnp.ndarray
    reward: jnp.ndarray
    next_obs: jnp.ndarray
    terminated: jnp.ndarray
    done: jnp.ndarray | None = None


@struct.dataclass
class NStepBatch:
    """n-step transitions from `sample_n_step` / `n_step_at`, each [B] (obs [B, *obs_shape]).

    obs, action: the start s_t, a_t; reward: sum_{k<m} gamma^k r_{t+k}; discount:
    gamma^m * (1 - terminated at the last step) (0 after a termination); next_obs: the
    bootstrap observation s_{t+m} (the stored final observation if an episode ended there);
    steps: m int32 in [1, n], the transitions the window holds (fewer than n when an episode
    ended inside it or the ring holds no later transition of that env).
    """

    obs: jnp.ndarray
    action: jnp.ndarray
    reward: jnp.ndarray
    discount: jnp.ndarray
    next_obs: jnp.ndarray
    steps: jnp.ndarray


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
        done=z((), jnp.float32),
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
    if batch.done is None:
        batch = batch.replace(done=batch.terminated)
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


def _check_n_step(state: ReplayState, n: int, num_envs: int) -> None:
    for name, v in (("n", n), ("num_envs", num_envs)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} is out of range; allowed: an int >= 1")
    cap = capacity(state)
    if (n - 1) * num_envs >= cap:
        raise ValueError(f"n={n} is out of range for a buffer of capacity {cap} with "
                         f"num_envs={num_envs}; allowed: (n - 1) * num_envs < capacity, "
                         f"i.e. n <= {(cap - 1) // num_envs + 1}")


def n_step_at(state: ReplayState, idx: jnp.ndarray, n: int, num_envs: int, gamma) -> NStepBatch:
    """The n-step transitions that start at ring slots `idx` [B] int (see `sample_n_step`)."""
    _check_n_step(state, n, num_envs)
    chex.assert_rank(idx, 1)
    cap = capacity(state)
    d = state.data
    gamma = jnp.asarray(gamma, jnp.float32)
    idx = jnp.asarray(idx, jnp.int32)
    # position in write order: 0 = oldest stored transition, size - 1 = newest
    age = (idx - (state.ptr - state.size)) % cap
    reward = jnp.zeros(idx.shape, jnp.float32)
    alive = jnp.ones(idx.shape, bool)  # the window still extends to step k
    steps = jnp.zeros(idx.shape, jnp.int32)
    last = idx
    for k in range(n):
        slot = (idx + k * num_envs) % cap
        if k > 0:  # a later step of the same env exists and no episode ended before it
            alive = alive & (age + k * num_envs < state.size) & (d.done[last] == 0.0)
        reward = reward + jnp.where(alive, gamma**k * d.reward[slot], 0.0)
        steps = steps + alive.astype(jnp.int32)
        last = jnp.where(alive, slot, last)
    discount = gamma ** steps.astype(jnp.float32) * (1.0 - d.terminated[last])
    return NStepBatch(obs=d.obs[idx], action=d.action[idx], reward=reward, discount=discount,
                      next_obs=d.next_obs[last], steps=steps)


def sample_n_step(state: ReplayState, key: jax.Array, batch_size: int, n: int,
                  num_envs: int, gamma) -> NStepBatch:
    """`batch_size` n-step transitions whose start slots are drawn as in `sample`.

    Layout this relies on: every `add` wrote one vector step, `num_envs` transitions in env
    order, so the next transition of the env in slot s is in slot (s + num_envs) % capacity.
    The window from slot s takes steps k = 0..n-1 while (a) step k exists: it was written
    after s and is still stored (never past the ring's write pointer, never an unfilled or
    overwritten slot), and (b) no episode ended (`done`) at an earlier step of the window.
    A truncation ends the window and bootstraps from its stored final observation with
    gamma^m; a termination ends it with discount 0.

    Args: state: the ring; key: PRNG key; batch_size, n (>= 1, (n - 1) * num_envs <
    capacity), num_envs: static ints; gamma: scalar, may be traced (a hyperparameter).
    Returns an `NStepBatch`. Use it in a DQN update in place of `sample`:

        b = replay.sample_n_step(buffer, key, batch_size, n, num_envs, hp.gamma)
        loss, aux = losses.q_learning_loss(apply(params, b.obs), b.action, b.reward,
                                           b.discount, apply(target_params, b.next_obs))

    i.e. `b.reward` replaces r_t and `b.discount` replaces gamma * (1 - terminated) (same for
    `double_q_learning_loss`). Transitions must be added with `done` set (terminated |
    truncated, as float) when the env truncates. With n = 1 it returns the transitions
    `sample(state, key, batch_size)` returns, with discount gamma * (1 - terminated).
    """
    _check_n_step(state, n, num_envs)
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
    return n_step_at(state, idx, n, num_envs, gamma)
