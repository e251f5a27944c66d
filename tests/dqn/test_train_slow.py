"""Slow statistical check (make test-slow): the default CartPole config, 8 vmapped seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlax_lander import dqn
from rlax_lander.env.registry import make as make_env


@pytest.mark.slow
def test_default_cartpole_8_seeds_solve():
    cfg = dqn.DQNConfig.cartpole()
    env, env_params = make_env(cfg.env_id)
    keys = jax.random.split(jax.random.key(0), 8)
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (8,)), cfg.hparams())
    r = jax.jit(jax.vmap(dqn.make_train(cfg, env, env_params)))(keys, hp)
    net = dqn.build_network(cfg, env.action_space(env_params).n)
    ev = jax.jit(jax.vmap(dqn.make_evaluate(env, env_params, net.apply, 100),
                          in_axes=(None, 0)))
    returns, _ = ev(jax.random.key(1), r.params)
    means = np.asarray(returns.mean(1))
    print("greedy mean return per seed:", np.round(means, 1))
    assert (means >= 475).sum() >= 7, means
