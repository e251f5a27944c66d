"""Observation, shaping, reward and termination against the real Box2D env.

Random hull/leg states are written into the Box2D bodies; the original's ``step`` runs with its
world step disabled, its engine impulses recorded instead of applied (so the state stays as set)
and a stub ``np_random``; its observation, reward and ``terminated`` are compared with ours.
"""

import chex
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

from rlax_lander.env import engines
from rlax_lander.env import observation as O
from rlax_lander.env.state import blank_state
from tests.env.test_engines import _HullProxy, _StubRandom, _WorldProxy

NUM_CASES = 200


def _env_state(pos, angle, vel, ang_vel, leg_contact):
    """An EnvState with the observed fields set; the rest are dummies."""
    z2 = jnp.zeros(2, jnp.float32)
    return blank_state(
        pos=jnp.asarray(pos), angle=jnp.asarray(angle), leg_angle=z2, vel=jnp.asarray(vel),
        ang_vel=jnp.asarray(ang_vel), leg_ang_vel=z2, terrain_y=jnp.zeros(11, jnp.float32),
        leg_contact=jnp.asarray(leg_contact),
        game_over=jnp.asarray(False), prev_shaping=jnp.float32(0.0), sleep_steps=jnp.int32(0),
        wind_idx=jnp.int32(0), torque_idx=jnp.int32(0), motor_impulse=z2, limit_impulse=z2,

    )


def _cases(seed):
    rng = np.random.default_rng(seed)
    n = NUM_CASES
    pos = np.stack([rng.uniform(-1.0, 21.0, n), rng.uniform(0.5, 14.0, n)], 1)
    pos[:3, 0] = [0.0, 20.0, 10.0]
    return dict(
        pos=pos,
        angle=rng.uniform(-7.0, 7.0, n),
        vel=rng.normal(0.0, 3.0, (n, 2)),
        ang_vel=rng.normal(0.0, 2.0, n),
        legs=rng.integers(0, 2, (n, 2)).astype(bool),
        leg_angle=rng.uniform(-1.0, 1.0, (n, 2)),
        leg_vel=rng.normal(0.0, 1.0, (n, 2)),
        prev_shaping=rng.uniform(-300.0, 20.0, n),
        game_over=rng.uniform(size=n) < 0.15,
        asleep=rng.uniform(size=n) < 0.15,
        action=rng.integers(0, 4, n),
    )


def _run_original(cases):
    env = gym.make("LunarLander-v3").unwrapped
    env.reset(seed=0)
    hull = env.lander
    stub = _StubRandom()
    env.np_random = stub
    env.world = _WorldProxy(env.world)
    env.lander = _HullProxy(hull)  # drops engine impulses: the state stays as set
    out = []
    for k in range(NUM_CASES):
        hull.awake = True
        hull.position = tuple(cases["pos"][k])
        hull.angle = float(cases["angle"][k])
        hull.linearVelocity = tuple(cases["vel"][k])
        hull.angularVelocity = float(cases["ang_vel"][k])
        for i, leg in enumerate(env.legs):
            leg.angle = float(cases["angle"][k] + cases["leg_angle"][k, i])
            leg.angularVelocity = float(cases["ang_vel"][k] + cases["leg_vel"][k, i])
            leg.ground_contact = bool(cases["legs"][k, i])
        if cases["asleep"][k]:
            hull.awake = False  # Box2D zeroes the hull's velocities when put to sleep
        env.game_over = bool(cases["game_over"][k])
        env.prev_shaping = float(cases["prev_shaping"][k])
        stub.queue = [0.3, -0.2]
        obs, reward, terminated, _, _ = env.step(int(cases["action"][k]))
        state = (np.float32(hull.position[0]), np.float32(hull.position[1]), np.float32(hull.angle),
                 np.float32(hull.linearVelocity[0]), np.float32(hull.linearVelocity[1]),
                 np.float32(hull.angularVelocity))
        out.append((obs, float(reward), bool(terminated), state, env.prev_shaping))
    env.close()
    return out


class ObservationTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = _cases(0)
        cls.ref = _run_original(cls.cases)

    @chex.variants(with_jit=True, without_jit=True)
    def test_observation_reward_termination(self):
        ref = self.ref
        st = np.array([r[3] for r in ref], np.float32)  # the float32 state Box2D holds
        legs = self.cases["legs"]

        def ours(pos, angle, vel, ang_vel, legs, prev, action, game_over, asleep):
            obs = O.observation(_env_state(pos, angle, vel, ang_vel, legs))
            m, s, _ = engines.throttles(action, continuous=False)
            return (obs,) + O.reward_and_termination(obs, prev, m, s, game_over, asleep)

        fn = self.variant(jax.vmap(ours))
        obs, reward, term, shaping = jax.tree_util.tree_map(np.asarray, fn(
            st[:, 0:2], st[:, 2], st[:, 3:5], st[:, 5], legs,
            self.cases["prev_shaping"].astype(np.float32), self.cases["action"].astype(np.int32),
            self.cases["game_over"], self.cases["asleep"],
        ))
        ref_obs = np.stack([r[0] for r in ref])
        assert obs.dtype == np.float32 and obs.shape == (NUM_CASES, 8)
        np.testing.assert_allclose(obs, ref_obs, rtol=2e-7, atol=1e-6)
        np.testing.assert_allclose(shaping, [r[4] for r in ref], rtol=1e-6, atol=2e-5)
        np.testing.assert_allclose(reward, [r[1] for r in ref], rtol=1e-6, atol=5e-5)
        np.testing.assert_array_equal(term, [r[2] for r in ref])
        # the case mix covers every branch
        assert term.sum() > 20 and (~term).sum() > 20
        assert (reward == 100.0).sum() > 5 and (reward == -100.0).sum() > 5
        assert (np.abs(ref_obs[:, 0]) >= 1).sum() > 5

    def test_shaping_handpicked(self):
        obs = jnp.array([0.3, 0.4, 0.0, 0.0, -0.5, 0.0, 1.0, 0.0], jnp.float32)
        np.testing.assert_allclose(O.shaping(obs), -50.0 - 50.0 + 10.0, rtol=1e-6)


if __name__ == "__main__":
    pytest.main([__file__])
