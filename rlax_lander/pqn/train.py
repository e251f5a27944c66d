"""PQN's training program as `rlax_lander.stages.Stages`: init, no prefill, train_chunk.

One iteration (all inside `lax.scan`s, no `lax.cond`):
1. rollout: `rollout_steps` vector steps of `num_envs` auto-resetting envs, actions
   epsilon-greedy in the online Q-values, epsilon linear in env steps;
2. targets: v_next = max_a Q(final observation) in one batched pass (the rollout's params),
   then Q(lambda) returns (`losses.rollout_targets`: terminations do not bootstrap,
   truncations bootstrap from `info["final_observation"]` and cut the trace);
3. `num_epochs` passes, each a fresh permutation of the rollout's `num_envs * rollout_steps`
   transitions split into `num_minibatches` gradient updates of
   `q_regression_loss(Q(s, a), G)`.
No target network, no replay buffer. One chunk is `num_iterations // num_chunks` iterations.

Usage: `jax.jit(jax.vmap(make_train(config, env, env_params)))(keys, hparams)` with keys
[S] and `PQNHparams` leaves [S] (one compile for a seed x hyperparameter grid).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlax_lander import metrics as metrics_lib
from rlax_lander import stages as stages_lib
from rlax_lander.dqn.exploration import epsilon_greedy, linear_epsilon
from rlax_lander.dqn.networks import QNetwork
from rlax_lander.pqn.config import PQNConfig, PQNHparams
from rlax_lander.pqn.losses import q_regression_loss, rollout_targets


@struct.dataclass
class TrainState:
    """Carry of PQN training (one seed).

    params, opt_state: online network and optimizer state; env_state, obs [n, *obs_shape]:
    the n envs; episode_return [n]: running undiscounted returns; key: PRNG key;
    env_steps, updates, episodes: int32 counters (env steps and episodes summed over envs,
    gradient updates).
    """

    params: chex.ArrayTree
    opt_state: chex.ArrayTree
    env_state: chex.ArrayTree
    obs: jnp.ndarray
    episode_return: jnp.ndarray
    key: jax.Array
    env_steps: jnp.ndarray
    updates: jnp.ndarray
    episodes: jnp.ndarray


def build_network(config: PQNConfig, num_actions: int) -> QNetwork:
    """The config's Q-network (MLP, LayerNorm when `config.layer_norm`)."""
    return QNetwork(num_actions=num_actions, hidden_sizes=config.hidden_sizes,
                    layer_norm=config.layer_norm)


def make_optimizer(config: PQNConfig) -> optax.GradientTransformation:
    """Clipping (if any), Adam/RAdam scaling and the annealing schedule, *without* the
    learning rate: the caller multiplies the returned updates by -learning_rate (a traced
    hyperparameter), so the transformation is built once per config. With `lr_anneal` the
    step size of update k (0-based) is lr * (1 - k / config.num_updates)."""
    parts = []
    if config.max_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(config.max_grad_norm))
    parts.append(optax.scale_by_radam() if config.optimizer == "radam" else optax.scale_by_adam())
    if config.lr_anneal:
        parts.append(optax.scale_by_schedule(
            optax.linear_schedule(1.0, 0.0, max(1, config.num_updates))))
    return optax.chain(*parts)


def _prep_hparams(config: PQNConfig, hparams):
    hp = config.hparams() if hparams is None else hparams
    if not isinstance(hp, PQNHparams):
        raise TypeError(f"hparams must be PQNHparams, got {type(hp).__name__}")
    hp = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hp)
    chex.assert_rank(jax.tree.leaves(hp), 0)
    return hp


