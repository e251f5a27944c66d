"""The gymnax 0.x step, ``(obs, state, reward, done, info)``, for older JAX clients.

rejax (0.1.x) and PureJaxRL's ``dqn.py`` / ``ppo.py`` unpack five values from ``env.step``;
gymnax 1.x (and this project's ``LunarLander``) returns six, ``(obs, state, reward, terminated,
truncated, info)``. ``GymnaxLegacy`` wraps any gymnax 1.x environment into the old signature::

    from rlax_lander.interop.gymnax_legacy import make_legacy

    env, env_params = make_legacy("LunarLander-v3")
    obs, state = env.reset(key, env_params)
    obs, state, reward, done, info = env.step(key, state, action, env_params)

``done = terminated | truncated``, as gymnax 0.x computed it, and the env auto-resets on it.
**This counts truncation as termination.** An episode cut off by the 1000-step time limit did not
reach a terminal state, so its last TD target should bootstrap from the next state's value
(``r + gamma * V(s')``); a client that uses ``done`` as the terminal flag (``r + gamma * (1 -
done) * V(s')``) instead treats the time-out as the end of the world, biasing values near the
limit down (for the lander: a hovering policy looks like one that gets nothing more). ``info``
keeps what is needed to do it right: ``info["terminated"]`` and ``info["truncated"]`` (bool) and
``info["final_observation"]`` (the last observation before the auto-reset), next to gymnax 0.x's
``info["discount"] = 1 - done``. Prefer the six-value step for new code.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment


class GymnaxLegacy(environment.Environment):
    """Wraps a gymnax 1.x ``Environment`` so that ``step`` returns gymnax 0.x's five values.

    Everything else (``reset``, ``step_env``, ``reset_env``, ``default_params``, spaces,
    ``num_actions``, ``name``, other attributes) is the wrapped env's.
    """

    def __init__(self, env: environment.Environment):
        super().__init__()
        self._env = env

    @property
    def env(self) -> environment.Environment:
        """The wrapped gymnax 1.x environment."""
        return self._env

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)

    @functools.partial(jax.jit, static_argnames=("self",))
    def step(self, key: jax.Array, state, action, params=None):
        """gymnax 0.x step: ``(obs, state, reward, done, info)``, auto-resetting where ``done``.

        ``done = terminated | truncated`` (bool); ``info`` holds the wrapped step's info plus
        ``discount`` (float32, ``1 - done``, gymnax 0.x's value, which zeroes truncated targets).
        """
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        done = jnp.logical_or(terminated, truncated)
        info = {**info, "discount": 1.0 - done.astype(jnp.float32)}
        return obs, state, reward, done, info

    def reset(self, key: jax.Array, params=None):
        return self._env.reset(key, params)

    def step_env(self, key, state, action, params):
        return self._env.step_env(key, state, action, params)

    def reset_env(self, key, params):
        return self._env.reset_env(key, params)

    def is_truncated(self, state, params):
        return self._env.is_truncated(state, params)

    def is_terminated(self, state, params):
        return self._env.is_terminated(state, params)

    def get_obs(self, state, params=None, key=None):
        return self._env.get_obs(state, params=params, key=key)

    @property
    def default_params(self):
        return self._env.default_params

    @property
    def name(self) -> str:
        return self._env.name

    @property
    def num_actions(self) -> int:
        return self._env.num_actions

    def action_space(self, params=None):
        return self._env.action_space(params)

    def observation_space(self, params=None):
        return self._env.observation_space(params)

    def state_space(self, params=None):
        return self._env.state_space(params)


def make_legacy(env_id: str = "LunarLander-v3", **overrides):
    """``rlax_lander.make(env_id, **overrides)`` with the env wrapped in ``GymnaxLegacy``.

    Returns ``(env, env_params)``.
    """
    from rlax_lander.env.registry import make  # a wrapper-only import stays free of the env

    env, params = make(env_id, **overrides)
    return GymnaxLegacy(env), params
