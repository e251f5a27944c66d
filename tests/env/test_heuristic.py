"""The jnp heuristic against gymnasium's own ``heuristic`` on random observations (exact)."""

import types

import chex
import jax
import numpy as np
import pytest
from absl.testing import parameterized
from gymnasium.envs.box2d import lunar_lander as gym_ll

from rlax_lander.env.heuristic import heuristic_action


def _fake_env(continuous):
    return types.SimpleNamespace(unwrapped=types.SimpleNamespace(continuous=continuous))


def _random_obs(n, seed):
    rng = np.random.default_rng(seed)
    obs = rng.normal(0.0, 0.3, size=(n, 8)).astype(np.float32)
    obs[: n // 2, :6] *= 0.1  # many near the decision thresholds
    obs[:, 6:] = rng.integers(0, 2, size=(n, 2)).astype(np.float32)
    obs[n // 4 : n // 2, 6:] = 0.0
    return obs


class HeuristicTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(False, True)
    def test_matches_gymnasium(self, continuous):
        obs = _random_obs(400, seed=int(continuous))
        fn = self.variant(jax.vmap(lambda o: heuristic_action(o, continuous)))
        ours = np.asarray(fn(obs))
        env = _fake_env(continuous)
        theirs = np.stack([np.asarray(gym_ll.heuristic(env, o)) for o in obs])
        if continuous:
            assert ours.dtype == np.float32
            np.testing.assert_array_equal(ours, theirs.astype(np.float32))
        else:
            assert ours.dtype == np.int32
            np.testing.assert_array_equal(ours, theirs)
            assert set(np.unique(theirs)) == {0, 1, 2, 3}


if __name__ == "__main__":
    pytest.main([__file__])
