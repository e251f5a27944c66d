"""Targets, exploration, networks, replay: pure building blocks."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import absltest, parameterized

from rlax_lander.dqn import exploration, replay, targets
from rlax_lander.dqn.networks import QNetwork, q_values
from rlax_lander.env.registry import make as make_env


def _trees():
    k1, k2 = jax.random.split(jax.random.key(0))
    online = {"w": jax.random.normal(k1, (3, 4)), "b": jnp.ones(4)}
    target = {"w": jax.random.normal(k2, (3, 4)), "b": jnp.zeros(4)}
    return online, target


class TargetsTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_polyak_endpoints(self):
        online, target = _trees()
        f = self.variant(targets.polyak_update)
        chex.assert_trees_all_close(f(online, target, 1.0), online)
        chex.assert_trees_all_close(f(online, target, 0.0), target)
        mid = f(online, target, 0.25)
        chex.assert_trees_all_close(mid["w"], 0.25 * online["w"] + 0.75 * target["w"],
                                    atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_periodic(self):
        online, target = _trees()
        f = self.variant(lambda o, t, s: targets.periodic_update(o, t, s, 5))
        chex.assert_trees_all_close(f(online, target, 10), online)
        chex.assert_trees_all_close(f(online, target, 7), target)

    def test_dispatch(self):
        online, target = _trees()
        chex.assert_trees_all_close(targets.update_target("none", online, target, 3, 5, 0.1),
                                    online)
        chex.assert_trees_all_close(targets.update_target("hard", online, target, 5, 5, 0.1),
                                    online)
        chex.assert_trees_all_close(targets.update_target("soft", online, target, 3, 1, 1.0),
                                    online)
        chex.assert_trees_all_close(targets.update_target("soft", online, target, 3, 2, 1.0),
                                    target)
        with pytest.raises(ValueError, match="mode"):
            targets.update_target("sometimes", online, target, 3, 5, 0.1)


class ExplorationTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_schedules_hit_endpoints(self):
        lin = self.variant(exploration.linear_epsilon)
        np.testing.assert_allclose(lin(0, 1.0, 0.05, 1000), 1.0)
        np.testing.assert_allclose(lin(500, 1.0, 0.05, 1000), 0.525, rtol=1e-6)
        np.testing.assert_allclose(lin(1000, 1.0, 0.05, 1000), 0.05, rtol=1e-6)
        np.testing.assert_allclose(lin(10**6, 1.0, 0.05, 1000), 0.05, rtol=1e-6)
        exp = self.variant(exploration.exponential_epsilon)
        np.testing.assert_allclose(exp(0, 1.0, 0.01, 0.999), 1.0)
        np.testing.assert_allclose(exp(10**6, 1.0, 0.01, 0.999), 0.01)
        per = self.variant(exploration.per_episode_epsilon)
        np.testing.assert_allclose(per(0), 1.0)
        np.testing.assert_allclose(per(100), 0.995**100, rtol=1e-5)
        np.testing.assert_allclose(per(5000), 0.01)

    @chex.variants(with_jit=True, without_jit=True)
    def test_epsilon_greedy_statistics(self):
        q = jnp.tile(jnp.array([0.0, 3.0, 1.0, -1.0]), (20000, 1))
        f = self.variant(exploration.epsilon_greedy)
        greedy = f(jax.random.key(0), q, 0.0)
        assert greedy.dtype == jnp.int32 and greedy.shape == (20000,)
        assert bool(jnp.all(greedy == 1))
        uniform = np.bincount(np.asarray(f(jax.random.key(1), q, 1.0)), minlength=4) / 20000
        np.testing.assert_allclose(uniform, 0.25, atol=0.02)
        half = np.bincount(np.asarray(f(jax.random.key(2), q, 0.5)), minlength=4) / 20000
        np.testing.assert_allclose(half, [0.125, 0.625, 0.125, 0.125], atol=0.02)


class NetworkTest(parameterized.TestCase):
    @parameterized.product(dueling=(False, True), layer_norm=(False, True))
    def test_shapes(self, dueling, layer_norm):
        net = QNetwork(num_actions=4, hidden_sizes=(32, 16), dueling=dueling,
                       layer_norm=layer_norm)
        params = net.init(jax.random.key(0), jnp.zeros(8))
        q = q_values(net.apply, params, jnp.ones((5, 8)))
        assert q.shape == (5, 4) and q.dtype == jnp.float32
        assert q_values(net.apply, params, jnp.ones(8)).shape == (4,)
        names = set(params["params"])
        assert ("layer_norm_0" in names) == layer_norm
        assert ("value_head" in names) == dueling


def _tr(obs, n=None):
    obs = jnp.asarray(obs, jnp.float32)
    n = obs.shape[0]
    return replay.Transition(obs=obs[:, None], action=jnp.arange(n, dtype=jnp.int32),
                             reward=obs, next_obs=obs[:, None] + 1,
                             terminated=jnp.zeros(n))


class ReplayTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_wraparound(self):
        add = self.variant(replay.add)
        buf = replay.init(5, (1,))
        buf = add(buf, _tr([1.0, 2.0, 3.0]))
        assert int(buf.size) == 3 and int(buf.ptr) == 3
        buf = add(buf, _tr([4.0, 5.0, 6.0]))
        assert int(buf.size) == 5 and int(buf.ptr) == 1
        np.testing.assert_array_equal(buf.data.reward, [6.0, 2.0, 3.0, 4.0, 5.0])
        np.testing.assert_array_equal(buf.data.next_obs[:, 0], [7.0, 3.0, 4.0, 5.0, 6.0])

    @chex.variants(with_jit=True, without_jit=True)
    def test_samples_only_filled_slots(self):
        buf = replay.add(replay.init(100, (1,)), _tr([1.0, 2.0, 3.0]))
        sample = self.variant(replay.sample, static_argnums=2)
        batch = sample(buf, jax.random.key(0), 3000)
        vals = np.asarray(batch.reward)
        assert set(np.unique(vals)) == {1.0, 2.0, 3.0}
        np.testing.assert_allclose(np.bincount(vals.astype(int))[1:] / 3000, 1 / 3, atol=0.03)
        np.testing.assert_array_equal(batch.next_obs[:, 0], vals + 1)

    def test_too_many(self):
        with pytest.raises(ValueError, match="capacity"):
            replay.add(replay.init(2, (1,)), _tr([1.0, 2.0, 3.0]))

    def test_final_observation_with_auto_reset(self):
        """Several parallel auto-resetting envs: next_obs at an episode end is the final
        (pre-reset) observation, and bootstrapping follows `terminated`, not truncation."""
        env, env_params = make_env("CartPole-v1", max_steps_in_episode=15)
        n = 4
        reset = jax.vmap(env.reset, in_axes=(0, None))
        step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
        obs, state = reset(jax.random.split(jax.random.key(0), n), env_params)
        buf = replay.init(400, (4,))
        key = jax.random.key(1)
        ends = []
        for t in range(60):
            key, k_a, k_s = jax.random.split(key, 3)
            a = jax.random.randint(k_a, (n,), 0, 2)
            new_obs, state, r, term, trunc, info = step(jax.random.split(k_s, n), state, a,
                                                        env_params)
            buf = replay.add(buf, replay.Transition(obs, a, r, info["final_observation"],
                                                    term.astype(jnp.float32)))
            done = np.asarray(term | trunc)
            ends += [(t * n + i, bool(term[i]), bool(trunc[i])) for i in np.nonzero(done)[0]]
            obs = new_obs
        d = jax.tree.map(np.asarray, buf.data)
        assert any(te for _, te, _ in ends) and any(tr for _, _, tr in ends)
        for slot, te, tr in ends:
            # the stored next_obs is the step's result, not the reset obs in the next row
            assert not np.allclose(d.next_obs[slot], d.obs[slot + n])
            assert np.max(np.abs(d.obs[slot + n])) <= 0.05  # a fresh reset
            assert d.terminated[slot] == float(te)
            if tr and not te:  # truncated: still a mid-episode state, must bootstrap
                assert abs(d.next_obs[slot][2]) < 0.2095
        # every non-terminal transition chains into the next one of its env
        ended = {slot for slot, _, _ in ends}
        for slot in range(0, 59 * n):
            if slot not in ended:
                np.testing.assert_allclose(d.next_obs[slot], d.obs[slot + n])


if __name__ == "__main__":
    absltest.main()
