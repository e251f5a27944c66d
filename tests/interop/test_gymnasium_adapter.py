"""The JAX LunarLander through Gymnasium's Env / VectorEnv APIs."""

import importlib.util
import pickle
import types
import warnings

import gymnasium
import gymnasium.wrappers.vector as vw
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
    return gymnasium.make_vec(ig.DISCRETE_ID, num_envs=NUM_ENVS, autoreset_mode=AutoresetMode.SAME_STEP)


def _check(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "determinis" in m or "not within" in m or "dtype" in m], messages


@pytest.mark.parametrize("env_id", [ig.DISCRETE_ID, ig.CONTINUOUS_ID])
def test_spec_like_the_original(env_id):
    ours, real = gymnasium.spec(env_id), gymnasium.spec(env_id.split("/")[1])
    assert ours.max_episode_steps == real.max_episode_steps == 1000
    assert ours.reward_threshold == real.reward_threshold == 200
    env = gymnasium.make(env_id)
    assert isinstance(env.unwrapped, ig.JaxLunarLander) and env.spec.max_episode_steps == 1000
    assert "TimeLimit" in str(env)
    assert env.unwrapped.max_episode_steps is None  # as the original class: TimeLimit truncates
    assert env.unwrapped.env_params.max_steps_in_episode > 10**9
    assert set(env.metadata["render_modes"]) == {"human", "rgb_array"}


def test_make_time_limit_consistent_with_the_inner_one():
    env = gymnasium.make(ig.DISCRETE_ID, max_episode_steps=7)
    env.reset(seed=0)
    flags = [env.step(0)[3] for _ in range(7)]
    assert flags == [False] * 6 + [True]
    envs = gymnasium.make_vec(ig.DISCRETE_ID, num_envs=2)  # vector entry point: the spec's 1000 inside
    assert envs.unwrapped.env_params.max_steps_in_episode == 1000
    envs = gymnasium.make_vec(ig.DISCRETE_ID, num_envs=2, max_episode_steps=7)
    assert envs.unwrapped.env_params.max_steps_in_episode == 7


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


@pytest.mark.parametrize(
    "action", [5, -1, 1.5, np.float32(2.0), np.array([1, 2]), np.array([[2]]), "2", None]
)
def test_invalid_discrete_action_raises(discrete_env, action):
    discrete_env.reset(seed=0)
    with pytest.raises(ValueError, match="discrete LunarLander action"):
        discrete_env.unwrapped.step(action)


@pytest.mark.parametrize(
    "action", [0.5, np.zeros(3), np.zeros((1, 2)), np.array([np.nan, 0.0]), np.array([0.0, np.inf])]
)
def test_invalid_continuous_action_raises(continuous_env, action):
    continuous_env.reset(seed=0)
    with pytest.raises(ValueError, match="continuous LunarLander action"):
        continuous_env.unwrapped.step(action)


def test_valid_discrete_action_types_accepted(discrete_env):
    discrete_env.reset(seed=0)
    actions = (0, np.int64(1), np.array(2, np.int32), np.uint8(3))
    results = [discrete_env.unwrapped.step(a) for a in actions]
    assert all(r[0].dtype == np.float32 for r in results)
    for bad in (True, 4, -1):
        with pytest.raises(ValueError, match="discrete LunarLander action"):
            discrete_env.unwrapped.step(bad)


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


def test_vector_same_step_1000_random_steps(vector_env):
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
    bads = (np.full(NUM_ENVS, 4), np.full(NUM_ENVS, -1), np.zeros(NUM_ENVS - 1, int), np.full(NUM_ENVS, 1.0))
    for bad in bads:
        with pytest.raises(ValueError, match="vector actions"):
            vector_env.step(bad)


def test_vector_render_and_inner_time_limit():
    envs = gymnasium.make_vec(
        ig.DISCRETE_ID, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point",
        max_episode_steps=3, render_mode="rgb_array", autoreset_mode=AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=1)
    truncs = [envs.step(np.zeros(NUM_ENVS, int))[3] for _ in range(3)]
    assert not truncs[0].any() and truncs[2].all()
    frames = envs.render()
    assert len(frames) == NUM_ENVS and frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8


def _rollout(env, actions):
    return [tuple(np.asarray(x, np.float64).ravel().tolist() for x in env.step(a)[:4]) for a in actions]


def test_single_env_pickles_and_continues_identically():
    env = gymnasium.make(ig.DISCRETE_ID)
    fresh = pickle.loads(pickle.dumps(env))  # before any reset: nothing on the device yet
    assert fresh.unwrapped.state is None
    env.reset(seed=3)
    actions = np.random.default_rng(1).integers(0, 4, 40).tolist()
    _rollout(env, actions[:10])
    blob = pickle.dumps(env)
    assert len(blob) < 10_000
    copy = pickle.loads(blob)
    assert _rollout(copy, actions[10:]) == _rollout(env, actions[10:])
    assert env.reset()[0].tolist() == copy.reset()[0].tolist()  # the key stream continues too


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_pickles_and_continues_identically(mode):
    envs = gymnasium.make_vec(ig.DISCRETE_ID, num_envs=4, max_episode_steps=5, autoreset_mode=mode)
    envs.reset(seed=7)
    actions = np.random.default_rng(2).integers(0, 4, (12, 4))
    for a in actions[:5]:  # ends every episode at step 5 (the inner limit): autoreset pending
        envs.step(a)
    copy = pickle.loads(pickle.dumps(envs))
    assert copy.metadata["autoreset_mode"] == mode
    for a in actions[5:]:
        mine, theirs = envs.step(a), copy.step(a)
        for x, y in zip(mine[:4], theirs[:4]):
            np.testing.assert_array_equal(x, y)
        assert mine[4].keys() == theirs[4].keys()


