"""Run directories: the on-disk format written by `train`, and `load_policy` to read it.

A run dir holds `config.json` ({"dqn": DQNConfig fields, "num_seeds": S, ...}) and one
`params_seed{i}.msgpack` per seed (flax.serialization msgpack behind a SHA-256 header, see
`checkpoint.save_params`; never pickle). Loading checks the checksum, the shapes against the run's
network and finite values (`checkpoint.load_params`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

CONFIG_FILE = "config.json"


def params_file(seed_index: int) -> str:
    """File name of seed `seed_index`'s online params inside a run dir."""
    return f"params_seed{seed_index}.msgpack"


def read_run_config(run_dir) -> tuple:
    """(DQNConfig, full config.json dict) of a run dir; ValueError if missing or corrupt."""
    from rlax_lander.dqn.config import DQNConfig

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir!s} is not a run directory: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(path.read_text())
        return DQNConfig.from_dict(meta["dqn"]), meta
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"corrupt {path}: {err}") from err


def load_params(run_dir, seed_index: int = 0, *, allow_unchecked: bool = False):
    """(network, params, config) for one seed of a run dir, params as a numpy pytree.

    The params file is checked at load (``checkpoint.load_params``): its SHA-256 checksum, each
    leaf's shape against the network built from the run's config.json, and finite values. A file
    without a checksum (an older run) is refused unless ``allow_unchecked``. ValueError names the
    file and the problem (for another architecture: the leaf, expected and found shapes).
    """
    import jax

    from rlax_lander import checkpoint
    from rlax_lander.dqn.train import build_network
    from rlax_lander.envs import make_env

    config, meta = read_run_config(run_dir)
    num_seeds = int(meta.get("num_seeds", 0))
    if not 0 <= seed_index < num_seeds:
        raise ValueError(f"seed_index={seed_index} is out of range; allowed: 0..{num_seeds - 1}")
    path = Path(run_dir) / params_file(seed_index)
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    env, env_params = make_env(config.env_id)
    num_actions = env.action_space(env_params).n
    obs_shape = tuple(env.observation_space(env_params).shape)
    network = build_network(config, num_actions)
    template = jax.eval_shape(network.init, jax.random.key(0), np.zeros(obs_shape, np.float32))
    params = checkpoint.load_params(path, template, allow_unchecked=allow_unchecked)
    return network, params, config


def load_policy(run_dir, seed_index: int = 0, *, allow_unchecked: bool = False
                ) -> Callable[[np.ndarray], int]:
    """A greedy `policy(obs: np.ndarray [obs_dim]) -> int` from a run dir, usable outside JAX
    code (e.g. in a gymnasium loop). Raises ValueError at load, not at the first call, for a
    missing/corrupt run dir, an out-of-range `seed_index`, or a params file that is corrupt, of
    another architecture or non-finite (see `load_params`; `allow_unchecked` as there)."""
    import jax

    network, params, _ = load_params(run_dir, seed_index, allow_unchecked=allow_unchecked)
    q_fn = jax.jit(network.apply)

    def policy(obs) -> int:
        q = q_fn(params, np.asarray(obs, np.float32))
        return int(np.argmax(np.asarray(q)))

    return policy
