"""PQN's targets and loss: Q(lambda) returns from the online network's max-Q, and the
regression of Q(s, a) onto them.

Shapes: a rollout is [T, n] (T vector steps of n envs); a minibatch is [B].
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from rlax_lander.dqn.losses import huber
from rlax_lander.dqn.returns import lambda_returns


def rollout_targets(reward: jnp.ndarray, terminated: jnp.ndarray, truncated: jnp.ndarray,
                    v_next: jnp.ndarray, gamma, lambda_) -> jnp.ndarray:
    """Q(lambda) targets [T, n] (float32, gradient stopped) of one rollout.

    Args:
      reward [T, n] f32: reward of the transition from s_t (already scaled);
      terminated, truncated [T, n] bool: how the episode ended at that transition (if it did);
      v_next [T, n] f32: max_a Q(s'_t, a) of its successor, where s'_t is the env's *final*
        observation (`info["final_observation"]`): s_{t+1} unless an episode ended at t;
      gamma, lambda_: scalars in [0, 1].
    A termination does not bootstrap; a truncation bootstraps from v_next and cuts the trace
    (lambda 0 at that step), so no return mixes two episodes:
      G_t = r_t + gamma (1 - term_t) [(1 - l_t) v_next_t + l_t G_{t+1}], l_t = lambda (1 - done_t),
    and G_{T-1} = r + gamma (1 - term) v_next at the rollout's end.
    """
    chex.assert_rank([reward, terminated, truncated, v_next], 2)
    chex.assert_equal_shape([reward, terminated, truncated, v_next])
    term = terminated.astype(jnp.float32)
    done = jnp.logical_or(terminated, truncated).astype(jnp.float32)
    discount = gamma * (1.0 - term)
    lam = lambda_ * (1.0 - done)
    return jax.lax.stop_gradient(lambda_returns(reward, discount, v_next, lam))


def q_regression_loss(q: jnp.ndarray, action: jnp.ndarray, target: jnp.ndarray,
                      loss: str = "l2", huber_delta: float = 1.0):
    """Mean regression loss of Q(s, a) onto fixed targets.

    Args: q [B, A] f32 (online network), action [B] int, target [B] f32; loss "l2"
    (0.5 (Q - G)^2, as in purejaxql) or "huber". Returns (loss scalar, q_taken [B]).
    """
    chex.assert_rank([q, action, target], [2, 1, 1])
    chex.assert_type([action], [int])
    chex.assert_equal_shape([action, target])
    chex.assert_equal_shape_prefix([q, action], 1)
    q_taken = jnp.take_along_axis(q, action[:, None], axis=-1)[:, 0]
    err = q_taken - jax.lax.stop_gradient(target)
    if loss == "l2":
        value = jnp.mean(0.5 * err**2)
    elif loss == "huber":
        value = jnp.mean(huber(err, huber_delta))
    else:
        raise ValueError(f"loss={loss!r} is unknown; allowed: 'huber', 'l2'")
    return value, q_taken
