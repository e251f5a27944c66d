"""Shared test set-up: a persistent XLA compilation cache.

The lander's step compiles in seconds, and many tests (in several pytest-xdist workers and
subprocesses) compile the same programs; the on-disk cache lets each program compile once per
machine. The cache lives in ``.jax_cache/`` (git-ignored) unless JAX_COMPILATION_CACHE_DIR is set.
"""

import os
import pathlib

import pytest

_CACHE = os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).resolve().parent.parent / ".jax_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402  (after the environment variables above)

jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def make_run_dir():
    """`make_run_dir(path, env_id, obs_dim, num_actions, seeds=1)`: a run dir as `train`
    writes it (config.json and params files), with random params: enough for the commands
    that read run dirs."""
    import json

    import numpy as np

    from rlax_lander.checkpoint import save_params
    from rlax_lander.dqn.config import DQNConfig
    from rlax_lander.dqn.train import build_network
    from rlax_lander.rundir import CONFIG_FILE, params_file

    def make(path, env_id, obs_dim, num_actions, seeds=1):
        cfg = DQNConfig(env_id=env_id, hidden_sizes=(8,))
        path.mkdir(parents=True)
        (path / CONFIG_FILE).write_text(json.dumps({"algo": "dqn", "config": cfg.to_dict(),
                                                    "num_seeds": seeds, "seed": 0,
                                                    "eval_episodes": 1}))
        net = build_network(cfg, num_actions)
        for i in range(seeds):
            params = net.init(jax.random.key(i), np.zeros(obs_dim, np.float32))
            save_params(path / params_file(i), params)
        return path

    return make
