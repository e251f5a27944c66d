"""DQN as pure stages: `make_stages(config, env, env_params) -> Stages(init, prefill,
train_chunk)`, and `make_train`, their composition into one compiled program.

- `init(key, hparams) -> TrainState`: network and optimizer init, env reset; no env steps.
- `prefill(state, hparams) -> (state, trace)`: `config.prefill_vector_steps` epsilon-greedy
  vector steps into the replay buffer, no updates.
- `train_chunk(state, hparams) -> (state, metrics)`: `chunk_iterations` training iterations.
  An iteration is `config.steps_per_iteration` vector steps of `num_envs` auto-resetting envs,
  then `config.updates_per_iteration` gradient updates, each followed by the target update.
  Metrics: `rlax_lander.metrics.CHUNK_METRICS` scalars plus the chunk's episode trace.

There is no `lax.cond` in the loop, so `jax.vmap` over seeds and hyperparameters wastes no
branches: `jax.jit(jax.vmap(train))(keys, hparams)` with keys [S] and `Hparams` leaves [S].
A run has `num_chunks` equal chunks; iterations left over after the last whole chunk are not
run (`Stages.chunk_env_steps` and the state's `env_steps` say what was).
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlax_lander import metrics as M
from rlax_lander.dqn import exploration, losses, replay, targets
from rlax_lander.dqn.config import DQNConfig, Hparams
from rlax_lander.dqn.networks import QNetwork
from rlax_lander.stages import Stages, TrainResult, compose

__all__ = ["TrainResult", "TrainState", "build_network", "make_optimizer", "make_stages",
           "make_train"]


@struct.dataclass
class TrainState:
    """Everything one seed's training carries between stages.

    obs [num_envs, *obs_shape]; episode_return [num_envs] running undiscounted returns;
    env_steps, updates, episodes: int32 counters (episodes summed over envs);
    diverged_at: int32 env step after which a loss or a parameter was first non-finite
    (-1 while everything is finite). policy_params: the Polyak average (`Hparams.policy_tau`)
    of the online params, which is the trained policy.
    """

    params: chex.ArrayTree
    target_params: chex.ArrayTree
    policy_params: chex.ArrayTree
    opt_state: chex.ArrayTree
    buffer: replay.ReplayState
    env_state: chex.ArrayTree
    obs: jnp.ndarray
    episode_return: jnp.ndarray
    key: jax.Array
    env_steps: jnp.ndarray
    updates: jnp.ndarray
    episodes: jnp.ndarray
    diverged_at: jnp.ndarray


def build_network(config: DQNConfig, num_actions: int) -> QNetwork:
    """The config's Q-network for `num_actions` actions."""
    return QNetwork(num_actions=num_actions, hidden_sizes=config.hidden_sizes,
                    dueling=config.dueling, layer_norm=config.layer_norm)


def make_optimizer(max_grad_norm: float | None) -> optax.GradientTransformation:
    """Adam's direction (optionally after global-norm clipping), without the step size: the
    step size is an `Hparams` input, times the schedule of `learning_rate_scale`."""
    adam = optax.scale_by_adam()
    return adam if max_grad_norm is None else optax.chain(
        optax.clip_by_global_norm(max_grad_norm), adam)


def learning_rate_scale(config: DQNConfig, total_updates: int) -> optax.Schedule:
    """Multiplier of the learning rate per update count: linear 1 -> 0 over the run with
    `lr_anneal`, else 1."""
    if config.lr_anneal:
        return optax.linear_schedule(1.0, 0.0, max(1, total_updates))
    return optax.constant_schedule(1.0)


def _as_hparams(config: DQNConfig, hparams: Hparams | None) -> Hparams:
    hp = config.hparams() if hparams is None else hparams
    hp = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hp)
    chex.assert_rank(jax.tree.leaves(hp), 0)
    return hp


