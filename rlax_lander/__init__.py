"""rlax_lander: deep Q-learning building blocks and a JAX-native, Box2D-faithful LunarLander."""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "make": ("rlax_lander.env.registry", "make"),
    "LunarLander": ("rlax_lander.env.lunar_lander", "LunarLander"),
    "EnvParams": ("rlax_lander.env.state", "EnvParams"),
    "EnvState": ("rlax_lander.env.state", "EnvState"),
    "load_policy": ("rlax_lander.policy", "load_policy"),
    "dqn": ("rlax_lander.dqn", None),
    "pqn": ("rlax_lander.pqn", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'rlax_lander' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)


__all__ = sorted(_LAZY)
