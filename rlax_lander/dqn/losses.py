"""Batched one-step Q-learning losses.

Conventions: index `tm1` is time t-1 (the transition's start), `t` is time t.
`discount_t = gamma * (1 - terminated)`: a terminated transition does not bootstrap, a
truncated one does (its next_obs is the pre-reset final observation).
Each loss returns `(loss, aux)`: `loss` is the batch mean (scalar float32); `aux` holds
`td_error` [B], `q_taken` [B] (Q(s_tm1, a_tm1), gradient stopped) and `q_mean` (its mean,
scalar).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def huber(x: jnp.ndarray, delta: float = 1.0) -> jnp.ndarray:
    """Elementwise Huber: 0.5 x^2 for |x| <= delta, else delta (|x| - delta / 2)."""
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    return 0.5 * quadratic**2 + delta * (abs_x - quadratic)


def _reduce(td_error: jnp.ndarray, loss: str, huber_delta: float) -> jnp.ndarray:
    if loss == "huber":
        return jnp.mean(huber(td_error, huber_delta))
    if loss == "l2":
        return jnp.mean(0.5 * td_error**2)
    raise ValueError(f"loss={loss!r} is unknown; allowed: 'huber', 'l2'")


def td_targets(r_t: jnp.ndarray, discount_t: jnp.ndarray, v_t: jnp.ndarray) -> jnp.ndarray:
    """One-step targets r_t + discount_t * v_t, all [B] float32, gradient stopped."""
    chex.assert_rank([r_t, discount_t, v_t], 1)
    chex.assert_equal_shape([r_t, discount_t, v_t])
    return jax.lax.stop_gradient(r_t + discount_t * v_t)


def _checks(q_tm1, a_tm1, r_t, discount_t, q_ts):
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t], [2, 1, 1, 1])
    chex.assert_type([a_tm1], [int])
    chex.assert_type([q_tm1, r_t, discount_t], float)
    for q_t in q_ts:
        chex.assert_equal_shape([q_tm1, q_t])
    chex.assert_equal_shape([a_tm1, r_t, discount_t])
    chex.assert_equal_shape_prefix([q_tm1, a_tm1], 1)


def _chosen(q_tm1: jnp.ndarray, a_tm1: jnp.ndarray) -> jnp.ndarray:
    return jnp.take_along_axis(q_tm1, a_tm1[:, None], axis=-1)[:, 0]


def _aux(td_error, qa_tm1) -> dict:
    qa = jax.lax.stop_gradient(qa_tm1)
    return {"td_error": td_error, "q_taken": qa, "q_mean": qa.mean()}


def q_learning_loss(q_tm1, a_tm1, r_t, discount_t, q_t, loss: str = "huber",
                    huber_delta: float = 1.0):
    """Q-learning: target r_t + discount_t * max_a q_t[a].

    Args: q_tm1 [B, A], a_tm1 [B] int, r_t [B], discount_t [B], q_t [B, A] (target net).
    Returns: (loss scalar, {"td_error": [B], "q_taken": [B], "q_mean": scalar}).
    """
    _checks(q_tm1, a_tm1, r_t, discount_t, [q_t])
    qa_tm1 = _chosen(q_tm1, a_tm1)
    td_error = td_targets(r_t, discount_t, jnp.max(q_t, axis=-1)) - qa_tm1
    return _reduce(td_error, loss, huber_delta), _aux(td_error, qa_tm1)


def double_q_learning_loss(q_tm1, a_tm1, r_t, discount_t, q_t_target, q_t_online,
                           loss: str = "huber", huber_delta: float = 1.0):
    """Double Q-learning: target r_t + discount_t * q_t_target[argmax_a q_t_online[a]].

    Args: q_tm1 [B, A], a_tm1 [B] int, r_t [B], discount_t [B], q_t_target [B, A] (evaluates),
    q_t_online [B, A] (selects).
    Returns: (loss scalar, {"td_error": [B], "q_taken": [B], "q_mean": scalar}).
    """
    _checks(q_tm1, a_tm1, r_t, discount_t, [q_t_target, q_t_online])
    qa_tm1 = _chosen(q_tm1, a_tm1)
    best = jnp.argmax(q_t_online, axis=-1)
    v_t = _chosen(q_t_target, best)
    td_error = td_targets(r_t, discount_t, v_t) - qa_tm1
    return _reduce(td_error, loss, huber_delta), _aux(td_error, qa_tm1)