def _all_finite(tree) -> jnp.ndarray:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def make_stages(config: DQNConfig, env, env_params, num_chunks: int = 20) -> Stages:
    """The pure stages of a DQN run of `config` on `env` (see the module docstring).

    num_chunks: how many equal chunks the run's training iterations are cut into (fewer if
    the run has fewer iterations); chunks are the unit of progress reports and checkpoints.
    """
    n = config.num_envs
    num_actions = env.action_space(env_params).n
    obs_shape = tuple(env.observation_space(env_params).shape)
    network = build_network(config, num_actions)
    optimizer = make_optimizer(config.max_grad_norm)
    k_steps, k_updates = config.steps_per_iteration, config.updates_per_iteration
    num_chunks = max(1, min(int(num_chunks), config.num_iterations))
    chunk_len = config.num_iterations // num_chunks
    lr_scale = learning_rate_scale(config, config.num_iterations * k_updates)
    reset_fn = jax.vmap(env.reset, in_axes=(0, None))
    step_fn = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    apply = network.apply

    def init(key: jax.Array, hparams: Hparams | None = None) -> TrainState:
        del hparams  # the initial state does not depend on them
        k_net, k_reset, k_loop = jax.random.split(key, 3)
        obs, env_state = reset_fn(jax.random.split(k_reset, n), env_params)
        params = network.init(k_net, jnp.zeros(obs_shape, jnp.float32))
        zero = jnp.zeros((), jnp.int32)
        return TrainState(
            params=params, target_params=params, policy_params=params,
            opt_state=optimizer.init(params),
            buffer=replay.init(config.buffer_size, obs_shape), env_state=env_state,
            obs=obs.astype(jnp.float32), episode_return=jnp.zeros((n,), jnp.float32),
            key=k_loop, env_steps=zero, updates=zero, episodes=zero, diverged_at=zero - 1)

    def env_step(ts: TrainState, hp: Hparams):
        key, k_act, k_env = jax.random.split(ts.key, 3)
        eps = exploration.epsilon_at(config.epsilon_schedule, hp, ts.env_steps,
                                     ts.episodes.astype(jnp.float32) / n)
        action = exploration.epsilon_greedy(k_act, apply(ts.params, ts.obs), eps)
        obs, env_state, reward, terminated, truncated, info = step_fn(
            jax.random.split(k_env, n), ts.env_state, action, env_params)
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        trans = replay.Transition(obs=ts.obs, action=action, reward=reward,
                                  next_obs=info["final_observation"],
                                  terminated=terminated.astype(jnp.float32),
                                  done=done.astype(jnp.float32))
        ret = ts.episode_return + reward
        ts = ts.replace(
            buffer=replay.add(ts.buffer, trans), env_state=env_state, obs=obs,
            episode_return=jnp.where(done, 0.0, ret), key=key, env_steps=ts.env_steps + n,
            episodes=ts.episodes + done.sum(dtype=jnp.int32))
        trace = {"step_env_step": ts.env_steps, "episode_done": done,
                 "episode_end_return": jnp.where(done, ret, 0.0)}
        return ts, (trace, eps)

    def sample(buffer, key, gamma):
        """(obs, action, reward, discount, next_obs) of a batch: one-step transitions, or
        n-step windows whose reward and discount already fold in gamma."""
        if config.n_step == 1:
            b = replay.sample(buffer, key, config.batch_size)
            return b.obs, b.action, b.reward, gamma * (1.0 - b.terminated), b.next_obs
        b = replay.sample_n_step(buffer, key, config.batch_size, config.n_step, n, gamma)
        return b.obs, b.action, b.reward, b.discount, b.next_obs

    def loss_fn(params, target_params, batch):
        obs, action, reward, discount, next_obs = batch
        q_tm1 = apply(params, obs)
        q_t = apply(target_params, next_obs)
        if config.double_q:
            q_t_online = jax.lax.stop_gradient(apply(params, next_obs))
            return losses.double_q_learning_loss(q_tm1, action, reward, discount,
                                                 q_t, q_t_online, loss=config.loss)
        return losses.q_learning_loss(q_tm1, action, reward, discount, q_t, loss=config.loss)

    def update(ts: TrainState, hp: Hparams):
        key, k_sample = jax.random.split(ts.key)
        batch = sample(ts.buffer, k_sample, hp.gamma)
        target_params = jax.lax.stop_gradient(
            ts.params if config.target_mode == "none" else ts.target_params)
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            ts.params, target_params, batch)
        direction, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
        step_size = -(hp.learning_rate * lr_scale(ts.updates))
        params = optax.apply_updates(ts.params, jax.tree.map(lambda d: step_size * d, direction))
        updates = ts.updates + 1
        target = targets.update_target(config.target_mode, params, ts.target_params, updates,
                                       hp.target_update_period, hp.tau)
        first_bad = (ts.diverged_at < 0) & ~jnp.isfinite(loss)
        policy = targets.polyak_update(params, ts.policy_params, hp.policy_tau)
        ts = ts.replace(params=params, target_params=target, policy_params=policy,
                        opt_state=opt_state, key=key, updates=updates,
                        diverged_at=jnp.where(first_bad, ts.env_steps, ts.diverged_at))
        return ts, (loss, aux["q_taken"])

    def iteration(ts: TrainState, hp: Hparams):
        ts, (trace, eps) = jax.lax.scan(lambda c, _: env_step(c, hp), ts, None, k_steps)
        ts, (loss, q_taken) = jax.lax.scan(lambda c, _: update(c, hp), ts, None, k_updates)
        return ts, (trace, eps[-1], loss, q_taken)

    def prefill(ts: TrainState, hparams: Hparams | None = None):
        hp = _as_hparams(config, hparams)
        ts, (trace, _) = jax.lax.scan(lambda c, _: env_step(c, hp), ts, None,
                                      config.prefill_vector_steps)
        return ts, trace

    def train_chunk(ts: TrainState, hparams: Hparams | None = None):
        hp = _as_hparams(config, hparams)
        ts, (trace, eps, loss, q_taken) = jax.lax.scan(lambda c, _: iteration(c, hp), ts, None,
                                                       chunk_len)
        flat = lambda x: x.reshape((-1,) + x.shape[2:])
        trace = jax.tree.map(flat, trace)
        params_ok = _all_finite(ts.params)
        ts = ts.replace(diverged_at=jnp.where((ts.diverged_at < 0) & ~params_ok, ts.env_steps,
                                              ts.diverged_at))
        summary = M.chunk_summary(trace, loss, q_taken, eps[-1], ts.diverged_at >= 0)
        return ts, {**summary, **trace}

    return Stages(init=init, prefill=prefill, train_chunk=train_chunk, num_chunks=num_chunks,
                  chunk_env_steps=chunk_len * k_steps * n,
                  prefill_env_steps=config.prefill_vector_steps * n)


def make_train(config: DQNConfig, env, env_params, num_chunks: int = 20
               ) -> Callable[[jax.Array, Hparams | None], TrainResult]:
    """`train(key, hparams=None) -> TrainResult`: init, prefill and every chunk of
    `make_stages(config, env, env_params, num_chunks)` as one program (jit / vmap it).

    `TrainResult.metrics` holds each chunk's metrics stacked on a leading [num_chunks] axis;
    `TrainResult.prefill_trace` the prefill's episode trace; `.params` the online params.
    """
    stages = make_stages(config, env, env_params, num_chunks)
    train = compose(stages)

    def train_dqn(key: jax.Array, hparams: Hparams | None = None) -> TrainResult:
        return train(key, _as_hparams(config, hparams))

    return train_dqn
