"""The JAX LunarLander through Gymnasium's Env / VectorEnv APIs."""

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from rlax_lander.env import constants as C
from rlax_lander.interop import gymnasium as ig

NUM_ENVS = 64


@pytest.fixture(scope="module")
def discrete_env():
    return gymnasium.make(ig.DISCRETE_ID, render_mode="rgb_array")


@pytest.fixture(scope="module")
def continuous_env():
    return gymnasium.make(ig.CONTINUOUS_ID)


@pytest.fixture(scope="module")
def vector_env():
    return gymnasium.make_vec(ig.DISCRETE_ID, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point")


def _check(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "determinis" in m or "not within" in m or "dtype" in m], messages


def test_registered_without_outer_time_limit(discrete_env):
    spec = gymnasium.spec(ig.DISCRETE_ID)
    assert spec.max_episode_steps is None  # the env truncates by itself
    assert isinstance(discrete_env.unwrapped, ig.JaxLunarLander)
    assert "TimeLimit" not in str(discrete_env)


def test_check_env_discrete(discrete_env):
    _check(discrete_env)
    assert discrete_env.action_space == gymnasium.spaces.Discrete(4)
    box = discrete_env.observation_space
    assert box.shape == (8,) and box.dtype == np.float32
    np.testing.assert_array_equal(box.low, C.OBS_LOW)
    np.testing.assert_array_equal(box.high, C.OBS_HIGH)


def test_check_env_continuous(continuous_env):
    _check(continuous_env)
    assert continuous_env.action_space == gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    obs, _ = continuous_env.reset(seed=0)
    obs, reward, terminated, truncated, info = continuous_env.step(np.array([1.0, -0.7], np.float32))
    assert obs.dtype == np.float32 and obs.shape == (8,)
    assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    assert set(info) == set(ig.INFO_KEYS)


@pytest.mark.parametrize("action", [5, -1, 1.5, np.float32(2.0), np.array([1, 2]), np.array([[2]]), "2", None])
def test_invalid_discrete_action_raises(discrete_env, action):
    discrete_env.reset(seed=0)
    with pytest.raises(ValueError, match="discrete LunarLander action"):
        discrete_env.unwrapped.step(action)


@pytest.mark.parametrize("action", [0.5, np.zeros(3), np.zeros((1, 2)), np.array([np.nan, 0.0]), np.array([0.0, np.inf])])
def test_invalid_continuous_action_raises(continuous_env, action):
    continuous_env.reset(seed=0)
    with pytest.raises(ValueError, match="continuous LunarLander action"):
        continuous_env.unwrapped.step(action)


def test_valid_discrete_action_types_accepted(discrete_env):
    discrete_env.reset(seed=0)
    for a in (0, np.int64(1), np.array(2, np.int32), np.uint8(3)):
        discrete_env.unwrapped.step(a)


def _trajectory(env, seed, num_steps=60):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(num_steps):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(4)))
        out.append(np.append(obs, reward))
        if terminated or truncated:
            break
    return out


def test_same_seed_same_trajectory(discrete_env):
    a = _trajectory(discrete_env.unwrapped, 11)
    b = _trajectory(ig.JaxLunarLander(), 11)  # a fresh instance, same seed
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = _trajectory(discrete_env.unwrapped, 12)
    assert not np.array_equal(a[0], c[0])


def test_unseeded_reset_continues_the_seeded_stream(discrete_env):
    env = discrete_env.unwrapped
    env.reset(seed=5)
    first = env.reset()[0]
    env.reset(seed=5)
    np.testing.assert_array_equal(env.reset()[0], first)
    assert not np.array_equal(env.reset()[0], first)  # keys are never reused


def test_time_limit_truncates():
    env = ig.JaxLunarLander(max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(0)[3] for _ in range(5)]
    assert flags == [False, False, False, False, True]
    with pytest.raises(ValueError, match="max_episode_steps"):
        ig.JaxLunarLander(max_episode_steps=0)


def test_step_before_reset_raises():
    with pytest.raises(gymnasium.error.ResetNeeded):
        ig.JaxLunarLander().step(0)


def test_render_frame(discrete_env):
    discrete_env.reset(seed=0)
    discrete_env.step(2)
    frame = discrete_env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8


def test_vector_env_1000_random_steps(vector_env):
    envs = vector_env
    assert isinstance(envs.unwrapped, ig.JaxLunarLanderVector)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.action_space == gymnasium.spaces.MultiDiscrete(np.full(NUM_ENVS, 4))
    obs, info = envs.reset(seed=0)
    assert obs.shape == (NUM_ENVS, 8) and obs.dtype == np.float32 and info == {}
    envs.action_space.seed(0)
    ends = np.zeros(NUM_ENVS, int)
    for _ in range(1000):
        obs, rewards, terms, truncs, info = envs.step(envs.action_space.sample())
        assert obs.shape == (NUM_ENVS, 8) and obs.dtype == np.float32
        assert rewards.shape == (NUM_ENVS,) and terms.dtype == bool and truncs.dtype == bool
        assert np.all(np.isfinite(obs)) and np.all(np.isfinite(rewards))
        done = terms | truncs
        ends += done
        if done.any():
            np.testing.assert_array_equal(info["_final_obs"], done)
            np.testing.assert_array_equal(info["_final_info"], done)
            final = np.stack(info["final_obs"][done])
            assert final.shape == (done.sum(), 8) and np.all(np.isfinite(final))
            assert all(x is None for x in info["final_obs"][~done])
            # Terminated episodes end on a +-100 reward; the restarted env is back at the top.
            assert np.all(np.abs(rewards[terms]) >= 50.0)
            assert np.all(obs[done, 1] > 1.0)
            ended = info["final_info"]
            assert np.all((ended["landed"] | ended["crashed"] | ended["out_of_bounds"])[terms])
            assert np.all(np.asarray(envs.unwrapped.state.time)[done] == 0)
        else:
            assert "final_obs" not in info
    assert ends.min() >= 1  # every env finished (random-action episodes last ~100 steps) and restarted
    assert ends.sum() > 3 * NUM_ENVS


def test_vector_seed_list_matches_single_envs(vector_env):
    envs = vector_env.unwrapped
    seeds = list(range(100, 100 + NUM_ENVS))
    vobs, _ = envs.reset(seed=seeds)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, (10, NUM_ENVS))
    vtraj = [vobs] + [envs.step(a)[0] for a in actions]
    for i in (0, 37):
        single = ig.JaxLunarLander()
        sobs = [single.reset(seed=seeds[i])[0]] + [single.step(int(a[i]))[0] for a in actions]
        # Same keys, same dynamics; the batched and single programs differ only in float rounding.
        np.testing.assert_allclose(np.stack(sobs), np.stack(vtraj)[:, i], rtol=1e-5, atol=1e-6)


def test_invalid_vector_actions_raise(vector_env):
    vector_env.reset(seed=0)
    for bad in (np.full(NUM_ENVS, 4), np.full(NUM_ENVS, -1), np.zeros(NUM_ENVS - 1, int), np.full(NUM_ENVS, 1.0)):
        with pytest.raises(ValueError, match="vector actions"):
            vector_env.step(bad)


def test_vector_render_and_inner_time_limit():
    envs = gymnasium.make_vec(
        ig.DISCRETE_ID, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point",
        max_episode_steps=3, render_mode="rgb_array",
    )
    envs.reset(seed=1)
    truncs = [envs.step(np.zeros(NUM_ENVS, int))[3] for _ in range(3)]
    assert not truncs[0].any() and truncs[2].all()
    frames = envs.render()
    assert len(frames) == NUM_ENVS and frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8
