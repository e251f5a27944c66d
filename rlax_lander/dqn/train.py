"""`make_train(config, env, env_params) -> train(key, hparams) -> TrainResult`, and
`make_train_segments` (the same run cut into resumable segments, for checkpoints).

One compiled program per config: a prefill scan (no updates until `learning_starts`), then an
outer `lax.scan` over chunks of an inner `lax.scan` over training iterations (chunks exist only
so progress can be reported). An iteration is `config.steps_per_iteration` vector steps of
`num_envs` auto-resetting envs followed by `config.updates_per_iteration` gradient updates,
each followed by the target update. There is no `lax.cond` in the loop, so `jax.vmap` over
seeds and hyperparameters costs no wasted branches.

Usage: `jax.jit(jax.vmap(train))(keys, hparams)` with `keys` [S, 2]-shaped keys and an
`Hparams` whose leaves have a leading axis [S]; shapes (widths, batch, buffer, num_envs) are
static and come from the config. Env steps beyond prefill + whole iterations are not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlax_lander.dqn import exploration, losses, replay, targets
from rlax_lander.dqn.config import DQNConfig, Hparams
from rlax_lander.dqn.networks import QNetwork


@struct.dataclass
class TrainState:
    """Carry of the training scan (one seed).

    obs [num_envs, *obs_shape]; episode_return [num_envs] running undiscounted returns;
    env_steps, updates, episodes: int32 counters (episodes summed over envs).
    """

    params: chex.ArrayTree
    target_params: chex.ArrayTree
    opt_state: chex.ArrayTree
    buffer: replay.ReplayState
    env_state: chex.ArrayTree
    obs: jnp.ndarray
    episode_return: jnp.ndarray
    key: jax.Array
    env_steps: jnp.ndarray
    updates: jnp.ndarray
    episodes: jnp.ndarray


@struct.dataclass
class TrainResult:
    """Output of `train`.

    metrics (S = total vector steps, I = training iterations, n = num_envs):
      env_step [S] int32 env steps done after each vector step;
      episode_return [S, n] return of the episode that ended at that step (0 elsewhere);
      episode_done [S, n] bool; epsilon [S];
      loss [I], q_mean [I] (mean over the iteration's updates); update_env_step [I].
    """

    params: chex.ArrayTree
    target_params: chex.ArrayTree
    metrics: dict


class _Built(NamedTuple):
    network: QNetwork
    optimizer: optax.GradientTransformation


def build_network(config: DQNConfig, num_actions: int) -> QNetwork:
    """The config's Q-network for `num_actions` actions."""
    return QNetwork(num_actions=num_actions, hidden_sizes=config.hidden_sizes,
                    dueling=config.dueling, layer_norm=config.layer_norm)


def _make_optimizer(max_grad_norm):
    def make(learning_rate):
        adam = optax.adam(learning_rate)
        if max_grad_norm is None:
            return adam
        return optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)

    return optax.inject_hyperparams(make)


def _print_progress(chunk, num_chunks, env_steps, total, mean_return, t0):
    print(f"  [{int(chunk) + 1:>3}/{num_chunks}] env steps {int(env_steps):>9,}/{total:,}  "
          f"recent return {float(mean_return):8.1f}  ({time.time() - t0[0]:.0f}s)", flush=True)


