"""The gymnax 0.x five-value step wrapper, and the two best-known JAX clients running on it.

rejax's DQN runs itself (rejax is a test-only dependency, in the ``dev`` extra); PureJaxRL is a
collection of single-file scripts, not a package, so its ``dqn.py`` calling pattern is reproduced
here: ``LogWrapper`` unpacking the five values, reset and step vmapped over envs inside a
``lax.scan`` of updates, epsilon-greedy Q-learning from a replay buffer (a plain ring buffer in
place of flashbax), metrics read from ``info``.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import struct

from rlax_lander.interop.gymnax_legacy import GymnaxLegacy, make_legacy


@pytest.fixture(scope="module")
def legacy():
    return make_legacy("LunarLander-v3", max_steps_in_episode=6)


def test_five_value_step_counts_truncation_as_done(legacy):
    env, params = legacy
    assert isinstance(env, GymnaxLegacy)
    assert env.num_actions == 4 and env.name == "LunarLander-v3"
    assert env.action_space(params).n == 4 and env.observation_space(params).shape == (8,)
    key = jax.random.PRNGKey(0)
    obs, state = env.reset(key, params)
    dones, truncs, terms, discounts = [], [], [], []
    for i in range(6):
        out = env.step(jax.random.fold_in(key, i), state, 0, params)
        assert len(out) == 5
        obs, state, reward, done, info = out
        dones.append(bool(done))
        terms.append(bool(info["terminated"]))
        truncs.append(bool(info["truncated"]))
        discounts.append(float(info["discount"]))
    # Six no-op steps: no landing or crash yet, the 6-step limit truncates and the env auto-resets.
    assert dones == truncs == [False] * 5 + [True] and not any(terms)
    assert discounts == [1.0] * 5 + [0.0]  # gymnax 0.x's value: wrong for bootstrapping (see README)
    assert int(state.time) == 0 and obs.shape == (8,)
    assert np.all(np.isfinite(np.asarray(info["final_observation"])))


# ---- PureJaxRL dqn.py's calling pattern -------------------------------------------------------


@struct.dataclass
class LogEnvState:
    env_state: Any
    episode_returns: jax.Array
    episode_lengths: jax.Array
    returned_episode_returns: jax.Array
    returned_episode_lengths: jax.Array


class LogWrapper:
    """PureJaxRL's ``LogWrapper`` calling pattern: unpacks gymnax 0.x's five-value step."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def reset(self, key, params=None):
        obs, env_state = self._env.reset(key, params)
        return obs, LogEnvState(env_state, 0.0, 0, 0.0, 0)

    def step(self, key, state, action, params=None):
        obs, env_state, reward, done, info = self._env.step(key, state.env_state, action, params)
        ret = state.episode_returns + reward
        length = state.episode_lengths + 1
        state = LogEnvState(
            env_state=env_state,
            episode_returns=ret * (1 - done),
            episode_lengths=length * (1 - done),
            returned_episode_returns=state.returned_episode_returns * (1 - done) + ret * done,
            returned_episode_lengths=state.returned_episode_lengths * (1 - done) + length * done,
        )
        info = {
            **info,
            "returned_episode_returns": state.returned_episode_returns,
            "returned_episode_lengths": state.returned_episode_lengths,
            "returned_episode": done,
        }
        return obs, state, reward, done, info


class QNetwork(nn.Module):
    action_dim: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(64)(x))
        x = nn.relu(nn.Dense(64)(x))
        return nn.Dense(self.action_dim)(x)


