"""The JAX LunarLander behind Gymnasium's ``Env`` and ``VectorEnv`` APIs.

Importing this module registers two ids::

    import gymnasium
    import rlax_lander.interop.gymnasium  # registers the ids below

    env = gymnasium.make("rlax_lander/LunarLander-v3", render_mode="rgb_array")
    env = gymnasium.make("rlax_lander/LunarLanderContinuous-v3", enable_wind=True)
    envs = gymnasium.make_vec("rlax_lander/LunarLander-v3", num_envs=64,
                              vectorization_mode="vector_entry_point")

(``gymnasium.make("rlax_lander.interop.gymnasium:rlax_lander/LunarLander-v3")`` imports it for you.)

Spaces match Gymnasium's ``LunarLander-v3``: ``Box(OBS_LOW, OBS_HIGH, (8,), float32)`` observations and
``Discrete(4)`` or ``Box(-1, 1, (2,), float32)`` actions. Invalid actions raise ``ValueError`` (a
discrete action outside {0, 1, 2, 3} or not an integer, a continuous action of the wrong shape or not
finite); nothing is silently clipped or rounded. Continuous values outside [-1, 1] are accepted and
clipped by the dynamics, as the original does.

Time limit: the env truncates by itself after ``max_episode_steps`` (default 1000, the original's
``TimeLimit``), from ``EnvParams.max_steps_in_episode``, exactly as the JAX env does. The ids are
therefore registered *without* ``max_episode_steps``, so ``gymnasium.make`` adds no second
``TimeLimit`` (``env.spec.max_episode_steps`` is ``None``). ``gymnasium.make(id, max_episode_steps=N)``
is consumed by ``make``, which wraps a ``TimeLimit(N)`` around the inner 1000-step limit (so it only
shortens episodes); to lengthen them construct ``JaxLunarLander(max_episode_steps=N)`` directly.
``gymnasium.make_vec(id, num_envs, max_episode_steps=N)`` passes N to the vector env's inner limit.

Randomness: ``reset(seed=s)`` sets the env's key to ``jax.random.PRNGKey(s)`` (s in [0, 2**63));
every reset and step splits a fresh subkey off it, so no key is used twice and a seeded episode is
reproducible. ``reset()`` without a seed continues from the current key (the first unseeded reset
draws a seed from Gymnasium's ``np_random``). A vector env seeded with the list ``[s_0, ..., s_n]``
follows, in env i, the single env seeded ``s_i`` (up to float32 rounding: the batched program is
compiled separately) until that env's first episode ends; seeded with
one int ``s`` its envs get ``jax.random.split(PRNGKey(s), num_envs)``.

The vector env steps all envs in one jitted, vmapped call of the gymnax auto-resetting ``step``, so
its autoreset mode is ``AutoresetMode.SAME_STEP``: an env whose episode ends returns the first
observation of its next episode, and ``info["final_obs"]`` (an object array, ``None`` where no
episode ended, mask ``info["_final_obs"]``) and ``info["final_info"]`` (dict of arrays with ``_key``
masks, mask ``info["_final_info"]``) hold the last observation and info of the ended episode, the
layout ``gymnasium.vector.SyncVectorEnv`` uses in that mode.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium
import jax
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlax_lander.env import constants as C
from rlax_lander.env import engines, render
from rlax_lander.env.registry import make as _make_jax

DISCRETE_ID = "rlax_lander/LunarLander-v3"
CONTINUOUS_ID = "rlax_lander/LunarLanderContinuous-v3"
INFO_KEYS = ("landed", "crashed", "out_of_bounds")
_MAX_SEED = 2**63


def _spaces(continuous: bool):
    obs_space = spaces.Box(
        np.asarray(C.OBS_LOW, np.float32), np.asarray(C.OBS_HIGH, np.float32), (8,), np.float32
    )
    if continuous:
        act_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    else:
        act_space = spaces.Discrete(C.NUM_DISCRETE_ACTIONS)
    return obs_space, act_space


def _jax_env(continuous, gravity, enable_wind, wind_power, turbulence_power, max_episode_steps):
    if int(max_episode_steps) < 1:
        raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
    return _make_jax(
        "LunarLander-v3",
        continuous=bool(continuous),
        gravity=float(gravity),
        enable_wind=bool(enable_wind),
        wind_power=float(wind_power),
        turbulence_power=float(turbulence_power),
        max_steps_in_episode=int(max_episode_steps),
    )


@functools.cache
def _single_fns(continuous: bool):
    """Jitted non-resetting reset/step of one env (cached: one compile per action kind)."""
    env, _ = _make_jax("LunarLander-v3", continuous=continuous)
    reset = jax.jit(env.reset_env)

    @jax.jit
    def step(key, state, action, params):
        k_step, _ = jax.random.split(key)  # gymnax's step derives its step key this way too
        obs, state, reward, terminated, info = env.step_env(k_step, state, action, params)
        return obs, state, reward, terminated, env.is_truncated(state, params), info

    return env, reset, step


@functools.cache
def _vector_fns(continuous: bool):
    """Jitted batched reset and auto-resetting step (num_envs is read from the input shapes)."""
    env, _ = _make_jax("LunarLander-v3", continuous=continuous)

    @jax.jit
    def reset(keys, params):  # keys [N] -> carried keys, obs, state
        split = jax.vmap(jax.random.split)(keys)
        obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(split[:, 1], params)
        return split[:, 0], obs, state

    @jax.jit
    def step(keys, state, actions, params):
        split = jax.vmap(jax.random.split)(keys)
        out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(split[:, 1], state, actions, params)
        return (split[:, 0],) + tuple(out)

    return env, reset, step


def _seed_to_key(seed: int) -> jax.Array:
    seed = int(seed)
    if not 0 <= seed < _MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed}")
    return jax.random.PRNGKey(seed)


def _check_continuous(action, shape) -> np.ndarray:
    a = np.asarray(action)
    if a.shape != shape or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(
            f"continuous LunarLander actions must be real arrays of shape {shape} "
            f"(values in [-1, 1]), got {action!r} with shape {a.shape} and dtype {a.dtype}"
        )
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"continuous LunarLander actions must be finite, got {action!r}")
    return a


class JaxLunarLander(gymnasium.Env):
    """One JAX LunarLander as a ``gymnasium.Env`` (non-resetting; time limit built in).

    Args:
      continuous: Box(-1, 1, (2,)) actions instead of Discrete(4).
      gravity, enable_wind, wind_power, turbulence_power: as in Gymnasium's LunarLander-v3.
      max_episode_steps: steps after which ``step`` returns ``truncated=True`` (default 1000).
      render_mode: ``None`` or ``"rgb_array"`` (uint8 [400, 600, 3] frames via ``env.render``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": C.FPS}

    def __init__(
        self,
        continuous: bool = False,
        gravity: float = C.GRAVITY,
        enable_wind: bool = False,
        wind_power: float = C.WIND_POWER,
        turbulence_power: float = C.TURBULENCE_POWER,
        max_episode_steps: int = C.MAX_EPISODE_STEPS,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.continuous = bool(continuous)
        self.render_mode = render_mode
        _, self.env_params = _jax_env(continuous, gravity, enable_wind, wind_power, turbulence_power, max_episode_steps)
        self.jax_env, self._reset_fn, self._step_fn = _single_fns(self.continuous)
        self.observation_space, self.action_space = _spaces(self.continuous)
        self._key = None
        self._state = None
        self._last_action = None

    @property
    def state(self):
        """The current JAX ``EnvState`` (None before the first reset)."""
        return self._state

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._key = _seed_to_key(seed)
        elif self._key is None:
            self._key = _seed_to_key(self.np_random.integers(2**31))
        self._key, k_reset = jax.random.split(self._key)
        obs, self._state = self._reset_fn(k_reset, self.env_params)
        self._last_action = None
        return np.asarray(obs, np.float32), {}

    def _validated(self, action):
        if self.continuous:
            return _check_continuous(action, (2,))
        engines.validate_action(action, False)
        return np.asarray(action, np.int32)

    def step(self, action):
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        a = self._validated(action)
        self._key, k = jax.random.split(self._key)
        obs, self._state, reward, terminated, truncated, info = jax.device_get(
            self._step_fn(k, self._state, a, self.env_params)
        )
        self._last_action = a
        info = {k: bool(info[k]) for k in INFO_KEYS}
        return np.asarray(obs, np.float32), float(reward), bool(terminated), bool(truncated), info

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn('render() called with render_mode=None; create the env with render_mode="rgb_array"')
            return None
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before render()")
        return render.render_frame(self._state, self._last_action, continuous=self.continuous)


class JaxLunarLanderVector(VectorEnv):
    """``num_envs`` JAX LunarLanders stepped in one jitted vmapped call (same-step autoreset).

    Arguments as ``JaxLunarLander``, plus ``num_envs``. ``step`` takes actions int [num_envs]
    (discrete) or float [num_envs, 2] (continuous) and returns observations float32 [num_envs, 8],
    rewards float64 [num_envs], terminations and truncations bool [num_envs] and the info dict
    described in the module docstring.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": C.FPS, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        continuous: bool = False,
        gravity: float = C.GRAVITY,
        enable_wind: bool = False,
        wind_power: float = C.WIND_POWER,
        turbulence_power: float = C.TURBULENCE_POWER,
        max_episode_steps: int = C.MAX_EPISODE_STEPS,
        render_mode: str | None = None,
    ):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.num_envs = int(num_envs)
        self.continuous = bool(continuous)
        self.render_mode = render_mode
        _, self.env_params = _jax_env(continuous, gravity, enable_wind, wind_power, turbulence_power, max_episode_steps)
        self.jax_env, self._reset_fn, self._step_fn = _vector_fns(self.continuous)
        self.single_observation_space, self.single_action_space = _spaces(self.continuous)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._keys = None
        self._state = None
        self._last_actions = None

    @property
    def state(self):
        """The current batched JAX ``EnvState`` (None before the first reset)."""
        return self._state

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != self.num_envs:
                raise ValueError(f"a seed list needs {self.num_envs} entries, got {len(seed)}")
            super().reset(seed=int(seed[0]))
            self._keys = jax.numpy.stack([_seed_to_key(s) for s in seed])
        else:
            super().reset(seed=seed)
            if seed is not None:
                self._keys = jax.random.split(_seed_to_key(seed), self.num_envs)
            elif self._keys is None:
                self._keys = jax.random.split(_seed_to_key(self.np_random.integers(2**31)), self.num_envs)
        self._keys, obs, self._state = self._reset_fn(self._keys, self.env_params)
        self._last_actions = None
        return np.asarray(obs, np.float32), {}

    def _validated(self, actions):
        a = np.asarray(actions)
        if self.continuous:
            return _check_continuous(actions, (self.num_envs, 2))
        ok = a.shape == (self.num_envs,) and np.issubdtype(a.dtype, np.integer)
        if ok and not np.all((a >= 0) & (a < C.NUM_DISCRETE_ACTIONS)):
            ok = False
        if not ok:
            raise ValueError(
                f"discrete LunarLander vector actions must be an integer array of shape "
                f"({self.num_envs},) with values in {{0, ..., {C.NUM_DISCRETE_ACTIONS - 1}}}, "
                f"got {actions!r} (shape {a.shape}, dtype {a.dtype})"
            )
        return a.astype(np.int32)

    def step(self, actions):
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        a = self._validated(actions)
        self._keys, obs, self._state, reward, terminated, truncated, info = self._step_fn(
            self._keys, self._state, a, self.env_params
        )
        obs, reward, terminated, truncated, info = jax.device_get((obs, reward, terminated, truncated, info))
        self._last_actions = a
        done = np.asarray(terminated | truncated, bool)
        infos: dict[str, Any] = {}
        for k in INFO_KEYS:  # per-step info of envs that did not reset (SyncVectorEnv's layout)
            infos[k] = np.where(done, False, np.asarray(info[k], bool))
            infos[f"_{k}"] = ~done
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            last = np.asarray(info["final_observation"], np.float32)
            for i in np.flatnonzero(done):
                final_obs[i] = last[i]
            final_info: dict[str, Any] = {}
            for k in INFO_KEYS:
                final_info[k] = np.where(done, np.asarray(info[k], bool), False)
                final_info[f"_{k}"] = done.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"], infos["_final_info"] = final_info, done.copy()
        return (
            np.asarray(obs, np.float32),
            np.asarray(reward, np.float64),
            np.asarray(terminated, bool),
            np.asarray(truncated, bool),
            infos,
        )

    def render(self):
        """A tuple of ``num_envs`` uint8 [400, 600, 3] frames (as ``SyncVectorEnv.render``)."""
        if self.render_mode is None:
            gymnasium.logger.warn('render() called with render_mode=None; create the env with render_mode="rgb_array"')
            return None
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before render()")
        state = jax.device_get(self._state)
        acts = self._last_actions
        return tuple(
            render.render_frame(state, None if acts is None else acts[i], continuous=self.continuous, index=i)
            for i in range(self.num_envs)
        )


def register() -> None:
    """Registers ``rlax_lander/LunarLander-v3`` and ``rlax_lander/LunarLanderContinuous-v3`` (idempotent)."""
    for env_id, continuous in ((DISCRETE_ID, False), (CONTINUOUS_ID, True)):
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=f"{__name__}:JaxLunarLander",
            vector_entry_point=f"{__name__}:JaxLunarLanderVector",
            kwargs={"continuous": continuous},
        )


register()
