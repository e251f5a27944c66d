"""Terrain heights against the real Box2D env's terrain edges, from the same raw draws."""

import chex
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from rlax_lander.env import constants as C
from rlax_lander.env import terrain

NUM_SEEDS = 100


def _box2d_terrain(env, seed):
    """Raw draws (as the original makes them) and the edge vertices of the reset moon body."""
    raw = np.random.default_rng(seed).uniform(0, C.H / 2, size=(C.CHUNKS + 1,))
    env.reset(seed=seed)
    moon = env.unwrapped.moon
    edges = [f.shape.vertices for f in moon.fixtures[1:]]  # fixture 0 is the flat bottom edge
    assert len(edges) == C.NUM_EDGES
    xs = np.array([e[0][0] for e in edges] + [edges[-1][1][0]])
    ys = np.array([e[0][1] for e in edges] + [edges[-1][1][1]])
    for a, b in zip(edges[:-1], edges[1:]):  # consecutive edges share their vertex
        assert a[1] == b[0]
    return raw.astype(np.float32), xs, ys


class TerrainTest(chex.TestCase):
    @classmethod
    def setUpClass(cls):
        env = gym.make("LunarLander-v3")
        cls.cases = [_box2d_terrain(env, s) for s in range(NUM_SEEDS)]
        env.close()

    @chex.variants(with_jit=True, without_jit=True)
    def test_heights_match_box2d_edges(self):
        fn = self.variant(jax.vmap(terrain.terrain_from_raw))
        raw = np.stack([c[0] for c in self.cases])
        ours = np.asarray(fn(raw))
        assert ours.dtype == np.float32 and ours.shape == (NUM_SEEDS, C.CHUNKS)
        for (_, xs, ys), y in zip(self.cases, ours):
            np.testing.assert_allclose(xs, C.TERRAIN_X, rtol=0, atol=1e-6)
            np.testing.assert_allclose(y, ys, rtol=0, atol=2e-6)  # float32 vs float64 + cast

    def test_pad_and_range(self):
        y = np.asarray(terrain.sample_terrain(jax.random.PRNGKey(0)))
        np.testing.assert_allclose(y[4:7], 0.99 * C.HELIPAD_Y, rtol=1e-6)
        ys = np.asarray(jax.vmap(terrain.sample_terrain)(jax.random.split(jax.random.PRNGKey(1), 500)))
        assert ys.min() >= 0.0 and ys.max() <= 0.99 * C.H / 2 + 1e-5
        raw = np.asarray(jax.vmap(terrain.sample_raw_heights)(jax.random.split(jax.random.PRNGKey(2), 200)))
        assert raw.min() >= 0.0 and raw.max() < C.H / 2

    def test_wraparound_uses_last_raw(self):
        raw = jnp.zeros(12, jnp.float32).at[11].set(3.0)
        y = terrain.terrain_from_raw(raw)
        np.testing.assert_allclose(y[0], 0.33 * 3.0, rtol=1e-6)
        np.testing.assert_allclose(y[10], 0.33 * 3.0, rtol=1e-6)


if __name__ == "__main__":
    absltest.main()
