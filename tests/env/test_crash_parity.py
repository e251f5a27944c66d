"""The hull's contact response on the terminal step, against real Box2D from the same states.

Box2D's TOI pass stops a hull that strikes the terrain mid-step (the hull alone: joints are not in
the TOI island), so the final observation of a crash already carries the impact: a median jump of
about 6 m/s in v_y and 7 rad/s in angular velocity over random-policy crashes. Starting both
engines from the same Box2D snapshot one step before the crash step, with the same action, the
hull's velocity after the crash step must be much closer to Box2D's than the velocity it had before
(which is what a model without the response returns, give or take one step of gravity).
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


@pytest.fixture(scope="module")
def crashes():
    """Box2D: (seed, snapshot one step before the crash step, action, hull (vx, vy, w) after it)."""
    rng = np.random.default_rng(1)
    env = gym.make("LunarLander-v3").unwrapped
    cases = []
    for seed in range(EPISODES):
        env.reset(seed=seed)
        for _ in range(1000):
            snap = _snapshot(env)
            action = int(rng.integers(4))
            _, _, terminated, _, _ = env.step(action)
            if terminated:
                if env.game_over:
                    after = (*env.lander.linearVelocity, env.lander.angularVelocity)
                    cases.append((seed, snap, action, after))
                break
    env.close()
    return cases


def _jax_crash_step(cases):
    env, params = rlax_lander.make("LunarLander-v3")

    def one(terrain_y, s, action):
        state = blank_state(
            pos=s[0:2], angle=s[2], vel=s[3:5], ang_vel=s[5],
            leg_angle=jnp.stack([s[8] - s[2], s[14] - s[2]]),
            leg_ang_vel=jnp.stack([s[11] - s[5], s[17] - s[5]]), terrain_y=terrain_y)
        _, state, *_ = env.step_env(jax.random.PRNGKey(0), state, action, params)
        return jnp.concatenate([state.vel, state.ang_vel[None]]), state.game_over

    raw = np.stack([np.random.default_rng(seed).uniform(0, C.H / 2, size=(C.CHUNKS + 1,))
                    for seed, *_ in cases])
    terrain_y = jax.vmap(terrain.terrain_from_raw)(jnp.asarray(raw, jnp.float32))
    snaps = jnp.asarray(np.array([c[1] for c in cases], np.float32))
    actions = jnp.asarray([c[2] for c in cases])
    vel, crashed = jax.jit(jax.vmap(one))(terrain_y, snaps, actions)
    return np.asarray(vel), np.asarray(crashed)


def test_crash_step_hull_velocity_matches_box2d(crashes):
    assert len(crashes) > 100
    box2d = np.array([c[3] for c in crashes])  # [N, 3] vx, vy (m/s), w (rad/s) after the crash step
    before = np.array([[c[1][3], c[1][4], c[1][5]] for c in crashes])
    vel, crashed = _jax_crash_step(crashes)
    assert crashed.mean() > 0.9  # the same step ends the episode in both engines
    vel, box2d, before = vel[crashed], box2d[crashed], before[crashed]
    jump = np.median(np.abs(box2d - before), axis=0)
    err = np.median(np.abs(vel - box2d), axis=0)
    assert jump[1] > 3.0 and jump[2] > 3.0, jump  # the response is large: m/s, rad/s
    # Without the response the errors would be about the jumps themselves (measured: ~1 % of them).
    assert err[1] < 0.1 * jump[1], (err, jump)
    assert err[2] < 0.1 * jump[2], (err, jump)
