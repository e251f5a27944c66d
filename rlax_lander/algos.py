"""The training algorithms the package ships, behind one interface.

Each `Algorithm` names its config class, its presets (and which env each belongs to), the
preset an env id starts from, and its `make_stages` and `build_network`. Commands, `ablate`
and the studies look algorithms up here, so a new one is one entry in `ALGORITHMS`.
"""

from __future__ import annotations

import dataclasses
import importlib

from rlax_lander.dqn import config as dqn_config
from rlax_lander.pqn import config as pqn_config


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """name: the `--algo` value; config_type: its frozen config dataclass; presets:
    {name: factory}; preset_envs: {preset: env id it is tuned for}; env_defaults: {env id:
    preset it starts from}; stages_module / network: import paths of `make_stages` and
    `build_network` (imported when first used, so configs stay free of JAX work)."""

    name: str
    config_type: type
    presets: dict
    preset_envs: dict
    env_defaults: dict
    stages_module: str

    def default_config(self, env_id: str):
        """(config, preset name) an env starts from: its tuned preset, else the generic
        defaults of `config_type` for that env ("generic")."""
        preset = self.env_defaults.get(env_id)
        if preset is not None:
            return self.presets[preset](), preset
        return self.config_type(env_id=env_id), "generic"

    def preset(self, name: str, env_id: str | None = None):
        """The preset `name` (for `env_id`, which must be the env it was tuned for)."""
        if name not in self.presets:
            raise ValueError(f"preset={name!r} is unknown for algo {self.name!r}; allowed: "
                             f"{', '.join(sorted(self.presets))}")
        if env_id is not None and env_id != self.preset_envs[name]:
            raise ValueError(f"preset={name!r} is tuned for {self.preset_envs[name]}, not "
                             f"{env_id}; leave out the preset to start from {env_id}'s default, "
                             "or leave out the env to use the preset's")
        return self.presets[name]()

    def module(self):
        return importlib.import_module(self.stages_module)

    def make_stages(self, config, env, env_params, num_chunks: int = 20):
        return self.module().make_stages(config, env, env_params, num_chunks)

    def build_network(self, config, num_actions: int):
        return self.module().build_network(config, num_actions)


ALGORITHMS: dict[str, Algorithm] = {
    "dqn": Algorithm(name="dqn", config_type=dqn_config.DQNConfig, presets=dqn_config.PRESETS,
                     preset_envs=dqn_config.PRESET_ENVS,
                     env_defaults=dqn_config.ENV_DEFAULT_PRESETS,
                     stages_module="rlax_lander.dqn.train"),
    "pqn": Algorithm(name="pqn", config_type=pqn_config.PQNConfig, presets=pqn_config.PRESETS,
                     preset_envs=pqn_config.PRESET_ENVS,
                     env_defaults=pqn_config.ENV_DEFAULT_PRESETS,
                     stages_module="rlax_lander.pqn.train"),
}


def get(name: str) -> Algorithm:
    """The algorithm called `name`; ValueError naming the allowed ones."""
    if name not in ALGORITHMS:
        raise ValueError(f"algo={name!r} is unknown; allowed: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def algo_of(config) -> Algorithm:
    """The algorithm whose config type `config` is."""
    for algo in ALGORITHMS.values():
        if isinstance(config, algo.config_type):
            return algo
    raise ValueError(f"{type(config).__name__} is not the config of a known algorithm")


