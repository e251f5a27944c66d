"""The LunarLander DQN agent driven through Gymnasium's Box2D env in a Python loop.

Same pure functions (`QNetwork`, `double_q_learning_loss`, `replay`, `update_target`,
`epsilon_greedy`, the optimizer of `make_train`) and the same `DQNConfig` hyperparameters as
the JAX-native `train`, but the env is `gymnasium.vector.SyncVectorEnv` of `num_envs`
Box2D LunarLander-v3 envs (same-step autoreset, so `final_obs` is stored like
`info["final_observation"]`), and every vector step is: one jitted act call, one env step,
one jitted buffer add, and (every iteration) one jitted call doing the iteration's updates.
Used by `bench_train.py --env LunarLander-v3` to measure its env steps/s.
"""

from __future__ import annotations

import time

import numpy as np


def measure_python_loop(config, vector_steps: int = 400, warmup: int = 20, seed: int = 0):
    """Env steps/s of the Python-loop agent over `vector_steps` vector steps (after `warmup`
    vector steps and a buffer prefill of `config.learning_starts`, which are not timed;
    jit compiles happen in the warm-up). Returns a dict."""
    import gymnasium
    import jax
    import jax.numpy as jnp
    import optax
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from rlax_lander.dqn import exploration, losses, replay, targets
    from rlax_lander.dqn.train import build_network, make_optimizer

    n = config.num_envs
    envs = SyncVectorEnv([lambda: gymnasium.make("LunarLander-v3") for _ in range(n)],
                         autoreset_mode=AutoresetMode.SAME_STEP)
    net = build_network(config, 4)
    hp = config.hparams()
    key = jax.random.key(seed)
    key, k_net = jax.random.split(key)
    params = net.init(k_net, jnp.zeros((8,)))
    opt = optax.chain(make_optimizer(config.max_grad_norm), optax.scale(-hp.learning_rate))
    opt_state = opt.init(params)
    buf = replay.init(config.buffer_size, (8,))

    @jax.jit
    def act(params, obs, key, step):
        eps = exploration.epsilon_at(config.epsilon_schedule, hp, step, 0.0)
        return exploration.epsilon_greedy(key, net.apply(params, obs), eps)

    add = jax.jit(replay.add)

    def loss_fn(p, tp, b):
        discount = hp.gamma * (1.0 - b.terminated)
        q_tm1, q_t = net.apply(p, b.obs), net.apply(tp, b.next_obs)
        if config.double_q:
            return losses.double_q_learning_loss(q_tm1, b.action, b.reward, discount, q_t,
                                                 jax.lax.stop_gradient(net.apply(p, b.next_obs)),
                                                 loss=config.loss)
        return losses.q_learning_loss(q_tm1, b.action, b.reward, discount, q_t, loss=config.loss)

    @jax.jit
    def updates_with(buf_state, carry, key):
        def one(c, k):
            p, tp, os_, u = c
            b = replay.sample(buf_state, k, config.batch_size)
            (_, _), g = jax.value_and_grad(loss_fn, has_aux=True)(p, tp, b)
            upd, os_ = opt.update(g, os_, p)
            p = optax.apply_updates(p, upd)
            u = u + 1
            tp = targets.update_target(config.target_mode, p, tp, u,
                                       hp.target_update_period, hp.tau)
            return (p, tp, os_, u), None
        keys = jax.random.split(key, config.updates_per_iteration)
        return jax.lax.scan(one, carry, keys)[0]

    obs, _ = envs.reset(seed=seed)
    carry = (params, params, opt_state, jnp.zeros((), jnp.int32))
    step = 0

    def vector_step(obs, buf, carry, key, step, train: bool):
        key, k_act, k_up = jax.random.split(key, 3)
        a = np.asarray(act(carry[0], jnp.asarray(obs, jnp.float32), k_act, step))
        nxt, r, term, trunc, info = envs.step(a)
        done = term | trunc
        final = nxt if not done.any() else np.stack(
            [info["final_obs"][i] if done[i] else nxt[i] for i in range(n)])
        buf = add(buf, replay.Transition(obs=jnp.asarray(obs, jnp.float32),
                                         action=jnp.asarray(a, jnp.int32),
                                         reward=jnp.asarray(r, jnp.float32),
                                         next_obs=jnp.asarray(final, jnp.float32),
                                         terminated=jnp.asarray(term, jnp.float32)))
        if train:
            carry = updates_with(buf, carry, k_up)
        return nxt, buf, carry, key

    for _ in range(config.prefill_vector_steps):
        obs, buf, carry, key = vector_step(obs, buf, carry, key, step, False)
        step += n
    for _ in range(warmup):
        obs, buf, carry, key = vector_step(obs, buf, carry, key, step, True)
        step += n
    jax.block_until_ready(carry)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(vector_steps):
        obs, buf, carry, key = vector_step(obs, buf, carry, key, step, True)
        step += n
    jax.block_until_ready(carry)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    envs.close()
    steps = vector_steps * n
    return {"env_steps": steps, "wall_s": wall, "cpu_s": cpu,
            "env_steps_per_s": steps / wall, "updates": vector_steps *
            config.updates_per_iteration}