def test_make_vec_defaults_to_next_step_like_gymnasium():
    ours = gymnasium.make_vec(ig.DISCRETE_ID, num_envs=2)
    real = gymnasium.make_vec("LunarLander-v3", num_envs=2)
    assert ours.metadata["autoreset_mode"] == real.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert isinstance(ours.unwrapped, ig.JaxLunarLanderVector)
    with pytest.raises(ValueError, match="autoreset_mode"):
        ig.JaxLunarLanderVector(2, autoreset_mode=AutoresetMode.DISABLED)


def test_next_step_vector_wrappers_report_the_true_episodes():
    """NormalizeObservation / FlattenObservation accept the env; RecordEpisodeStatistics is exact."""
    n, seeds = 6, list(range(20, 26))
    envs = gymnasium.make_vec(ig.DISCRETE_ID, num_envs=n)
    wrapped = vw.FlattenObservation(vw.NormalizeObservation(vw.RecordEpisodeStatistics(envs)))
    wrapped.reset(seed=seeds)
    rng = np.random.default_rng(0)
    ret, length, pending = np.zeros(n), np.zeros(n, int), np.zeros(n, bool)
    first_actions = [[] for _ in range(n)]
    episodes = [[] for _ in range(n)]
    for _ in range(400):
        a = rng.integers(0, 4, n)
        obs, reward, term, trunc, info = wrapped.step(a)
        assert obs.shape == (n, 8) and np.all(np.isfinite(obs))
        assert np.all(reward[pending] == 0) and not np.any((term | trunc)[pending])  # the reset step
        ret = np.where(pending, 0.0, ret + reward)
        length = np.where(pending, 0, length + 1)
        for i in np.flatnonzero(~pending):
            if not episodes[i]:
                first_actions[i].append(int(a[i]))
        done = term | trunc
        np.testing.assert_array_equal(info.get("_episode", np.zeros(n, bool)), done)
        for i in np.flatnonzero(done):
            assert info["episode"]["r"][i] == pytest.approx(ret[i], rel=1e-5, abs=1e-4)
            assert info["episode"]["l"][i] == length[i]
            episodes[i].append((ret[i], length[i]))
        pending = done
    assert all(len(e) >= 1 for e in episodes) and sum(map(len, episodes)) > n
    for i in (0, 3):  # the first episode equals the single env's with the same seed and actions
        single = gymnasium.make(ig.DISCRETE_ID)
        single.reset(seed=seeds[i])
        rewards = [single.step(act)[1] for act in first_actions[i]]
        assert len(rewards) == episodes[i][0][1]
        assert sum(rewards) == pytest.approx(episodes[i][0][0], rel=1e-4, abs=1e-3)


def test_human_render_mode(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    pytest.importorskip("pygame")  # gymnasium[box2d] (the "gym" extra) installs it
    env = gymnasium.make(ig.DISCRETE_ID, render_mode="human")
    env.reset(seed=0)
    for _ in range(3):
        env.step(2)
    assert env.render() is None
    env.close()


def test_human_render_mode_without_pygame_says_what_to_install(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pygame" else find_spec(name, *a)
    )
    with pytest.raises(gymnasium.error.DependencyNotInstalled, match="pip install pygame"):
        ig.JaxLunarLander(render_mode="human")


class _FakeConfig:
    def __init__(self, cache_dir=None):
        self.jax_compilation_cache_dir = cache_dir
        self.updates = []

    def update(self, name, value):
        self.updates.append((name, value))


@pytest.mark.parametrize(
    "env_value, configured, expected",
    [
        ("{tmp}", None, "{tmp}"),  # RLAX_LANDER_JAX_CACHE=<dir>
        ("0", None, None),  # switched off
        ("{tmp}", "/somewhere/else", None),  # a configured cache directory is left alone
        (None, None, "{xdg}/rlax_lander/jax"),  # the default place
    ],
)
def test_persistent_compilation_cache_setting(monkeypatch, tmp_path, env_value, configured, expected):
    fill = lambda s: s.format(tmp=tmp_path, xdg=tmp_path / "xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if env_value is None:
        monkeypatch.delenv(ig.CACHE_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ig.CACHE_ENV_VAR, fill(env_value))
    config = _FakeConfig(configured)
    ig._enable_compilation_cache(types.SimpleNamespace(config=config))
    assert config.updates == ([] if expected is None else [("jax_compilation_cache_dir", fill(expected))])
