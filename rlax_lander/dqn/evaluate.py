"""Greedy (or fixed-epsilon) evaluation in a gymnax env, entirely in JAX."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rlax_lander.dqn.exploration import epsilon_greedy


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
        obs, state = reset_fn(jax.random.split(k_reset, num_episodes), env_params)
        zeros = jnp.zeros((num_episodes,))
        init = (obs, state, k_loop, zeros, zeros.astype(jnp.int32),
                jnp.zeros((num_episodes,), bool), jnp.zeros((), jnp.int32))

        def cond(c):
            return jnp.logical_and(~jnp.all(c[5]), c[6] < max_steps)

        def body(c):
            obs, state, key, ret, length, done, t = c
            key, k_act, k_env = jax.random.split(key, 3)
            action = epsilon_greedy(k_act, apply_fn(params, obs), epsilon)
            obs, state, reward, term, trunc, _ = step_fn(
                jax.random.split(k_env, num_episodes), state, action, env_params)
            alive = ~done
            ret = ret + jnp.where(alive, reward, 0.0)
            length = length + alive.astype(jnp.int32)
            done = done | term | trunc
            return obs, state, key, ret, length, done, t + 1

        out = jax.lax.while_loop(cond, body, init)
        return out[3].astype(jnp.float32), out[4]

    return evaluate
