"""The fitted post-reset map against real Box2D resets on seeds not used in the fit."""

import math

import chex
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

from rlax_lander.env import constants as C
from rlax_lander.env import observation as O
from rlax_lander.env.reset_map import RESET_COEFFS, RESET_STATE_NAMES, post_reset_state
from rlax_lander.env.state import blank_state

SEEDS = range(10_000, 10_200)  # the fit used seeds 0..1999


def _wind_signal(k):
    return math.tanh(math.sin(0.02 * k) + math.sin(math.pi * 0.01 * k))


def _measure(enable_wind):
    """Reproduced draws -> (fx, fy, torque) and Box2D's post-reset state / observation."""
    env = gym.make("LunarLander-v3", enable_wind=enable_wind)
    u = env.unwrapped
    feats, states, obs = [], [], []
    for seed in SEEDS:
        o, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        raw = rng.uniform(0, C.H / 2, size=(C.CHUNKS + 1,))
        fx, fy = rng.uniform(-1000, 1000), rng.uniform(-1000, 1000)
        wind = torque = 0.0
        if enable_wind:
            wind_idx, torque_idx = int(rng.integers(-9999, 9999)), int(rng.integers(-9999, 9999))
            assert (u.wind_idx, u.torque_idx) == (wind_idx + 1, torque_idx + 1)
            wind = _wind_signal(wind_idx) * u.wind_power
            torque = _wind_signal(torque_idx) * u.turbulence_power
        # the terrain draw is reproduced too: first terrain vertex = 0.33 (h[11] + h[0] + h[1])
        assert abs(u.moon.fixtures[1].shape.vertices[0][1] - 0.33 * (raw[11] + raw[0] + raw[1])) < 1e-5
        hull, legs = u.lander, u.legs
        feats.append((fx + wind, fy, torque))
        states.append([
            hull.position[0], hull.position[1], hull.angle,
            hull.linearVelocity[0], hull.linearVelocity[1], hull.angularVelocity,
            legs[0].angle - hull.angle, legs[1].angle - hull.angle,
            legs[0].angularVelocity - hull.angularVelocity,
            legs[1].angularVelocity - hull.angularVelocity,
        ])
        obs.append(o)
    env.close()
    return np.array(feats, np.float32), np.array(states), np.array(obs)


# Per-component tolerance (the fit's max residuals are ~2e-6 for pos/vel, 2.5e-5 for the legs).
TOL = dict(pos_x=1e-5, pos_y=2e-5, angle=1e-6, vel_x=2e-5, vel_y=2e-5, ang_vel=5e-6,
           leg_angle_0=1e-4, leg_angle_1=1e-4, leg_ang_vel_0=1e-4, leg_ang_vel_1=1e-4)


class ResetMapTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = {w: _measure(w) for w in (False, True)}

    def test_coeffs(self):
        assert RESET_COEFFS.shape == (10, 4) and RESET_COEFFS.dtype == np.float32
        assert tuple(RESET_STATE_NAMES) == tuple(TOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(False, True)
    def test_matches_box2d(self, enable_wind):
        feats, states, ref_obs = self.data[enable_wind]

        def ours(f):
            s = post_reset_state(f[0], f[1], f[2])
            flat = jnp.concatenate([s.pos, s.angle[None], s.vel, s.ang_vel[None], s.leg_angle,
                                    s.leg_ang_vel])
            z2 = jnp.zeros(2, jnp.float32)
            env_state = blank_state(
                pos=s.pos, angle=s.angle, leg_angle=s.leg_angle, vel=s.vel, ang_vel=s.ang_vel,
                leg_ang_vel=s.leg_ang_vel, terrain_y=jnp.zeros(11, jnp.float32),
                game_over=jnp.asarray(False), prev_shaping=jnp.float32(0.0),
                sleep_steps=jnp.int32(0), wind_idx=jnp.int32(0), torque_idx=jnp.int32(0),
                motor_impulse=z2, limit_impulse=z2,
            )
            return flat, O.observation(env_state)

        flat, obs = jax.tree_util.tree_map(np.asarray, self.variant(jax.vmap(ours))(feats))
        assert flat.dtype == np.float32
        for j, name in enumerate(RESET_STATE_NAMES):
            np.testing.assert_allclose(flat[:, j], states[:, j], rtol=0, atol=TOL[name],
                                       err_msg=name)
        np.testing.assert_allclose(obs, ref_obs, rtol=0, atol=1e-5)
        if enable_wind:  # the torque feature matters: without it the angle would be off
            assert np.abs(feats[:, 2]).max() > 1.0


if __name__ == "__main__":
    pytest.main([__file__])


@pytest.mark.parametrize("gravity", [-5.0, -11.5])
def test_post_reset_state_follows_gravity(gravity):
    """Other gravities shift only the free-fall terms of the reset step; checked against Box2D."""
    env = gym.make("LunarLander-v3", gravity=gravity).unwrapped
    for seed in range(10):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        rng.uniform(0.0, C.H / 2, size=12)  # the terrain draws come first
        fx, fy = rng.uniform(-C.INITIAL_RANDOM, C.INITIAL_RANDOM, size=2)
        s = post_reset_state(jnp.float32(fx), jnp.float32(fy), jnp.float32(0.0), gravity)
        np.testing.assert_allclose(np.asarray(s.vel), np.asarray(env.lander.linearVelocity), atol=1e-5)
        np.testing.assert_allclose(np.asarray(s.pos), np.asarray(env.lander.position), atol=1e-5)
        leg = env.legs[0].angle - env.lander.angle
        np.testing.assert_allclose(float(s.leg_angle[0]), leg, atol=1e-4)
