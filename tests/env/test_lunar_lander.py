"""API, determinism, robustness and statistical smoke checks of the gymnax LunarLander.

Compiled programs are shared through module-level jitted functions (one single-env step, one
vmapped step, one ``run_episodes`` per policy/mode; wind is a traced parameter, so it reuses them).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

import rlax_lander
from rlax_lander.env import rollout

ENV, PARAMS = rlax_lander.make("LunarLander-v3")
ENV_C, PARAMS_C = rlax_lander.make("LunarLander-v3", continuous=True)
RANDOM_D, RANDOM_C = rollout.random_policy(False), rollout.random_policy(True)
HEUR_D = rollout.heuristic_policy(False)
reset = jax.jit(ENV.reset)
step = jax.jit(ENV.step)
vstep = jax.jit(jax.vmap(ENV.step, (0, 0, 0, None)))


def _episodes(env, params, policy, seed, n=64):
    return jax.tree_util.tree_map(
        np.asarray, rollout.run_episodes(env, params, policy, jax.random.PRNGKey(seed), n))


@pytest.fixture(scope="module")
def heuristic_episodes():
    return _episodes(ENV, PARAMS, HEUR_D, 0)


@pytest.fixture(scope="module")
def random_episodes():
    return _episodes(ENV, PARAMS, RANDOM_D, 1)


def test_spaces_and_shapes():
    assert isinstance(ENV.action_space(PARAMS), spaces.Discrete) and ENV.action_space(PARAMS).n == 4
    box = ENV_C.action_space(PARAMS_C)
    assert isinstance(box, spaces.Box) and box.shape == (2,)
    assert ENV.observation_space(PARAMS).shape == (8,)
    obs, state = reset(jax.random.PRNGKey(0), PARAMS)
    assert obs.shape == (8,) and obs.dtype == jnp.float32
    out = step(jax.random.PRNGKey(1), state, 0, PARAMS)
    assert len(out) == 6
    obs2, state2, reward, terminated, truncated, info = out
    assert obs2.shape == (8,) and obs2.dtype == jnp.float32
    assert reward.shape == () and terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
    assert {"final_observation", "landed", "crashed", "out_of_bounds"} <= set(info)


def test_episode_end_gives_final_observation_and_auto_resets():
    obs, state = reset(jax.random.PRNGKey(2), PARAMS)
    rng = np.random.default_rng(0)
    for t in range(1000):
        obs, state, r, term, trunc, info = step(jax.random.PRNGKey(100 + t), state,
                                                int(rng.integers(0, 4)), PARAMS)
        if term or trunc:
            break
    assert bool(term), "a random episode terminates well before 1000 steps"
    final = np.asarray(info["final_observation"])
    assert float(r) == -100.0
    assert not np.array_equal(final, np.asarray(obs))  # obs is already the next episode's first
    assert int(state.time) == 0 and not bool(state.game_over)
    assert abs(float(obs[1]) - 1.4) < 0.1  # fresh episode starts near the top


def test_jit_vmap_match_unbatched_and_determinism():
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    obs_b, st_b = jax.vmap(ENV.reset, (0, None))(keys, PARAMS)
    singles = [reset(k, PARAMS) for k in keys]
    acts = jax.random.randint(jax.random.PRNGKey(4), (30, 4), 0, 4)
    traj_b, traj_s = [], [[] for _ in range(4)]
    for t in range(30):
        ks = jax.random.split(jax.random.PRNGKey(1000 + t), 4)
        obs_b, st_b, *_ = vstep(ks, st_b, acts[t], PARAMS)
        traj_b.append(np.asarray(obs_b))
        for i in range(4):
            o, s, *_ = step(ks[i], singles[i][1], acts[t, i], PARAMS)
            singles[i] = (o, s)
            traj_s[i].append(np.asarray(o))
    traj_b = np.stack(traj_b, 1)  # [4, 30, 8]
    np.testing.assert_allclose(traj_b, np.stack([np.stack(x) for x in traj_s]), atol=1e-5)
    # Same key -> bit-identical; different keys -> different trajectories.
    a = _episodes(ENV, PARAMS, RANDOM_D, 5)
    b = _episodes(ENV, PARAMS, RANDOM_D, 5)
    c = _episodes(ENV, PARAMS, RANDOM_D, 6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.final_obs, c.final_obs)
    assert not np.array_equal(traj_b[0], traj_b[1])


@pytest.mark.parametrize("continuous", [False, True])
def test_no_nan_in_random_play_with_wind(continuous):
    env, _ = (ENV_C, PARAMS_C) if continuous else (ENV, PARAMS)
    params = rlax_lander.make("LunarLander-v3", continuous=continuous, enable_wind=True)[1]
    total = 0
    for seed in range(3):
        e = _episodes(env, params, RANDOM_C if continuous else RANDOM_D, 10 + seed, n=64)
        assert not e.nonfinite.any() and np.all(np.isfinite(e.returns))
        total += int(e.lengths.sum())
    assert total > 10_000


def test_heuristic_lands_at_rest_on_pad(heuristic_episodes):
    e = heuristic_episodes
    landed = e.outcomes == 0
    assert landed.mean() > 0.7
    on_pad = landed & (np.abs(e.final_obs[:, 0]) <= 0.2)  # off-pad landings rest on other terrain
    assert on_pad.mean() > 0.6
    # Resting height: both feet on the pad (x in [8, 12] m), i.e. the hull origin within
    # 2 - 0.86 - 0.07 m of the centre (obs x 0.107); a foot past the pad's end rests lower.
    feet_on_pad = landed & (np.abs(e.final_obs[:, 0]) <= 0.1)
    assert feet_on_pad.mean() > 0.5
    assert np.all(np.abs(e.final_obs[feet_on_pad, 1]) < 0.01)
    assert np.all(e.last_rewards[landed] >= 100.0 - 1.0)
    assert e.returns.mean() > 150.0


def test_random_policy_smoke(random_episodes):
    e = random_episodes
    # Box2D: mean length 92 (reference A.2). The median is used because a random lander that
    # happens to come to rest on its legs is kicked around until the 1000-step limit, rarely.
    assert 60.0 <= np.median(e.lengths) <= 130.0
    assert np.mean(e.lengths >= 1000) <= 0.1
    assert e.returns.mean() < -50.0
    assert np.all(np.isin(e.outcomes, [1, 2, 3]))


def test_make_validation():
    with pytest.raises(ValueError, match="env_id"):
        rlax_lander.make("LunarLander-v4")
    for g in (-12.0, 0.0, 1.0, -20.0):
        with pytest.raises(ValueError, match=r"gravity.*-12.*0"):
            rlax_lander.make("LunarLander-v3", gravity=g)
    with pytest.raises(ValueError, match="unknown"):
        rlax_lander.make("LunarLander-v3", gravitee=-10.0)
    rlax_lander.make("LunarLander-v3", gravity=-11.99)


def test_wind_index_advances_only_without_leg_contact():
    params = rlax_lander.make("LunarLander-v3", enable_wind=True)[1]
    _, state = reset(jax.random.PRNGKey(8), params)
    _, s1, *_ = step(jax.random.PRNGKey(9), state, 0, params)
    assert int(s1.wind_idx) == int(state.wind_idx) + 1
    assert int(s1.torque_idx) == int(state.torque_idx) + 1
    touching = state.replace(leg_contact=jnp.array([True, False]))
    _, s2, *_ = step(jax.random.PRNGKey(9), touching, 0, params)
    assert int(s2.wind_idx) == int(state.wind_idx) and int(s2.torque_idx) == int(state.torque_idx)
    _, s3, *_ = step(jax.random.PRNGKey(9), state, 0, PARAMS)  # wind off: never advances
    assert int(s3.wind_idx) == int(state.wind_idx)
