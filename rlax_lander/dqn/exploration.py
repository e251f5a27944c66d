"""Epsilon schedules and epsilon-greedy action selection (all float32, traceable)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def linear_epsilon(step, start, end, decay_steps):
    """Linear from `start` at step 0 to `end` at `decay_steps` (env steps), then flat."""
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / decay_steps, 0.0, 1.0)
    return start + frac * (end - start)


def exponential_epsilon(step, start, end, rate):
    """max(end, start * rate ** step), step in env steps."""
    return jnp.maximum(end, start * rate ** jnp.asarray(step, jnp.float32))


def per_episode_epsilon(episodes_finished, start=1.0, end=0.01, rate=0.995):
    """The course lab's decay: max(end, start * rate ** episodes_finished)
    (defaults: max(0.01, 1.0 * 0.995 ** episodes))."""
    return jnp.maximum(end, start * rate ** jnp.asarray(episodes_finished, jnp.float32))


def epsilon_at(schedule: str, hparams, env_step, episodes_finished):
    """Epsilon for a (static) schedule name given `Hparams`, env steps and finished episodes."""
    if schedule == "linear":
        return linear_epsilon(env_step, hparams.epsilon_start, hparams.epsilon_end,
                              hparams.epsilon_decay_steps)
    if schedule == "exponential":
        return exponential_epsilon(env_step, hparams.epsilon_start, hparams.epsilon_end,
                                   hparams.epsilon_decay_rate)
    if schedule == "per_episode":
        return per_episode_epsilon(episodes_finished, hparams.epsilon_start,
                                   hparams.epsilon_end, hparams.epsilon_decay_rate)
    raise ValueError(f"epsilon schedule={schedule!r} is unknown; "
                     "allowed: 'linear', 'exponential', 'per_episode'")


def epsilon_greedy(key: jax.Array, q: jnp.ndarray, epsilon) -> jnp.ndarray:
    """Sample actions from q [..., A]: uniform with probability epsilon, else argmax.

    Returns int32 actions [...]. Uses one key for the whole batch.
    """
    chex.assert_rank(q, {1, 2, 3})
    k_explore, k_action = jax.random.split(key)
    greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
    random = jax.random.randint(k_action, greedy.shape, 0, q.shape[-1], dtype=jnp.int32)
    explore = jax.random.uniform(k_explore, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy)