def make_stages(config: PQNConfig, env, env_params, num_chunks: int = 20) -> stages_lib.Stages:
    """PQN's `Stages` for `config` on a gymnax-1.x `env` (discrete actions).

    num_chunks: static int >= 1 (fewer if the run has fewer iterations); each chunk runs
    `config.num_iterations // num_chunks` iterations, so a run does
    num_chunks * chunk_env_steps env steps (all of `config.total_timesteps` when the
    iterations divide evenly, else up to num_chunks - 1 iterations fewer).
    train_chunk's metrics: `metrics.CHUNK_NAMES` scalars and `metrics.TRACE_NAMES` arrays
    with L = iterations_per_chunk * rollout_steps vector steps.
    """
    if not isinstance(config, PQNConfig):
        raise TypeError(f"config must be a PQNConfig, got {type(config).__name__}")
    iters = config.num_iterations
    if not (isinstance(num_chunks, int) and not isinstance(num_chunks, bool) and num_chunks >= 1):
        raise ValueError(f"num_chunks={num_chunks!r} is out of range; allowed: an int >= 1")
    num_chunks = min(num_chunks, iters)
    iters_per_chunk = iters // num_chunks
    n, T = config.num_envs, config.rollout_steps
    M, B, E = config.num_minibatches, config.minibatch_size, config.num_epochs
    num_actions = env.action_space(env_params).n
    obs_shape = tuple(env.observation_space(env_params).shape)
    network = build_network(config, num_actions)
    apply = network.apply
    tx = make_optimizer(config)
    reset_fn = jax.vmap(env.reset, in_axes=(0, None))
    step_fn = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def epsilon(hp: PQNHparams, env_steps):
        return linear_epsilon(env_steps, hp.epsilon_start, hp.epsilon_end,
                              hp.epsilon_decay_steps)

    def init(key: jax.Array, hparams: PQNHparams | None = None) -> TrainState:
        _prep_hparams(config, hparams)
        k_net, k_reset, k_loop = jax.random.split(key, 3)
        obs, env_state = reset_fn(jax.random.split(k_reset, n), env_params)
        params = network.init(k_net, jnp.zeros(obs_shape, jnp.float32))
        return TrainState(
            params=params, opt_state=tx.init(params), env_state=env_state,
            obs=obs.astype(jnp.float32), episode_return=jnp.zeros((n,), jnp.float32),
            key=k_loop, env_steps=jnp.zeros((), jnp.int32), updates=jnp.zeros((), jnp.int32),
            episodes=jnp.zeros((), jnp.int32))

    def env_step(ts: TrainState, hp: PQNHparams):
        prev_obs = ts.obs
        key, k_act, k_env = jax.random.split(ts.key, 3)
        action = epsilon_greedy(k_act, apply(ts.params, ts.obs), epsilon(hp, ts.env_steps))
        obs, env_state, reward, terminated, truncated, info = step_fn(
            jax.random.split(k_env, n), ts.env_state, action, env_params)
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        ret = ts.episode_return + reward
        ts = ts.replace(env_state=env_state, obs=obs.astype(jnp.float32),
                        episode_return=jnp.where(done, 0.0, ret), key=key,
                        env_steps=ts.env_steps + n,
                        episodes=ts.episodes + done.sum(dtype=jnp.int32))
        transition = {"obs": prev_obs, "action": action, "reward": reward,
                      "terminated": terminated, "truncated": truncated,
                      "final_obs": info["final_observation"].astype(jnp.float32)}
        trace = {"step_env_step": ts.env_steps, "episode_done": done,
                 "episode_end_return": jnp.where(done, ret, 0.0)}
        return ts, (transition, trace)

    def minibatch_update(ts: TrainState, mb, hp: PQNHparams):
        def loss_fn(params):
            return q_regression_loss(apply(params, mb["obs"]), mb["action"], mb["target"],
                                     config.loss)

        (loss, q_taken), grads = jax.value_and_grad(loss_fn, has_aux=True)(ts.params)
        upd, opt_state = tx.update(grads, ts.opt_state, ts.params)
        upd = jax.tree.map(lambda u: -hp.learning_rate * u, upd)
        params = optax.apply_updates(ts.params, upd)
        return ts.replace(params=params, opt_state=opt_state, updates=ts.updates + 1), \
            (loss, q_taken)

    def epoch(ts: TrainState, batch, hp: PQNHparams):
        key, k_perm = jax.random.split(ts.key)
        perm = jax.random.permutation(k_perm, n * T)
        mbs = jax.tree.map(lambda x: x[perm].reshape((M, B) + x.shape[1:]), batch)
        return jax.lax.scan(lambda c, mb: minibatch_update(c, mb, hp), ts.replace(key=key), mbs)

    def iteration(ts: TrainState, hp: PQNHparams):
        ts, (tr, trace) = jax.lax.scan(lambda c, _: env_step(c, hp), ts, None, T)
        v_next = jnp.max(apply(ts.params, tr["final_obs"]), axis=-1)  # [T, n]
        target = rollout_targets(tr["reward"] * hp.reward_scale, tr["terminated"],
                                 tr["truncated"], v_next, hp.gamma, hp.lambda_)
        flat = lambda x: x.reshape((n * T,) + x.shape[2:])  # noqa: E731
        batch = {"obs": flat(tr["obs"]), "action": flat(tr["action"]), "target": flat(target)}
        ts, (loss, q_taken) = jax.lax.scan(lambda c, _: epoch(c, batch, hp), ts, None, E)
        return ts, (trace, loss, q_taken)

    def train_chunk(ts: TrainState, hparams: PQNHparams | None = None):
        hp = _prep_hparams(config, hparams)
        ts, (trace, loss, q_taken) = jax.lax.scan(lambda c, _: iteration(c, hp), ts, None,
                                                  iters_per_chunk)
        trace = jax.tree.map(lambda x: x.reshape((iters_per_chunk * T,) + x.shape[2:]), trace)
        loss = loss.reshape(-1)  # [U] = [iterations * epochs * minibatches]
        q_taken = q_taken.reshape(-1, B)
        nonfinite = jnp.logical_or(~jnp.all(jnp.isfinite(loss)),
                                   ~jnp.isfinite(optax.tree.norm(ts.params)))
        out = metrics_lib.chunk_summary(trace, loss, q_taken, epsilon(hp, ts.env_steps),
                                        nonfinite)
        out.update(trace)
        return ts, out

    return stages_lib.Stages(init=init, prefill=None, train_chunk=train_chunk,
                             num_chunks=num_chunks,
                             chunk_env_steps=iters_per_chunk * config.iteration_env_steps,
                             prefill_env_steps=0)


def make_train(config: PQNConfig, env, env_params, num_chunks: int = 20):
    """`train(key, hparams) -> stages.TrainResult`: `stages.compose(make_stages(...))`.

    `result.metrics` holds the chunk metrics stacked over chunks ([num_chunks] scalars,
    [num_chunks, L(, n)] traces); `result.params` the final online params.
    """
    return stages_lib.compose(make_stages(config, env, env_params, num_chunks))
