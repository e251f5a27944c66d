"""lambda_returns and n_step_returns against rlax, column by column, with episode ends and
truncation inside the window (chex variants: jitted and not)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax
from absl.testing import parameterized

from rlax_lander import dqn
from rlax_lander.dqn.returns import lambda_returns, n_step_returns

T, B = 9, 4
GAMMA = 0.9


def _episode_data(seed=0):
    """r, discount, v [T, B] with terminations and one truncation, plus the masks."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(T, B)).astype(np.float32)
    v = rng.normal(size=(T, B)).astype(np.float32)
    terminated = np.zeros((T, B), bool)
    truncated = np.zeros((T, B), bool)
    terminated[2, 0] = terminated[5, 1] = terminated[3, 3] = True
    truncated[4, 2] = truncated[7, 3] = True
    discount = (GAMMA * (1.0 - terminated)).astype(np.float32)
    return r, discount, v, terminated, truncated


def _lambda_reference(r, d, v, lam):
    """Plain-Python backward recursion on one column (independent of both libraries)."""
    g = np.zeros_like(r, dtype=np.float64)
    acc = float(v[-1])
    for t in reversed(range(len(r))):
        acc = r[t] + d[t] * ((1 - lam[t]) * v[t] + lam[t] * acc)
        g[t] = acc
    return g


class LambdaReturnsTest(parameterized.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(0.0, 0.5, 0.95, 1.0)
    def test_scalar_lambda_matches_rlax_per_column(self, lam):
        r, d, v, _, _ = _episode_data()
        got = self.variant(lambda_returns)(r, d, v, lam)
        self.assertEqual(got.shape, (T, B))
        for b in range(B):
            want = rlax.lambda_returns(r[:, b], d[:, b], v[:, b], lam)
            np.testing.assert_allclose(got[:, b], want, atol=1e-6, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_truncation_cuts_the_trace_and_bootstraps(self):
        r, d, v, term, trunc = _episode_data(1)
        done = term | trunc
        lam = (0.8 * (1.0 - done)).astype(np.float32)
        got = np.asarray(self.variant(lambda_returns)(r, d, v, lam))
        for b in range(B):
            want = rlax.lambda_returns(r[:, b], d[:, b], v[:, b], lam[:, b])
            np.testing.assert_allclose(got[:, b], want, atol=1e-6, rtol=1e-6)
            np.testing.assert_allclose(got[:, b], _lambda_reference(r[:, b], d[:, b], v[:, b],
                                                                    lam[:, b]), atol=1e-5)
        # at the truncation (4, 2): r + gamma * V(final obs), nothing of the next episode
        np.testing.assert_allclose(got[4, 2], r[4, 2] + GAMMA * v[4, 2], atol=1e-6)
        # at the termination (2, 0): just the reward
        np.testing.assert_allclose(got[2, 0], r[2, 0], atol=1e-6)
        # changing rewards after an episode end does not change the return before it
        r2 = r.copy()
        r2[5:, 2] += 100.0
        got2 = np.asarray(self.variant(lambda_returns)(r2, d, v, lam))
        np.testing.assert_array_equal(got2[:5, 2], got[:5, 2])

    @chex.variants(with_jit=True, without_jit=True)
    def test_extra_batch_axes_and_broadcast_lambda(self):
        rng = np.random.default_rng(2)
        r, v = (rng.normal(size=(T, 2, 3)).astype(np.float32) for _ in range(2))
        d = (GAMMA * (rng.random((T, 2, 3)) > 0.2)).astype(np.float32)
        lam = rng.random((T, 1, 3)).astype(np.float32)
        got = self.variant(lambda_returns)(r, d, v, lam)
        for i in range(2):
            for j in range(3):
                want = rlax.lambda_returns(r[:, i, j], d[:, i, j], v[:, i, j], lam[:, 0, j])
                np.testing.assert_allclose(got[:, i, j], want, atol=1e-6, rtol=1e-6)

    def test_bad_shapes_raise(self):
        r, d, v, _, _ = _episode_data()
        with self.assertRaises(AssertionError):
            lambda_returns(r, d[:-1], v, 0.9)
        with self.assertRaises(AssertionError):
            lambda_returns(r, d, v, np.ones((T, B + 1), np.float32))


class NStepReturnsTest(parameterized.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(1, 2, 3, 5, T, T + 3)
    def test_matches_rlax_with_episode_ends(self, n):
        r, d, v, _, _ = _episode_data(3)
        got = self.variant(n_step_returns, static_argnums=3)(r, d, v, n)
        self.assertEqual(got.shape, (T, B))
        for b in range(B):
            want = rlax.n_step_bootstrapped_returns(r[:, b], d[:, b], v[:, b], n)
            np.testing.assert_allclose(got[:, b], want, atol=1e-6, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_truncation_via_lambda_t(self):
        r, d, v, term, trunc = _episode_data(4)
        lam = (1.0 - (term | trunc)).astype(np.float32)
        n = 3
        got = np.asarray(self.variant(n_step_returns, static_argnums=3)(r, d, v, n, lam))
        for b in range(B):
            want = rlax.n_step_bootstrapped_returns(r[:, b], d[:, b], v[:, b], n, lam[:, b])
            np.testing.assert_allclose(got[:, b], want, atol=1e-6, rtol=1e-6)
        # truncation at (4, 2): the window from t=3 is r3 + g r4 + g^2 V(final obs at 4)
        want = r[3, 2] + GAMMA * r[4, 2] + GAMMA**2 * v[4, 2]
        np.testing.assert_allclose(got[3, 2], want, atol=1e-5)
        # termination at (2, 0): the window from t=1 is r1 + g r2
        np.testing.assert_allclose(got[1, 0], r[1, 0] + GAMMA * r[2, 0], atol=1e-6)
        # a full window without episode ends: r0 + g r1 + g^2 r2 + g^3 v2 (column 2, t=0)
        want = r[0, 2] + GAMMA * r[1, 2] + GAMMA**2 * r[2, 2] + GAMMA**3 * v[2, 2]
        np.testing.assert_allclose(got[0, 2], want, atol=1e-5)

    def test_bad_n_raises(self):
        r, d, v, _, _ = _episode_data()
        for bad in (0, -1, 2.0, True):
            with pytest.raises(ValueError, match="n="):
                n_step_returns(r, d, v, bad)


def test_exported_from_dqn():
    assert dqn.lambda_returns is lambda_returns
    assert dqn.n_step_returns is n_step_returns
    g = dqn.lambda_returns(jnp.ones((3, 2)), jnp.zeros((3, 2)), jnp.ones((3, 2)), 0.5)
    np.testing.assert_array_equal(g, np.ones((3, 2)))
    assert jax.numpy.asarray(g).dtype == jnp.float32
