"""Fast touchdowns against real Box2D: the step in which a leg first strikes the terrain.

Box2D's continuous collision rewinds a fast leg alone to its time of impact, stops and spins it
while the hull moves on (``rlax_lander/env/toi.py``). Starting both engines from the same Box2D
snapshot one step before a leg's first contact in random-policy episodes, with the same action,
the legs' angles after that step must agree; without the leg-alone sub-step they are off by a
median 0.09 rad (a leg struck at 10 m/s would keep its pre-impact angle).
"""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlax_lander
from rlax_lander.env import constants as C
from rlax_lander.env import terrain
from rlax_lander.env.state import blank_state

EPISODES = 150


def _snapshot(env):
    return [v for b in [env.lander] + list(env.legs)
            for v in (*b.position, b.angle, *b.linearVelocity, b.angularVelocity)]


def _phi(env):
    return [env.legs[i].angle - env.lander.angle for i in range(2)]


@pytest.fixture(scope="module")
def touchdowns():
    """Box2D: (seed, snapshot one step before the first leg contact, action, legs' phi after it)."""
    rng = np.random.default_rng(0)
    env = gym.make("LunarLander-v3").unwrapped
    cases = []
    for seed in range(EPISODES):
        env.reset(seed=seed)
        snap, terminated, touched = _snapshot(env), False, False
        for _ in range(1000):
            action = int(rng.integers(4))
            _, _, terminated, _, _ = env.step(action)
            touched = env.legs[0].ground_contact or env.legs[1].ground_contact
            if touched or terminated:
                break
            snap = _snapshot(env)
        if touched and not terminated:
            cases.append((seed, snap, action, _phi(env)))
    env.close()
    return cases


def _jax_phi(cases):
    env, params = rlax_lander.make("LunarLander-v3")

    def one(terrain_y, s, action):
        state = blank_state(
            pos=s[0:2], angle=s[2], vel=s[3:5], ang_vel=s[5],
            leg_angle=jnp.stack([s[8] - s[2], s[14] - s[2]]),
            leg_ang_vel=jnp.stack([s[11] - s[5], s[17] - s[5]]), terrain_y=terrain_y,
            wind_idx=jnp.int32(0), torque_idx=jnp.int32(0))
        _, state, *_ = env.step_env(jax.random.PRNGKey(0), state, action, params)
        return state.leg_angle

    raw = np.stack([np.random.default_rng(seed).uniform(0, C.H / 2, size=(C.CHUNKS + 1,)) for seed, *_ in cases])
    terrain_y = jax.vmap(terrain.terrain_from_raw)(jnp.asarray(raw, jnp.float32))
    snaps = jnp.asarray(np.array([c[1] for c in cases], np.float32))
    actions = jnp.asarray([c[2] for c in cases])
    return np.asarray(jax.jit(jax.vmap(one))(terrain_y, snaps, actions))


def test_legs_after_first_contact_match_box2d(touchdowns):
    assert len(touchdowns) > 100
    box2d_phi = np.array([c[3] for c in touchdowns])
    # Most random touchdowns strike at 8-12 m/s: Box2D's legs are knocked well off their rest angle.
    knocked = np.abs(np.abs(box2d_phi) - 0.35).max(axis=1) > 0.1
    assert knocked.mean() > 0.3
    err = np.abs(_jax_phi(touchdowns) - box2d_phi).max(axis=1)
    assert np.median(err) < 0.02, np.median(err)
    assert np.percentile(err, 90) < 0.1, np.percentile(err, 90)
    assert np.median(err[knocked]) < 0.03, np.median(err[knocked])
