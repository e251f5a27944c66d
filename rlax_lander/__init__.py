"""rlax_lander: deep Q-learning building blocks and a JAX-native, Box2D-faithful LunarLander.

The public names below are imported on first use, so ``import rlax_lander`` imports neither JAX
nor gymnax. When Gymnasium (>= 1.0) is installed, the import registers the Gymnasium ids
``rlax_lander/LunarLander-v3`` and ``rlax_lander/LunarLanderContinuous-v3``
(``rlax_lander.interop.gymnasium``, whose entry points are strings: building an env does not start
JAX either; its first ``reset`` does).
"""

import importlib
import os
import sys

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

# Whether this process was forked while its parent's JAX backend was running (JAX cannot run in such
# a child); the Gymnasium adapter reads it to fail with a clear message instead of deadlocking.
_jax_backend_at_fork = False
_jax_backend_in_parent = False


def _before_fork():
    global _jax_backend_in_parent
    bridge = sys.modules.get("jax._src.xla_bridge")
    _jax_backend_in_parent = bool(bridge is not None and bridge.backends_are_initialized())


def _after_fork_in_child():
    global _jax_backend_at_fork
    _jax_backend_at_fork = _jax_backend_at_fork or _jax_backend_in_parent


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _register_gymnasium_ids():
    try:  # gymnasium is optional (the "gym" extra); the adapter needs 1.x (AutoresetMode)
        from gymnasium.vector import AutoresetMode  # noqa: F401
    except ImportError:
        return
    from rlax_lander.interop import gymnasium as adapter  # registers the ids

    del adapter


_register_gymnasium_ids()
