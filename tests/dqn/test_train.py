"""The training program: its pure stages composed by hand and by `make_train`, determinism,
vmap equivalence, one compile per grid, input validation, and a CartPole run that must learn."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlax_lander import dqn, metrics, parallel, runner
from rlax_lander.dqn.config import DQNConfig
from rlax_lander.env.registry import make as make_env

SMALL = DQNConfig.cartpole(total_timesteps=3_000, learning_starts=500, buffer_size=1_000,
                           batch_size=32, hidden_sizes=(16, 16))


@pytest.fixture(scope="module")
def small():
    env, env_params = make_env(SMALL.env_id)
    return jax.jit(dqn.make_train(SMALL, env, env_params))


def _stack(hp, n):
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n,)), hp)


def test_metric_shapes(small):
    r = small(jax.random.key(0), SMALL.hparams())
    stages = dqn.make_stages(SMALL, *make_env(SMALL.env_id))
    k = stages.num_chunks
    assert set(r.metrics) == set(metrics.CHUNK_NAMES) | set(metrics.TRACE_NAMES)
    for name in metrics.CHUNK_NAMES:
        assert r.metrics[name].shape == (k,), name
    chunk_steps = stages.chunk_env_steps // SMALL.num_envs
    assert r.metrics["episode_done"].shape == (k, chunk_steps, 1)
    assert r.prefill_trace["episode_done"].shape == (SMALL.prefill_vector_steps, 1)
    assert int(r.metrics["env_step"][-1]) == stages.prefill_env_steps + k * stages.chunk_env_steps
    assert int(r.metrics["env_step"][-1]) <= SMALL.total_timesteps
    assert bool(jnp.all(jnp.isfinite(r.metrics["loss"])))
    assert not bool(jnp.any(r.metrics["nonfinite"]))
    assert bool(jnp.all(r.metrics["q_abs_max"] >= jnp.abs(r.metrics["q_mean"])))
    done = r.metrics["episode_done"]
    assert int(done.sum()) > 10 and int(r.metrics["episodes"].sum()) == int(done.sum())
    assert bool(jnp.all(jnp.where(done, r.metrics["episode_end_return"], 8.0) >= 8.0))


def test_stages_composed_by_hand_match_make_train():
    """init, prefill and train_chunk, each jitted on its own and called from Python, give the
    params of the one-program `make_train` (equal up to XLA's rounding of fused float ops,
    which may differ between one program and three; measured: well inside 1e-4 here)."""
    env, env_params = make_env(SMALL.env_id)
    stages = dqn.make_stages(SMALL, env, env_params, num_chunks=4)
    hp = SMALL.hparams()
    state = jax.jit(stages.init)(jax.random.key(5), hp)
    state, _ = jax.jit(stages.prefill)(state, hp)
    chunk = jax.jit(stages.train_chunk)
    losses = []
    for _ in range(stages.num_chunks):
        state, m = chunk(state, hp)
        losses.append(float(m["loss"]))
    whole = jax.jit(dqn.make_train(SMALL, env, env_params, num_chunks=4))(jax.random.key(5), hp)
    np.testing.assert_allclose(losses, whole.metrics["loss"], rtol=1e-4, atol=1e-4)
    for x, y in zip(jax.tree.leaves(state.policy_params), jax.tree.leaves(whole.params)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4)
    assert int(state.env_steps) == int(whole.state.env_steps)


def test_runner_equals_stages_by_hand_bitwise():
    """The chunk loop runs the same compiled stages: seed i of `runner.run_chunks` on one
    device equals the vmapped stages called by hand, bit for bit."""
    env, env_params = make_env(SMALL.env_id)
    stages = dqn.make_stages(SMALL, env, env_params, num_chunks=3)
    keys = parallel.seed_keys(0, 2)
    hp = _stack(SMALL.hparams(), 2)
    res = runner.run_chunks(stages, keys, hp, devices=1)
    state = jax.jit(jax.vmap(stages.init))(keys, hp)
    state, _ = jax.jit(jax.vmap(stages.prefill))(state, hp)
    for _ in range(stages.num_chunks):
        state, _ = jax.jit(jax.vmap(stages.train_chunk))(state, hp)
    for x, y in zip(jax.tree.leaves(state.policy_params), jax.tree.leaves(res.params)):
        np.testing.assert_array_equal(np.asarray(x), y)
    assert res.chunks["loss"].shape == (2, 3) and res.env_steps == int(state.env_steps[0])


def test_divergence_is_detected_per_seed():
    cfg = SMALL.replace(learning_rate=1e10, max_grad_norm=None)
    env, env_params = make_env(cfg.env_id)
    r = jax.jit(dqn.make_train(cfg, env, env_params))(jax.random.key(0))
    assert bool(r.metrics["nonfinite"][-1])
    assert 0 < int(r.state.diverged_at) <= cfg.total_timesteps
    ok = jax.jit(dqn.make_train(SMALL, env, env_params))(jax.random.key(0))
    assert int(ok.state.diverged_at) == -1


def test_same_seed_bit_identical_and_seeds_differ(small):
    a = small(jax.random.key(3), SMALL.hparams())
    b = small(jax.random.key(3), SMALL.hparams())
    c = small(jax.random.key(4), SMALL.hparams())
    for x, y in zip(jax.tree.leaves((a.params, a.metrics)), jax.tree.leaves((b.params, b.metrics))):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.params["params"]["q_head"]["kernel"],
                           c.params["params"]["q_head"]["kernel"])


def test_vmapped_seed_equals_single_run(small):
    env, env_params = make_env(SMALL.env_id)
    train = dqn.make_train(SMALL, env, env_params)
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(train))(keys, _stack(SMALL.hparams(), 3))
    for i in range(3):
        single = small(keys[i], SMALL.hparams())
        for x, y in zip(jax.tree.leaves(single.params), jax.tree.leaves(batched.params)):
            np.testing.assert_allclose(x, y[i], atol=1e-6, rtol=1e-6)


def test_grid_is_one_compile_and_hparams_do_not_retrace():
    env, env_params = make_env(SMALL.env_id)
    inner = dqn.make_train(SMALL, env, env_params)
    traces = []

    def train(key, hp):
        traces.append(1)  # runs only while tracing
        return inner(key, hp)

    grid = jax.jit(jax.vmap(train))
    lrs = jnp.array([3e-4, 1e-3, 3e-3, 1e-2])
    keys = jnp.tile(jax.random.split(jax.random.key(0), 4), (4,))  # 4 lrs x 4 seeds
    hp = _stack(SMALL.hparams(), 16).replace(learning_rate=jnp.repeat(lrs, 4))
    r = grid(keys, hp)
    assert r.metrics["loss"].shape[0] == 16 and len(traces) == 1
    r2 = grid(keys, hp.replace(learning_rate=jnp.repeat(lrs * 0.5, 4),
                               tau=jnp.full((16,), 0.05, jnp.float32),
                               gamma=jnp.full((16,), 0.9, jnp.float32)))
    assert len(traces) == 1 and grid._cache_size() == 1
    # the learning rate really is an input: different lrs, different params
    k = r.params["params"]["q_head"]["kernel"]
    assert not np.allclose(k[0], k[4])
    assert not np.allclose(k[0], r2.params["params"]["q_head"]["kernel"][0])


@pytest.mark.parametrize("changes, field", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2000, buffer_size=1000), "batch_size"),
    (dict(gamma=1.5), "gamma"),
    (dict(gamma=-0.1), "gamma"),
    (dict(tau=1.1), "tau"),
    (dict(tau=-0.5), "tau"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(target_update_period=0), "target_update_period"),
    (dict(train_frequency=0), "train_frequency"),
    (dict(num_envs=0), "num_envs"),
    (dict(total_timesteps=0), "total_timesteps"),
    (dict(learning_starts=-1), "learning_starts"),
    (dict(target_mode="sometimes"), "target_mode"),
    (dict(loss="l1"), "loss"),
    (dict(epsilon_schedule="cosine"), "epsilon_schedule"),
    (dict(env_id="Pong-v0"), "env_id"),
    (dict(env_id="Pendulum-v1"), "env_id"),
    (dict(total_timesteps=2.5), "total_timesteps"),
    (dict(num_envs=1.5), "num_envs"),
    (dict(layer_norm="no"), "layer_norm"),
    (dict(hidden_sizes=(64.7,)), "hidden_sizes"),
    (dict(double_q=1), "double_q"),
    (dict(total_timesteps=1_000, learning_starts=1_000), "total_timesteps"),
])
def test_bad_config_raises_before_compiling(changes, field):
    with pytest.raises(ValueError, match=field) as err:
        DQNConfig.cartpole(**changes)
    assert "allowed" in str(err.value)


def test_building_a_config_starts_no_jax_backend():
    code = ("from jax._src import xla_bridge; from rlax_lander.dqn.config import DQNConfig; "
            "DQNConfig.lunar_lander(); DQNConfig(env_id='Acrobot-v1'); "
            "assert not xla_bridge.backends_are_initialized(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_unknown_env_lists_allowed_ids():
    with pytest.raises(ValueError, match="CartPole-v1"):
        make_env("NoSuchEnv-v9")


def test_course_lab_preset():
    cfg = DQNConfig.course_lab()
    assert (cfg.gamma, cfg.learning_rate, cfg.batch_size, cfg.train_frequency) == (
        0.995, 1e-3, 64, 4)
    assert (cfg.tau, cfg.target_mode, cfg.buffer_size, cfg.hidden_sizes) == (
        1e-3, "soft", 100_000, (64, 64))
    assert cfg.epsilon_schedule == "per_episode" and cfg.epsilon_end == 0.01
    assert DQNConfig.from_dict(cfg.to_dict()) == cfg


def test_num_envs_counting():
    cfg = DQNConfig.cartpole(num_envs=8, train_frequency=4, total_timesteps=2_000,
                             learning_starts=100)
    assert (cfg.steps_per_iteration, cfg.updates_per_iteration) == (1, 2)
    assert cfg.prefill_vector_steps == 13
    env, env_params = make_env(cfg.env_id)
    r = jax.jit(dqn.make_train(cfg, env, env_params))(jax.random.key(0))
    assert r.metrics["episode_done"].shape[-1] == 8
    assert int(r.metrics["env_step"][-1]) <= cfg.total_timesteps


def test_cartpole_learns_small_budget():
    """100k env steps, one seed: greedy mean return >= 195 over 100 episodes. At 50k the
    result sat on the threshold and depended on the CPU (190.5 on an Intel Xeon, above 195 on
    an AMD EPYC: XLA's float reassociation differs, and training amplifies it); at 100k seeds
    0, 1 and 2 all scored 500 on the Xeon."""
    cfg = DQNConfig.cartpole(total_timesteps=100_000)
    env, env_params = make_env(cfg.env_id)
    r = jax.jit(dqn.make_train(cfg, env, env_params))(jax.random.key(0))
    net = dqn.build_network(cfg, env.action_space(env_params).n)
    ev = jax.jit(dqn.make_evaluate(env, env_params, net.apply, num_episodes=100))
    returns, lengths = ev(jax.random.key(123), r.params)
    assert returns.shape == (100,) and lengths.shape == (100,)
    assert float(returns.mean()) >= 195.0, float(returns.mean())


def test_n_step_dqn_runs_and_differs_from_one_step():
    """n_step=3 trains through `replay.sample_n_step` (same compile shape, other targets)."""
    env, env_params = make_env(SMALL.env_id)
    one = jax.jit(dqn.make_train(SMALL, env, env_params))(jax.random.key(2))
    three = jax.jit(dqn.make_train(SMALL.replace(n_step=3), env, env_params))(jax.random.key(2))
    assert bool(jnp.all(jnp.isfinite(three.metrics["loss"])))
    assert not np.allclose(one.metrics["loss"], three.metrics["loss"])
    # with the same keys the env data up to the first update are the same
    np.testing.assert_array_equal(one.prefill_trace["episode_done"],
                                  three.prefill_trace["episode_done"])


@pytest.mark.parametrize("changes", [dict(n_step=0), dict(n_step=1001, buffer_size=1000),
                                     dict(n_step=2.0)])
def test_bad_n_step_is_refused(changes):
    with pytest.raises(ValueError, match="n_step"):
        SMALL.replace(**changes)