def _make_pieces(config: DQNConfig, env, env_params, progress: bool, num_chunks: int,
                 progress_fn: Callable | None):
    n = config.num_envs
    num_actions = env.action_space(env_params).n
    obs_shape = tuple(env.observation_space(env_params).shape)
    network = build_network(config, num_actions)
    make_opt = _make_optimizer(config.max_grad_norm)
    k_steps, k_updates = config.steps_per_iteration, config.updates_per_iteration
    num_iters = config.num_iterations
    chunk_len = max(1, num_iters // max(1, num_chunks))
    n_chunks, tail = divmod(num_iters, chunk_len)
    total_updates = max(1, num_iters * k_updates)
    reset_fn = jax.vmap(env.reset, in_axes=(0, None))
    step_fn = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    apply = network.apply

    t0 = [time.time()]
    last_chunk = [-1]

    def report(chunk, env_steps, mean_return):
        chunk = int(chunk)
        if chunk == last_chunk[0]:  # vmapped seeds call back once each: print once
            return
        last_chunk[0] = chunk
        if chunk == 0:
            t0[0] = time.time()
        if progress_fn is not None:
            progress_fn(chunk, int(env_steps), float(mean_return))
        else:
            _print_progress(chunk, n_chunks, env_steps, config.total_timesteps, mean_return, t0)

    def env_step(ts: TrainState, hp: Hparams):
        key, k_act, k_env = jax.random.split(ts.key, 3)
        eps = exploration.epsilon_at(config.epsilon_schedule, hp, ts.env_steps,
                                     ts.episodes.astype(jnp.float32) / n)
        action = exploration.epsilon_greedy(k_act, apply(ts.params, ts.obs), eps)
        obs, env_state, reward, terminated, truncated, info = step_fn(
            jax.random.split(k_env, n), ts.env_state, action, env_params)
        reward = reward.astype(jnp.float32)
        trans = replay.Transition(obs=ts.obs, action=action, reward=reward,
                                  next_obs=info["final_observation"],
                                  terminated=terminated.astype(jnp.float32))
        done = jnp.logical_or(terminated, truncated)
        ret = ts.episode_return + reward
        ts = ts.replace(
            buffer=replay.add(ts.buffer, trans), env_state=env_state, obs=obs,
            episode_return=jnp.where(done, 0.0, ret), key=key, env_steps=ts.env_steps + n,
            episodes=ts.episodes + done.sum(dtype=jnp.int32))
        metrics = {"env_step": ts.env_steps, "episode_return": jnp.where(done, ret, 0.0),
                   "episode_done": done, "epsilon": eps}
        return ts, metrics

    def loss_fn(params, target_params, batch: replay.Transition, gamma):
        q_tm1 = apply(params, batch.obs)
        q_t = apply(target_params, batch.next_obs)
        discount = gamma * (1.0 - batch.terminated)
        if config.double_q:
            q_t_online = jax.lax.stop_gradient(apply(params, batch.next_obs))
            return losses.double_q_learning_loss(q_tm1, batch.action, batch.reward, discount,
                                                 q_t, q_t_online, loss=config.loss)
        return losses.q_learning_loss(q_tm1, batch.action, batch.reward, discount, q_t,
                                      loss=config.loss)

    def update(ts: TrainState, hp: Hparams):
        key, k_sample = jax.random.split(ts.key)
        batch = replay.sample(ts.buffer, k_sample, config.batch_size)
        target_params = jax.lax.stop_gradient(
            ts.params if config.target_mode == "none" else ts.target_params)
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            ts.params, target_params, batch, hp.gamma)
        lr = hp.learning_rate
        if config.lr_anneal:  # linear decay to 0 over the run's updates
            lr = lr * (1.0 - ts.updates.astype(jnp.float32) / total_updates)
        opt_state = ts.opt_state._replace(
            hyperparams={**ts.opt_state.hyperparams, "learning_rate": lr})
        upd, opt_state = make_opt(learning_rate=hp.learning_rate).update(
            grads, opt_state, ts.params)
        params = optax.apply_updates(ts.params, upd)
        updates = ts.updates + 1
        target = targets.update_target(config.target_mode, params, ts.target_params, updates,
                                       hp.target_update_period, hp.tau)
        ts = ts.replace(params=params, target_params=target, opt_state=opt_state, key=key,
                        updates=updates)
        return ts, (loss, aux["q_mean"])

    def iteration(ts: TrainState, hp: Hparams):
        ts, step_metrics = jax.lax.scan(lambda c, _: env_step(c, hp), ts, None, k_steps)
        ts, (loss, q_mean) = jax.lax.scan(lambda c, _: update(c, hp), ts, None, k_updates)
        it_metrics = {"loss": loss.mean(), "q_mean": q_mean.mean(),
                      "update_env_step": ts.env_steps}
        return ts, (step_metrics, it_metrics)

    def run_iters(ts, hp, length):
        ts, (sm, im) = jax.lax.scan(lambda c, _: iteration(c, hp), ts, None, length)
        sm = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), sm)  # [L*k, ...]
        return ts, sm, im

    def chunk(ts, hp):
        idx = ts.updates // (chunk_len * k_updates)  # chunk number, from the state itself
        ts, sm, im = run_iters(ts, hp, chunk_len)
        if progress:
            n_done = sm["episode_done"].sum()
            mean_ret = sm["episode_return"].sum() / jnp.maximum(n_done, 1)
            jax.debug.callback(report, idx, ts.env_steps, mean_ret)
        return ts, (sm, im)

    def prep_hparams(hparams):
        hp = config.hparams() if hparams is None else hparams
        hp = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hp)
        chex.assert_rank(jax.tree.leaves(hp), 0)
        return hp

    def init(key: jax.Array, hparams: Hparams | None = None) -> TrainState:
        hp = prep_hparams(hparams)
        k_net, k_reset, k_loop = jax.random.split(key, 3)
        obs, env_state = reset_fn(jax.random.split(k_reset, n), env_params)
        params = network.init(k_net, jnp.zeros(obs_shape, jnp.float32))
        return TrainState(
            params=params, target_params=params,
            opt_state=make_opt(learning_rate=hp.learning_rate).init(params),
            buffer=replay.init(config.buffer_size, obs_shape), env_state=env_state,
            obs=obs.astype(jnp.float32), episode_return=jnp.zeros((n,), jnp.float32),
            key=k_loop, env_steps=jnp.zeros((), jnp.int32), updates=jnp.zeros((), jnp.int32),
            episodes=jnp.zeros((), jnp.int32))

    num_units = 1 + n_chunks + (1 if tail else 0)

    def run_segment(ts: TrainState, hparams: Hparams | None, start: int, stop: int):
        if not 0 <= start <= stop <= num_units:
            raise ValueError(f"segment [{start}, {stop}) is out of range; allowed: "
                             f"0 <= start <= stop <= {num_units}")
        hp = prep_hparams(hparams)
        parts_s, parts_i = [], []
        if start == 0:
            ts, prefill = jax.lax.scan(lambda c, _: env_step(c, hp), ts, None,
                                       config.prefill_vector_steps)
            parts_s.append(prefill)
        c0, c1 = max(start, 1), min(stop, 1 + n_chunks)
        if c1 > c0:
            ts, (sm, im) = jax.lax.scan(lambda c, _: chunk(c, hp), ts, None, c1 - c0)
            flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
            parts_s.append(jax.tree.map(flat, sm))
            parts_i.append(jax.tree.map(flat, im))
        if tail and start <= num_units - 1 < stop:
            ts, sm, im = run_iters(ts, hp, tail)
            parts_s.append(sm)
            parts_i.append(im)
        if not parts_s:
            parts_s.append({"env_step": jnp.zeros((0,), jnp.int32),
                            "episode_return": jnp.zeros((0, n), jnp.float32),
                            "episode_done": jnp.zeros((0, n), bool),
                            "epsilon": jnp.zeros((0,), jnp.float32)})
        metrics = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts_s)
        if parts_i:
            metrics.update(jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts_i))
        else:
            metrics.update({"loss": jnp.zeros((0,)), "q_mean": jnp.zeros((0,)),
                            "update_env_step": jnp.zeros((0,), jnp.int32)})
        return ts, metrics

    unit_sizes = ((config.prefill_vector_steps, 0),) + ((chunk_len * k_steps, chunk_len),) * n_chunks
    if tail:
        unit_sizes += ((tail * k_steps, tail),)
    return TrainSegments(init=init, run_segment=run_segment, num_units=num_units,
                         unit_sizes=unit_sizes)


