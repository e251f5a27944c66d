"""The compiled training program: determinism, vmap equivalence, one compile per grid,
input validation, and a small CartPole run that must learn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlax_lander import dqn
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
    steps = SMALL.prefill_vector_steps + SMALL.num_iterations * SMALL.steps_per_iteration
    assert r.metrics["episode_return"].shape == (steps, 1)
    assert r.metrics["loss"].shape == (SMALL.num_iterations,)
    assert int(r.metrics["env_step"][-1]) == SMALL.total_timesteps
    assert bool(jnp.all(jnp.isfinite(r.metrics["loss"])))
    done = r.metrics["episode_done"]
    assert int(done.sum()) > 10
    assert bool(jnp.all(jnp.where(done, r.metrics["episode_return"], 8.0) >= 8.0))


def test_same_seed_bit_identical_and_seeds_differ(small):
    a = small(jax.random.key(3), SMALL.hparams())
    b = small(jax.random.key(3), SMALL.hparams())
    c = small(jax.random.key(4), SMALL.hparams())
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
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
])
def test_bad_config_raises_before_compiling(changes, field):
    with pytest.raises(ValueError, match=field) as err:
        DQNConfig.cartpole(**changes)
    assert "allowed" in str(err.value)


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
    assert r.metrics["episode_return"].shape[1] == 8
    assert int(r.metrics["env_step"][-1]) <= cfg.total_timesteps


def test_cartpole_learns_small_budget():
    """50k env steps, one seed: greedy mean return >= 195 over 100 episodes."""
    cfg = DQNConfig.cartpole(total_timesteps=50_000)
    env, env_params = make_env(cfg.env_id)
    r = jax.jit(dqn.make_train(cfg, env, env_params))(jax.random.key(0))
    net = dqn.build_network(cfg, env.action_space(env_params).n)
    ev = jax.jit(dqn.make_evaluate(env, env_params, net.apply, num_episodes=100))
    returns, lengths = ev(jax.random.key(123), r.params)
    assert returns.shape == (100,) and lengths.shape == (100,)
    assert float(returns.mean()) >= 195.0, float(returns.mean())
