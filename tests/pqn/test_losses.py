"""PQN's targets and loss on a fixed batch against an independent NumPy computation that
follows purejaxql's pqn_gymnax.py formulation (its backward `_get_target` recursion over
`done`, `max q_val` of the next step and `0.5 * mean((Q(s, a) - G)^2)`), plus the truncation
case where this package deliberately differs (bootstrap from the final observation)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized

from rlax_lander.dqn.networks import QNetwork
from rlax_lander.pqn import q_regression_loss, rollout_targets

T, N, OBS, A = 7, 3, 4, 2
GAMMA, LAM = 0.99, 0.65


def _rollout(seed=0):
    """A rollout with terminations (no truncation): obs [T+1, N], final_obs [T, N]."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(T + 1, N, OBS)).astype(np.float32)
    reward = rng.normal(size=(T, N)).astype(np.float32)
    action = rng.integers(0, A, size=(T, N)).astype(np.int32)
    terminated = np.zeros((T, N), bool)
    terminated[1, 0] = terminated[4, 1] = terminated[T - 1, 2] = True
    final_obs = obs[1:].copy()  # s'_t = s_{t+1} unless the episode ended at t
    final_obs[terminated] = rng.normal(size=(terminated.sum(), OBS))  # pre-reset obs
    return obs, reward, action, terminated, final_obs


def _purejaxql_targets(reward, done, q_val, last_q, gamma, lam):
    """purejaxql pqn_gymnax.py's target computation, re-derived in float64 NumPy:
    q_val [T, N, A] = Q(obs_t) from the rollout, last_q [N] = max Q(next_obs[-1])."""
    reward, done = reward.astype(np.float64), done.astype(np.float64)
    last_q = last_q * (1 - done[-1])
    g = reward[-1] + gamma * last_q
    out = [g]
    next_q = last_q
    for t in reversed(range(T - 1)):
        next_q = q_val[t + 1].max(-1)
        bootstrap = reward[t] + gamma * (1 - done[t]) * next_q
        g = bootstrap + gamma * lam * (g - next_q)
        g = (1 - done[t]) * g + done[t] * reward[t]
        out.append(g)
    return np.stack(out[::-1])


class PQNLossTest(parameterized.TestCase):

    def setUp(self):
        super().setUp()
        self.net = QNetwork(num_actions=A, hidden_sizes=(8, 8), layer_norm=True)
        self.params = self.net.init(jax.random.key(0), jnp.zeros((OBS,)))

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters((0.65,), (0.0,), (1.0,))
    def test_targets_and_loss_match_purejaxql(self, lam):
        obs, reward, action, term, final_obs = _rollout()
        q_all = np.asarray(self.net.apply(self.params, obs), np.float64)  # [T+1, N, A]
        v_next = jnp.max(self.net.apply(self.params, final_obs), -1)
        zeros = np.zeros_like(term)
        got = self.variant(rollout_targets)(reward, term, zeros, v_next, GAMMA, lam)
        want = _purejaxql_targets(reward, term, q_all[:T], q_all[T].max(-1), GAMMA, lam)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)

        # the minibatch loss on a fixed shuffled batch of the flattened rollout
        perm = np.random.default_rng(1).permutation(T * N)[:8]
        o, a, g = obs[:T].reshape(-1, OBS)[perm], action.reshape(-1)[perm], want.reshape(-1)[perm]
        q = self.net.apply(self.params, o)

        def loss_fn(params):
            return q_regression_loss(self.net.apply(params, o), a, g.astype(np.float32))

        (loss, q_taken), grads = self.variant(jax.value_and_grad(loss_fn, has_aux=True))(
            self.params)
        q64 = np.asarray(q, np.float64)[np.arange(8), a]
        np.testing.assert_allclose(loss, 0.5 * np.mean((q64 - g) ** 2), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(q_taken, q64, rtol=1e-6, atol=1e-6)
        # gradient only through Q(s, a): d loss / d bias of the head = mean(err * onehot)
        err = q64 - g
        head = np.zeros(A)
        np.add.at(head, a, err / 8)
        np.testing.assert_allclose(grads["params"]["q_head"]["bias"], head, rtol=1e-4, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_truncation_bootstraps_from_final_observation(self):
        obs, reward, action, term, final_obs = _rollout(2)
        trunc = np.zeros_like(term)
        trunc[3, 0] = True  # a time limit at t=3 of env 0 (no termination there)
        v_next = np.asarray(jnp.max(self.net.apply(self.params, final_obs), -1))
        got = np.asarray(self.variant(rollout_targets)(reward, term, trunc, v_next, GAMMA, LAM))
        np.testing.assert_allclose(got[3, 0], reward[3, 0] + GAMMA * v_next[3, 0], atol=1e-6)
        # t=2 mixes the one-step value at 3 and G_3, which only sees episode 1
        want2 = reward[2, 0] + GAMMA * ((1 - LAM) * v_next[2, 0] + LAM * got[3, 0])
        np.testing.assert_allclose(got[2, 0], want2, atol=1e-5)
        # nothing after the truncation leaks into it
        r2 = reward.copy()
        r2[4:, 0] += 50.0
        got2 = np.asarray(rollout_targets(r2, term, trunc, v_next, GAMMA, LAM))
        np.testing.assert_array_equal(got2[:4, 0], got[:4, 0])

    def test_unknown_loss(self):
        with self.assertRaisesRegex(ValueError, "loss='mse' is unknown"):
            q_regression_loss(jnp.zeros((2, A)), jnp.zeros((2,), jnp.int32), jnp.zeros((2,)),
                              loss="mse")

    def test_huber_is_l2_for_small_errors(self):
        q = jnp.array([[0.1, 0.2], [0.3, -0.2]])
        a = jnp.array([0, 1], jnp.int32)
        g = jnp.array([0.0, 0.0])
        l2, _ = q_regression_loss(q, a, g, "l2")
        hub, _ = q_regression_loss(q, a, g, "huber")
        np.testing.assert_allclose(l2, hub, rtol=1e-6)
        np.testing.assert_allclose(l2, 0.5 * (0.01 + 0.04) / 2, rtol=1e-6)
