"""Engine throttles, impulses and application points against the real Box2D env.

The original's ``step`` is run with its world step disabled and its hull wrapped in a proxy that
records every ``ApplyLinearImpulse(impulse, point)`` call; its ``np_random`` is a stub returning
chosen dispersion uniforms. The fuel part of the reward gives its throttles.
"""

import chex
import gymnasium as gym
import jax
import numpy as np
import pytest
from absl.testing import parameterized

from rlax_lander.env import constants as C
from rlax_lander.env import engines

NUM_CASES = 150


class _HullProxy:
    """Delegates to the Box2D hull but records (and drops) linear impulses."""

    def __init__(self, body):
        object.__setattr__(self, "_body", body)
        object.__setattr__(self, "impulses", [])

    def ApplyLinearImpulse(self, impulse, point, wake):  # noqa: N802 (Box2D's name)
        self.impulses.append((np.array(impulse, np.float64), np.array(point, np.float64)))

    def __getattr__(self, name):
        return getattr(self._body, name)


class _WorldProxy:
    def __init__(self, world):
        self._world = world

    def Step(self, *args):  # noqa: N802
        pass

    def __getattr__(self, name):
        return getattr(self._world, name)


class _StubRandom:
    """Returns queued values from ``uniform``; anything else is an error."""

    def __init__(self):
        self.queue = []

    def uniform(self, low, high):
        assert (low, high) == (-1.0, 1.0)
        return self.queue.pop(0)


def _original_impulses(continuous, actions, angles, origins, uniforms):
    """Runs the original's step per case; returns (calls, fuel) lists."""
    env = gym.make("LunarLander-v3", continuous=continuous).unwrapped
    env.reset(seed=0)
    hull = env.lander
    stub = _StubRandom()
    env.np_random = stub
    env.world = _WorldProxy(env.world)
    out_calls, out_fuel = [], []
    for action, angle, origin, u in zip(actions, angles, origins, uniforms):
        hull.angle = float(angle)
        hull.position = (float(origin[0]), float(origin[1]))
        proxy = _HullProxy(hull)
        env.lander = proxy
        noop = np.zeros(2, np.float32) if continuous else 0
        stub.queue = [0.0, 0.0, float(u[0]), float(u[1])]
        env.step(noop)  # sets prev_shaping; the proxy drops impulses, so the state is unchanged
        assert not proxy.impulses
        _, reward, terminated, _, _ = env.step(action)
        assert not terminated
        out_calls.append(proxy.impulses)
        out_fuel.append(-reward)  # shaping - prev_shaping == 0 exactly here
    env.close()
    return out_calls, out_fuel


def _cases(continuous, seed):
    rng = np.random.default_rng(seed)
    if continuous:
        actions = rng.uniform(-1.3, 1.3, size=(NUM_CASES, 2)).astype(np.float32)
        edges = np.array(
            [[0.0, 0.5], [0.0, -0.5], [1e-7, 0.5000001], [-1e-7, -0.5000001], [1.0, -1.0],
             [2.0, 3.0], [-2.0, -3.0], [0.5, 0.0]],
            np.float32,
        )
        actions[: len(edges)] = edges
    else:
        actions = np.arange(NUM_CASES, dtype=np.int32) % 4
    angles = rng.uniform(-np.pi, np.pi, NUM_CASES)
    angles[:4] = 0.0
    origins = rng.uniform([1.0, 1.0], [19.0, 12.0], size=(NUM_CASES, 2))
    uniforms = rng.uniform(-1.0, 1.0, size=(NUM_CASES, 2))
    return actions, angles, origins, uniforms


class EnginesTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(False, True)
    def test_impulses_match_box2d(self, continuous):
        actions, angles, origins, uniforms = _cases(continuous, seed=7 + int(continuous))
        calls, fuel = _original_impulses(continuous, actions, angles, origins, uniforms)
        # The angle/origin the original actually used are Box2D's float32 copies.
        angles32 = angles.astype(np.float32)
        origins32 = origins.astype(np.float32)
        disp = (uniforms / C.SCALE).astype(np.float32)
        fn = self.variant(
            jax.vmap(lambda a, t, o, d: engines.engine_impulses(a, t, o, d, continuous))
        )
        ours = jax.tree_util.tree_map(np.asarray, fn(actions, angles32, origins32, disp))
        n_main = n_side = 0
        for k in range(NUM_CASES):
            m, s = float(ours.m_power[k]), float(ours.s_power[k])
            np.testing.assert_allclose(0.3 * m + 0.03 * s, fuel[k], rtol=0, atol=1e-6)
            expected = []
            if m > 0:
                expected.append((ours.main_impulse[k], ours.main_point[k]))
                n_main += 1
            else:
                np.testing.assert_array_equal(ours.main_impulse[k], 0.0)
            if s > 0:
                expected.append((ours.side_impulse[k], ours.side_point[k]))
                n_side += 1
            else:
                np.testing.assert_array_equal(ours.side_impulse[k], 0.0)
            assert len(calls[k]) == len(expected), (k, actions[k])
            for (j_ref, p_ref), (j, p) in zip(calls[k], expected):
                np.testing.assert_allclose(j, j_ref, rtol=0, atol=2e-6)
                np.testing.assert_allclose(p, p_ref, rtol=0, atol=4e-6)
        assert n_main > 10 and n_side > 10

    def test_dispersion_range(self):
        d = np.asarray(jax.vmap(engines.sample_dispersion)(jax.random.split(jax.random.PRNGKey(0), 2000)))
        assert d.shape == (2000, 2) and d.dtype == np.float32
        assert np.abs(d).max() <= 1.0 / C.SCALE
        assert abs(d.mean()) < 1e-3 and d.std() > 0.015

    def test_out_of_range_discrete_is_noop(self):
        for a in (-1, 4, 7):
            out = engines.engine_impulses(np.int32(a), np.float32(0.3), np.ones(2, np.float32),
                                          np.full(2, 0.01, np.float32), False)
            assert float(out.m_power) == 0.0 and float(out.s_power) == 0.0
            np.testing.assert_array_equal(out.main_impulse, 0.0)
            np.testing.assert_array_equal(out.side_impulse, 0.0)

    def test_validate_action(self):
        for a in (0, 1, 2, 3, np.int64(2), np.array(3)):
            engines.validate_action(a, continuous=False)
        for a in (-1, 4, 2.0, np.array([1, 2]), "2"):
            with pytest.raises(ValueError, match=r"\{0, \.\.\., 3\}"):
                engines.validate_action(a, continuous=False)
        engines.validate_action(np.zeros(2, np.float32), continuous=True)
        with pytest.raises(ValueError, match=r"shape \(2,\)"):
            engines.validate_action(np.zeros(3), continuous=True)


if __name__ == "__main__":
    pytest.main([__file__])