def make_train(config, env, env_params):
    """A short DQN in PureJaxRL dqn.py's shape (its config names; a ring buffer for flashbax)."""
    n, size = config["NUM_ENVS"], config["BUFFER_SIZE"]
    vmap_reset = lambda rng: jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(rng, n), env_params)
    vmap_step = lambda rng, env_state, action: jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        jax.random.split(rng, n), env_state, action, env_params
    )
    network = QNetwork(env.action_space(env_params).n)
    tx = optax.adam(config["LR"])

    def train(rng):
        rng, _rng = jax.random.split(rng)
        obs, env_state = vmap_reset(_rng)
        rng, _rng = jax.random.split(rng)
        params = network.init(_rng, jnp.zeros(env.observation_space(env_params).shape))
        buffer = dict(
            obs=jnp.zeros((size, 8)), action=jnp.zeros(size, jnp.int32), reward=jnp.zeros(size),
            next_obs=jnp.zeros((size, 8)), done=jnp.zeros(size),
        )
        runner_state = (params, params, tx.init(params), buffer, env_state, obs, 0, rng)

        def _update_step(runner_state, unused):
            params, target, opt_state, buffer, env_state, last_obs, t, rng = runner_state
            rng, rng_a, rng_e, rng_s = jax.random.split(rng, 4)
            eps = jnp.maximum(config["EPSILON_FINISH"], 1.0 - t / config["EPSILON_ANNEAL_TIME"])
            greedy = jnp.argmax(network.apply(params, last_obs), -1)
            random = jax.random.randint(rng_a, (n,), 0, 4)
            action = jnp.where(jax.random.uniform(rng_e, (n,)) < eps, random, greedy)
            obs, env_state, reward, done, info = vmap_step(rng_s, env_state, action)
            idx = (t // n * n + jnp.arange(n)) % size
            done_f = done.astype(jnp.float32)
            new = dict(obs=last_obs, action=action, reward=reward, next_obs=obs, done=done_f)
            buffer = jax.tree.map(lambda b, x: b.at[idx].set(x), buffer, new)
            t = t + n

            def _learn(args):
                params, opt_state, rng = args
                batch_idx = jax.random.randint(rng, (config["BATCH_SIZE"],), 0, jnp.minimum(t, size))
                batch = jax.tree.map(lambda b: b[batch_idx], buffer)
                q_next = jnp.max(network.apply(target, batch["next_obs"]), -1)
                y = batch["reward"] + config["GAMMA"] * (1 - batch["done"]) * q_next

                def loss_fn(p):
                    q = jnp.take_along_axis(network.apply(p, batch["obs"]), batch["action"][:, None], 1)[:, 0]
                    return jnp.mean((q - y) ** 2)

                loss, grads = jax.value_and_grad(loss_fn)(params)
                updates, opt_state = tx.update(grads, opt_state)
                return optax.apply_updates(params, updates), opt_state, loss

            rng, rng_l = jax.random.split(rng)
            params, opt_state, loss = jax.lax.cond(
                t > config["LEARNING_STARTS"], _learn,
                lambda args: (args[0], args[1], jnp.float32(0.0)), (params, opt_state, rng_l),
            )
            target = jax.lax.cond(
                t % config["TARGET_UPDATE_INTERVAL"] == 0, lambda: params, lambda: target
            )
            metrics = {
                "loss": loss,
                "returned_episode_returns": info["returned_episode_returns"],
                "returned_episode": info["returned_episode"],
                "reward": reward,
            }
            return (params, target, opt_state, buffer, env_state, obs, t, rng), metrics

        return jax.lax.scan(_update_step, runner_state, None, config["NUM_UPDATES"])

    return train


def test_purejaxrl_dqn_pattern_trains_on_the_legacy_step():
    basic_env, env_params = make_legacy("LunarLander-v3", max_steps_in_episode=80)  # ends by both
    env = LogWrapper(basic_env)
    config = dict(
        NUM_ENVS=4, BUFFER_SIZE=1024, NUM_UPDATES=160, LR=1e-3, GAMMA=0.99, BATCH_SIZE=32,
        EPSILON_FINISH=0.05, EPSILON_ANNEAL_TIME=256, LEARNING_STARTS=64, TARGET_UPDATE_INTERVAL=64,
    )
    _, metrics = jax.jit(make_train(config, env, env_params))(jax.random.PRNGKey(0))
    metrics = jax.device_get(metrics)
    loss = metrics["loss"]
    assert np.all(np.isfinite(loss)) and np.any(loss > 0)
    ended = metrics["returned_episode"]
    assert ended.sum() >= 4  # every env truncated at least once
    # LogWrapper's returned returns equal the rewards summed over each finished episode.
    rewards, ret = metrics["reward"], np.zeros(config["NUM_ENVS"])
    for r, done, logged in zip(rewards, ended, metrics["returned_episode_returns"]):
        ret += r
        np.testing.assert_allclose(logged[done], ret[done], rtol=1e-4, atol=1e-3)
        ret[done] = 0.0


def test_rejax_dqn_trains_on_the_legacy_step_vmapped_over_seeds():
    rejax = pytest.importorskip("rejax")  # in the dev extra
    from rejax.evaluate import evaluate

    env, env_params = make_legacy("LunarLander-v3")
    algo = rejax.DQN.create(
        env=env, env_params=env_params, num_envs=4, total_timesteps=512, eval_freq=256,
        fill_buffer=64, batch_size=32, buffer_size=1024, learning_rate=1e-3,
        skip_initial_evaluation=True,
    )

    def short_eval(algo, ts, rng):  # rejax's own evaluation, 2 episodes of at most 50 steps
        return evaluate(algo.make_act(ts), rng, env, env_params, 2, 50)

    algo = algo.replace(eval_callback=short_eval)
    train = jax.jit(jax.vmap(algo.train))
    ts, (lengths, returns) = train(jax.random.split(jax.random.PRNGKey(0), 4))
    assert np.asarray(ts.global_step).tolist() == [512] * 4
    lengths, returns = np.asarray(lengths), np.asarray(returns)
    assert lengths.shape == returns.shape == (4, 2, 2)  # seeds x evaluations x episodes
    assert np.all((lengths >= 1) & (lengths <= 50)) and np.all(np.isfinite(returns))
