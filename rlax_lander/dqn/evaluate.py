"""Greedy (or fixed-epsilon) evaluation in a gymnax env, entirely in JAX."""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
from flax import struct

from rlax_lander.dqn.exploration import epsilon_greedy


@struct.dataclass
class EvalCarry:
    """State of the evaluation loop over N parallel episodes.

    obs [N, *obs_shape]; env_state: batched env state; key: PRNG key; episode_return [N]
    undiscounted return so far; length [N] int32 steps so far; done [N] bool (first episode
    over); t: int32 loop steps taken.
    """

    obs: jnp.ndarray
    env_state: chex.ArrayTree
    key: jax.Array
    episode_return: jnp.ndarray
    length: jnp.ndarray
    done: jnp.ndarray
    t: jnp.ndarray


def make_evaluate(env, env_params, apply_fn: Callable, num_episodes: int = 100,
                  max_steps: int | None = None, epsilon: float = 0.0):
    """Return `evaluate(key, params) -> (returns [N] f32, lengths [N] int32)`.

    Runs N = `num_episodes` envs in parallel (vmap) until each has finished its first
    episode (terminated or truncated) or `max_steps` steps (default: the env's
    `max_steps_in_episode`, else 1000) have passed; a `lax.while_loop` stops when all are done.
    Actions are epsilon-greedy in the Q-values from `apply_fn(params, obs)` (greedy at 0).
    """
    if max_steps is None:
        max_steps = int(getattr(env_params, "max_steps_in_episode", 1000))
    reset_fn = jax.vmap(env.reset, in_axes=(0, None))
    step_fn = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def evaluate(key: jax.Array, params):
        k_reset, k_loop = jax.random.split(key)
        obs, env_state = reset_fn(jax.random.split(k_reset, num_episodes), env_params)
        zeros = jnp.zeros((num_episodes,))
        init = EvalCarry(obs=obs, env_state=env_state, key=k_loop, episode_return=zeros,
                         length=zeros.astype(jnp.int32), done=jnp.zeros((num_episodes,), bool),
                         t=jnp.zeros((), jnp.int32))

        def running(c: EvalCarry):
            return jnp.logical_and(~jnp.all(c.done), c.t < max_steps)

        def step(c: EvalCarry) -> EvalCarry:
            key, k_act, k_env = jax.random.split(c.key, 3)
            action = epsilon_greedy(k_act, apply_fn(params, c.obs), epsilon)
            obs, env_state, reward, term, trunc, _ = step_fn(
                jax.random.split(k_env, num_episodes), c.env_state, action, env_params)
            alive = ~c.done
            return EvalCarry(obs=obs, env_state=env_state, key=key,
                             episode_return=c.episode_return + jnp.where(alive, reward, 0.0),
                             length=c.length + alive.astype(jnp.int32),
                             done=c.done | term | trunc, t=c.t + 1)

        out = jax.lax.while_loop(running, step, init)
        return out.episode_return.astype(jnp.float32), out.length

    return evaluate
