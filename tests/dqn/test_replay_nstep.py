"""n-step transitions from the replay ring against a hand-computed buffer: two envs
interleaved (slot = 2 t + env), a termination and a truncation inside windows, windows that
stop at the write pointer, and a full ring whose windows cross its physical end."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

from rlax_lander.dqn import replay

E, CAP, G = 2, 10, 0.5


def _step(t, terminated=(0.0, 0.0), done=(0.0, 0.0)):
    """Vector step t of 2 envs: obs 10 t + e, next_obs 100 + 10 t + e, reward (t + 1) * (1, 10)."""
    e = np.arange(E)
    return replay.Transition(
        obs=jnp.asarray(10.0 * t + e, jnp.float32)[:, None],
        action=jnp.asarray(e + t, jnp.int32),
        reward=jnp.asarray((t + 1) * np.array([1.0, 10.0]), jnp.float32),
        next_obs=jnp.asarray(100.0 + 10 * t + e, jnp.float32)[:, None],
        terminated=jnp.asarray(terminated, jnp.float32),
        done=jnp.asarray(done, jnp.float32))


def _buffer(steps=4):
    """env 0 terminates at t=1; env 1 is truncated (done, not terminated) at t=2."""
    buf = replay.init(CAP, (1,))
    for t in range(steps):
        term = (1.0, 0.0) if t == 1 else (0.0, 0.0)
        done = (1.0, 0.0) if t == 1 else (0.0, 1.0) if t == 2 else (0.0, 0.0)
        buf = replay.add(buf, _step(t, term, done))
    return buf


# slot: (reward, discount, bootstrap obs, steps), n = 3, gamma = 0.5, after 4 vector steps
HAND = {
    0: (1 + G * 2, 0.0, 110.0, 2),                  # env 0: t0, t1 terminated
    1: (10 + G * 20 + G**2 * 30, G**3, 121.0, 3),   # env 1: t0..t2 (truncated at the end)
    2: (2.0, 0.0, 110.0, 1),                        # env 0: t1 terminated
    3: (20 + G * 30, G**2, 121.0, 2),               # env 1: t1, t2 truncated: bootstrap
    4: (3 + G * 4, G**2, 130.0, 2),                 # env 0: t2, t3, then the write pointer
    5: (30.0, G, 121.0, 1),                         # env 1: t2 truncated
    6: (4.0, G, 130.0, 1),                          # env 0: t3, newest
    7: (40.0, G, 131.0, 1),                         # env 1: t3, newest
}


class NStepTest(parameterized.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed_windows(self):
        buf = _buffer()
        idx = jnp.arange(8, dtype=jnp.int32)
        got = self.variant(replay.n_step_at, static_argnums=(2, 3))(buf, idx, 3, E, G)
        for s, (r, disc, nxt, m) in HAND.items():
            np.testing.assert_allclose(got.reward[s], r, rtol=1e-6, err_msg=f"slot {s}")
            np.testing.assert_allclose(got.discount[s], disc, rtol=1e-6, err_msg=f"slot {s}")
            np.testing.assert_allclose(got.next_obs[s, 0], nxt, err_msg=f"slot {s}")
            self.assertEqual(int(got.steps[s]), m, f"slot {s}")
        np.testing.assert_array_equal(got.obs[:, 0], [0, 1, 10, 11, 20, 21, 30, 31])
        np.testing.assert_array_equal(got.action, [0, 1, 1, 2, 2, 3, 3, 4])

    @chex.variants(with_jit=True, without_jit=True)
    def test_full_ring_wraps_and_stops_at_the_pointer(self):
        buf = _buffer(6)  # t4 -> slots 8, 9; t5 -> slots 0, 1 (t0 overwritten); ptr 2
        self.assertEqual((int(buf.ptr), int(buf.size)), (2, CAP))
        idx = jnp.array([6, 8, 0, 2, 7], jnp.int32)
        got = self.variant(replay.n_step_at, static_argnums=(2, 3))(buf, idx, 3, E, G)
        want = [
            (4 + G * 5 + G**2 * 6, G**3, 150.0, 3),  # env 0: t3 (slot 6), t4 (8), t5 (0)
            (5 + G * 6, G**2, 150.0, 2),             # env 0: t4, t5, then the pointer
            (6.0, G, 150.0, 1),                      # env 0: t5, newest
            (2.0, 0.0, 110.0, 1),                    # env 0: t1 (oldest stored), terminated
            (40 + G * 50 + G**2 * 60, G**3, 151.0, 3),  # env 1: t3, t4, t5 across the end
        ]
        for i, (r, disc, nxt, m) in enumerate(want):
            np.testing.assert_allclose(got.reward[i], r, rtol=1e-6, err_msg=str(i))
            np.testing.assert_allclose(got.discount[i], disc, rtol=1e-6, err_msg=str(i))
            np.testing.assert_allclose(got.next_obs[i, 0], nxt, err_msg=str(i))
            self.assertEqual(int(got.steps[i]), m, str(i))

    @chex.variants(with_jit=True, without_jit=True)
    def test_one_step_equals_sample(self):
        buf = _buffer()
        key = jax.random.key(3)
        one = self.variant(replay.sample_n_step, static_argnums=(2, 3, 4))(buf, key, 16, 1, E, G)
        ref = replay.sample(buf, key, 16)
        np.testing.assert_array_equal(one.obs, ref.obs)
        np.testing.assert_array_equal(one.action, ref.action)
        np.testing.assert_array_equal(one.reward, ref.reward)
        np.testing.assert_array_equal(one.next_obs, ref.next_obs)
        np.testing.assert_allclose(one.discount, G * (1.0 - ref.terminated), rtol=1e-6)
        np.testing.assert_array_equal(one.steps, 1)

    @chex.variants(with_jit=True, without_jit=True)
    def test_sample_draws_filled_start_slots(self):
        buf = _buffer(3)  # 6 of 10 slots filled
        key = jax.random.key(0)
        got = self.variant(replay.sample_n_step, static_argnums=(2, 3, 4))(buf, key, 64, 3, E, G)
        idx = jax.random.randint(key, (64,), 0, 6)
        want = replay.n_step_at(buf, idx, 3, E, G)
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_array_equal(x, y)
        assert set(np.asarray(got.obs[:, 0]).tolist()) <= {0.0, 1.0, 10.0, 11.0, 20.0, 21.0}
        assert int(got.steps.max()) <= 3 and int(got.steps.min()) >= 1

    def test_traced_gamma(self):
        buf = _buffer()
        f = jax.jit(lambda g: replay.n_step_at(buf, jnp.array([1]), 3, E, g).reward)
        np.testing.assert_allclose(f(0.5), [27.5], rtol=1e-6)
        np.testing.assert_allclose(f(1.0), [60.0], rtol=1e-6)

    def test_bad_n_and_num_envs(self):
        buf = _buffer()
        for n, ne in ((0, E), (6, E), (2, 0), (2.0, E), (11, 1)):
            with pytest.raises(ValueError, match="out of range"):
                replay.sample_n_step(buf, jax.random.key(0), 4, n, ne, G)
        replay.n_step_at(buf, jnp.array([0]), 5, E, G)  # (5 - 1) * 2 < 10 is served

    def test_done_defaults_to_terminated(self):
        buf = replay.init(4, (1,))
        t = _step(0, terminated=(1.0, 0.0)).replace(done=None)
        buf = replay.add(buf, t)
        np.testing.assert_array_equal(buf.data.done[:2], [1.0, 0.0])
