"""Trained policies out of a run directory (`rlax_lander.rundir`): params and a greedy policy
usable outside JAX code (e.g. in a Gymnasium loop).

Params files are flax msgpack behind a SHA-256 header (`checkpoint.save_params`; never
pickle). Loading checks the checksum, the shapes against the run's network and finite values
(`checkpoint.load_params`), so a bad file fails at load, not at the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from rlax_lander import algos, checkpoint, rundir
from rlax_lander.env.registry import make


def load_params(run_dir, seed_index: int = 0, *, allow_unchecked: bool = False):
    """(network, params, config) for one seed of a run dir, params as a numpy pytree.

    ValueError names the file and the problem: a missing or corrupt run dir, an out-of-range
    `seed_index`, a checksum mismatch, another architecture (the leaf, expected and found
    shapes) or non-finite values. A file without a checksum (an older run) is refused unless
    `allow_unchecked`.
    """
    config, meta = rundir.read_config(run_dir)
    num_seeds = int(meta.get("num_cells", meta.get("num_seeds", 0)))
    if not 0 <= seed_index < num_seeds:
        raise ValueError(f"seed_index={seed_index} is out of range; allowed: 0..{num_seeds - 1}")
    path = Path(run_dir) / rundir.params_file(seed_index)
    if not path.is_file():
        diverged = [d.get("seed_index") for d in rundir.read_summary(run_dir).get("diverged", [])]
        why = " (that seed diverged in training)" if seed_index in diverged else ""
        raise ValueError(f"{path} is missing{why}")
    env, env_params = make(config.env_id)
    num_actions = env.action_space(env_params).n
    obs_shape = tuple(env.observation_space(env_params).shape)
    network = algos.algo_of(config).build_network(config, num_actions)
    template = jax.eval_shape(network.init, jax.random.key(0), np.zeros(obs_shape, np.float32))
    params = checkpoint.load_params(path, template, allow_unchecked=allow_unchecked)
    return network, params, config


def load_policy(run_dir, seed_index: int = 0, *, allow_unchecked: bool = False
                ) -> Callable[[np.ndarray], int]:
    """A greedy `policy(obs: np.ndarray [obs_dim]) -> int` from a run dir. Raises ValueError
    at load for everything `load_params` checks."""
    network, params, _ = load_params(run_dir, seed_index, allow_unchecked=allow_unchecked)
    q_fn = jax.jit(network.apply)

    def policy(obs) -> int:
        q = q_fn(params, np.asarray(obs, np.float32))
        return int(np.argmax(np.asarray(q)))

    return policy