class TrainSegments(NamedTuple):
    """Training split into resumable segments (see `make_train_segments`).

    init(key, hparams=None) -> TrainState: network/optimizer init and env reset, no steps.
    run_segment(ts, hparams, start, stop) -> (ts, metrics): runs units [start, stop) of the
      schedule (static ints); metrics as in `TrainResult` restricted to those units. The
      traced program depends only on (start == 0, number of chunk units, whether the last
      unit is included), so one compiled segment can be reused at any position.
    num_units: length of the schedule: unit 0 is the prefill (no updates), units
      1..num_chunks are equal chunks of training iterations, and a last unit holds any
      remainder iterations.
    unit_sizes: per unit, (vector steps, training iterations); a vector step is num_envs
      env steps.
    """

    init: Callable
    run_segment: Callable
    num_units: int
    unit_sizes: tuple


def make_train_segments(config: DQNConfig, env, env_params, progress: bool = False,
                        num_chunks: int = 20, progress_fn: Callable | None = None
                        ) -> TrainSegments:
    """`make_train` cut at chunk boundaries, so a run can stop, checkpoint and resume.

    `ts = init(key, hp)` then `run_segment(ts, hp, 0, a)`, `run_segment(ts, hp, a, b)`, ...,
    `run_segment(ts, hp, z, num_units)` runs the computation of `train(key, hp)`; each piece
    is jit-able and vmappable (bind start/stop first, e.g.
    `functools.partial(run_segment, start=0, stop=a)`). Arguments as in `make_train`.

    Bit-identity (CPU, tested): with `init` jitted on its own, every split of
    [0, num_units) into consecutive segments (one segment included) gives bit-identical
    params and metrics, so a run resumed from a checkpoint equals an uninterrupted one.
    `make_train` traces the same functions into one program together with `init`; there XLA
    may round a few float ops differently (measured: last-bit differences in the loss after
    a few updates), so compare segmented runs with segmented runs.
    """
    return _make_pieces(config, env, env_params, progress, num_chunks, progress_fn)


def make_train(config: DQNConfig, env, env_params, progress: bool = False,
               num_chunks: int = 20, progress_fn: Callable | None = None):
    """Close over the static parts of `config` and return `train(key, hparams=None)`.

    progress: if True, a `jax.debug.callback` reports after each of `num_chunks` chunks
    (once per chunk even under `vmap`); `progress_fn(chunk, env_steps, mean_return)`
    replaces the default printer.
    """
    pieces = _make_pieces(config, env, env_params, progress, num_chunks, progress_fn)

    def train(key: jax.Array, hparams: Hparams | None = None) -> TrainResult:
        """One seed of DQN. key: PRNG key; hparams: `Hparams` of float32 scalars."""
        ts = pieces.init(key, hparams)
        ts, metrics = pieces.run_segment(ts, hparams, 0, pieces.num_units)
        return TrainResult(params=ts.params, target_params=ts.target_params, metrics=metrics)

    return train
