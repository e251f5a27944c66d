"""Losses against rlax (an independent reference), jitted and not."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax
from absl.testing import parameterized

from rlax_lander.dqn import losses

B, A = 32, 5


def _batch(seed):
    k = jax.random.split(jax.random.key(seed), 6)
    q_tm1 = jax.random.normal(k[0], (B, A)) * 3
    a_tm1 = jax.random.randint(k[1], (B,), 0, A)
    r_t = jax.random.normal(k[2], (B,)) * 2
    discount_t = 0.99 * (jax.random.uniform(k[3], (B,)) > 0.3).astype(jnp.float32)
    q_t = jax.random.normal(k[4], (B, A)) * 3
    q_t_online = jax.random.normal(k[5], (B, A)) * 3
    return q_tm1, a_tm1, r_t, discount_t, q_t, q_t_online


def _reduce(td, kind):
    return jnp.mean(rlax.huber_loss(td, 1.0) if kind == "huber" else rlax.l2_loss(td))


class LossTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(kind=("huber", "l2"), seed=(0, 1, 2))
    def test_q_learning_matches_rlax(self, kind, seed):
        q_tm1, a_tm1, r_t, d_t, q_t, _ = _batch(seed)
        fn = self.variant(lambda *a: losses.q_learning_loss(*a, loss=kind))
        loss, aux = fn(q_tm1, a_tm1, r_t, d_t, q_t)
        td = jax.vmap(rlax.q_learning)(q_tm1, a_tm1, r_t, d_t, q_t)
        np.testing.assert_allclose(aux["td_error"], td, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(loss, _reduce(td, kind), atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(aux["q_mean"], q_tm1[jnp.arange(B), a_tm1].mean(),
                                   atol=1e-6, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(kind=("huber", "l2"), seed=(0, 1, 2))
    def test_double_q_learning_matches_rlax(self, kind, seed):
        q_tm1, a_tm1, r_t, d_t, q_t, q_on = _batch(seed)
        fn = self.variant(lambda *a: losses.double_q_learning_loss(*a, loss=kind))
        loss, aux = fn(q_tm1, a_tm1, r_t, d_t, q_t, q_on)
        td = jax.vmap(rlax.double_q_learning)(q_tm1, a_tm1, r_t, d_t, q_t, q_on)
        np.testing.assert_allclose(aux["td_error"], td, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(loss, _reduce(td, kind), atol=1e-6, rtol=1e-6)

    def test_gradient_matches_rlax(self):
        q_tm1, a_tm1, r_t, d_t, q_t, _ = _batch(3)
        g = jax.grad(lambda q: losses.q_learning_loss(q, a_tm1, r_t, d_t, q_t)[0])(q_tm1)
        ref = jax.grad(lambda q: _reduce(jax.vmap(rlax.q_learning)(q, a_tm1, r_t, d_t, q_t),
                                         "huber"))(q_tm1)
        np.testing.assert_allclose(g, ref, atol=1e-6)

    def test_terminal_does_not_bootstrap(self):
        q_tm1 = jnp.zeros((2, 2))
        q_t = jnp.full((2, 2), 10.0)
        _, aux = losses.q_learning_loss(q_tm1, jnp.array([0, 1]), jnp.array([1.0, 1.0]),
                                        jnp.array([0.0, 0.5]), q_t)
        np.testing.assert_allclose(aux["td_error"], [1.0, 6.0])

    def test_td_targets(self):
        np.testing.assert_allclose(
            losses.td_targets(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.0]),
                              jnp.array([4.0, 9.0])), [3.0, 2.0])

    def test_bad_inputs(self):
        q = jnp.zeros((3, 2))
        with pytest.raises(AssertionError):
            losses.q_learning_loss(q, jnp.zeros((4,), jnp.int32), jnp.zeros(3), jnp.zeros(3), q)
        with pytest.raises(ValueError, match="loss"):
            losses.q_learning_loss(q, jnp.zeros((3,), jnp.int32), jnp.zeros(3), jnp.zeros(3),
                                   q, loss="l1")
