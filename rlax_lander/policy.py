"""Trained policies out of a run directory (`rlax_lander.rundir`): params and a greedy policy
usable outside JAX code (e.g. in a Gymnasium loop)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from rlax_lander import algos, rundir
from rlax_lander.env.registry import make


def load_params(run_dir, seed_index: int = 0):
    """(network, params, config) for one seed of a run dir, params as a numpy pytree.

    ValueError for a missing or corrupt run dir, an out-of-range `seed_index`, or a params
    file that does not fit the run's network.
    """
    config, meta = rundir.read_config(run_dir)
    num_seeds = int(meta.get("num_cells", meta.get("num_seeds", 0)))
    if not 0 <= seed_index < num_seeds:
        raise ValueError(f"seed_index={seed_index} is out of range; allowed: 0..{num_seeds - 1}")
    path = Path(run_dir) / rundir.params_file(seed_index)
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    env, env_params = make(config.env_id)
    num_actions = env.action_space(env_params).n
    obs_shape = tuple(env.observation_space(env_params).shape)
    network = algos.algo_of(config).build_network(config, num_actions)
    template = network.init(jax.random.key(0), np.zeros(obs_shape, np.float32))
    try:
        params = serialization.from_bytes(template, path.read_bytes())
    except Exception as err:  # msgpack/structure errors come in several types
        raise ValueError(f"corrupt params file {path}: {err}") from err
    return network, params, config


def load_policy(run_dir, seed_index: int = 0) -> Callable[[np.ndarray], int]:
    """A greedy `policy(obs: np.ndarray [obs_dim]) -> int` from a run dir. Raises ValueError
    for a missing/corrupt run dir or an out-of-range `seed_index`."""
    network, params, _ = load_params(run_dir, seed_index)
    q_fn = jax.jit(network.apply)

    def policy(obs) -> int:
        q = q_fn(params, np.asarray(obs, np.float32))
        return int(np.argmax(np.asarray(q)))

    return policy
