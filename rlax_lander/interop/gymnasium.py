"""The JAX LunarLander behind Gymnasium's ``Env`` and ``VectorEnv`` APIs.

``import rlax_lander`` registers two ids whenever Gymnasium is installed (this module's
``register``; ``gymnasium.register_envs(rlax_lander)`` keeps that import in linted code)::

    import gymnasium
    import rlax_lander

    gymnasium.register_envs(rlax_lander)
    env = gymnasium.make("rlax_lander/LunarLander-v3", render_mode="rgb_array")
    env = gymnasium.make("rlax_lander/LunarLanderContinuous-v3", enable_wind=True)
    envs = gymnasium.make_vec("rlax_lander/LunarLander-v3", num_envs=64)  # one jitted vmapped call

Spaces match Gymnasium's ``LunarLander-v3``: ``Box(OBS_LOW, OBS_HIGH, (8,), float32)`` observations and
``Discrete(4)`` or ``Box(-1, 1, (2,), float32)`` actions. Invalid actions raise ``ValueError`` (a
discrete action outside {0, 1, 2, 3} or not an integer, a continuous action of the wrong shape or not
finite); nothing is silently clipped or rounded. Continuous values outside [-1, 1] are accepted and
clipped by the dynamics, as the original does.

Spec and time limit, as the original's: the ids are registered with ``max_episode_steps=1000`` and
``reward_threshold=200``, so ``gymnasium.make`` wraps the env in ``TimeLimit(1000)`` (or
``TimeLimit(N)`` for ``make(id, max_episode_steps=N)``). Like Gymnasium's ``LunarLander`` class,
``JaxLunarLander`` itself has no time limit unless given ``max_episode_steps``. The vector env
truncates by itself after ``max_episode_steps`` (``gymnasium.make_vec`` passes the spec's 1000 or
your N), as the JAX env does (``EnvParams.max_steps_in_episode``).

Nothing here imports JAX, gymnax or Box2D when the module is imported or an env is built: JAX is
imported, and its backend started, by the first ``reset``. So a process that builds envs but has
not used JAX itself can fork async workers with any start method (``fork`` included, the Linux
default). A worker forked from a process whose JAX backend was already running cannot use JAX (it
would deadlock); its first ``reset`` raises a ``RuntimeError`` that says to pass
``vector_kwargs={"context": "forkserver"}`` (or "spawn"). The first ``reset`` also turns on JAX's
persistent compilation cache (``~/.cache/rlax_lander/jax``, or ``$RLAX_LANDER_JAX_CACHE``; set
that variable to ``0`` to leave it off) unless a cache directory is already configured, so each
worker loads the compiled step instead of compiling it again.

Randomness: ``reset(seed=s)`` sets the env's key to ``jax.random.PRNGKey(s)`` (s in [0, 2**63));
every reset and step splits a fresh subkey off it, so no key is used twice and a seeded episode is
reproducible. ``reset()`` without a seed continues from the current key (the first unseeded reset
draws a seed from Gymnasium's ``np_random``). A vector env seeded with the list ``[s_0, ..., s_n]``
follows, in env i, the single env seeded ``s_i`` (up to float32 rounding: the batched program is
compiled separately) until that env's first episode ends; seeded with one int ``s`` its envs get
``jax.random.split(PRNGKey(s), num_envs)``.

Autoreset: the vector env steps all envs in one jitted, vmapped call. Its default mode is Gymnasium's
default, ``AutoresetMode.NEXT_STEP`` (what ``SyncVectorEnv`` and the vector wrappers expect): the step
that ends an episode returns its last observation, and the next ``step`` resets that env (its
action is ignored; reward 0, not terminated or truncated). ``autoreset_mode=AutoresetMode.SAME_STEP``
(a keyword of ``make_vec``) selects the gymnax behaviour instead: an env whose episode ends returns
the first observation of its next episode, and ``info["final_obs"]`` (an object array, ``None``
where no episode ended, mask ``info["_final_obs"]``) and ``info["final_info"]`` (dict of arrays with
``_key`` masks, mask ``info["_final_info"]``) hold the last observation and info of the ended
episode, the layout ``gymnasium.vector.SyncVectorEnv`` uses in that mode.

Pickling: both envs pickle (a few KB: parameters, key, state and ``np_random``) and continue
identically after unpickling; the compiled programs are rebuilt (or loaded from the cache).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types
import warnings
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlax_lander.env import constants as C

DISCRETE_ID = "rlax_lander/LunarLander-v3"
CONTINUOUS_ID = "rlax_lander/LunarLanderContinuous-v3"
REWARD_THRESHOLD = 200.0
INFO_KEYS = ("landed", "crashed", "out_of_bounds")
CACHE_ENV_VAR = "RLAX_LANDER_JAX_CACHE"
_MAX_SEED = 2**63
_NO_LIMIT = 2**31 - 1  # EnvParams.max_steps_in_episode when Gymnasium's TimeLimit does the truncation
_FORK_MESSAGE = (
    "this process was forked from a parent whose JAX backend was already running, and JAX cannot "
    "run in such a child (it deadlocks). Start the workers with 'forkserver' or 'spawn' instead: "
    "gymnasium.make_vec(id, num_envs, vectorization_mode='async', vector_kwargs={'context': "
    "'forkserver'}), or SubprocVecEnv(env_fns, start_method='forkserver') in stable-baselines3; or "
    "build the async env before the parent first uses JAX."
)


def _spaces(continuous: bool):
    obs_space = spaces.Box(
        np.asarray(C.OBS_LOW, np.float32), np.asarray(C.OBS_HIGH, np.float32), (8,), np.float32
    )
    if continuous:
        act_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    else:
        act_space = spaces.Discrete(C.NUM_DISCRETE_ACTIONS)
    return obs_space, act_space


def _params_kwargs(continuous, gravity, enable_wind, wind_power, turbulence_power, max_episode_steps):
    """Checks the parameters eagerly (no JAX) and returns ``EnvParams`` keyword arguments.

    The checks are those of ``rlax_lander.env.registry.validate_params``, repeated here because
    importing the registry imports gymnax, which starts JAX's backend.
    """
    if max_episode_steps is not None and int(max_episode_steps) < 1:
        raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
    g = float(gravity)
    if not -12.0 < g < 0.0:
        raise ValueError(f"gravity must satisfy -12 < gravity < 0 (as the original asserts), got {g}")
    wp, tp = float(wind_power), float(turbulence_power)
    if not 0.0 <= wp <= 20.0:
        warnings.warn(f"wind_power value is recommended to be between 0.0 and 20.0, got {wp}", stacklevel=3)
    if not 0.0 <= tp <= 2.0:
        warnings.warn(
            f"turbulence_power value is recommended to be between 0.0 and 2.0, got {tp}", stacklevel=3
        )
    return dict(
        gravity=g, enable_wind=bool(enable_wind), wind_power=wp,
        turbulence_power=tp,
        max_steps_in_episode=_NO_LIMIT if max_episode_steps is None else int(max_episode_steps),
    )


def _check_render_mode(render_mode, modes):
    if render_mode is not None and render_mode not in modes:
        raise ValueError(f"render_mode must be None or one of {modes}, got {render_mode!r}")
    if render_mode == "human" and importlib.util.find_spec("pygame") is None:
        raise gymnasium.error.DependencyNotInstalled(
            'render_mode="human" needs pygame: pip install pygame (it comes with gymnasium[box2d], '
            'the "gym" extra); render_mode="rgb_array" works without it'
        )


def _enable_compilation_cache(jax) -> None:
    """Turns on JAX's persistent compilation cache unless one is configured or it is switched off."""
    path = os.environ.get(CACHE_ENV_VAR, "")
    if path == "0" or jax.config.jax_compilation_cache_dir:
        return
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "rlax_lander", "jax")
    jax.config.update("jax_compilation_cache_dir", path)


def _backend() -> types.SimpleNamespace:
    """Imports JAX and the JAX env on first use (never at import or construction time)."""
    if getattr(sys.modules.get("rlax_lander"), "_jax_backend_at_fork", False):
        raise RuntimeError(_FORK_MESSAGE)
    return _modules()


@functools.cache
def _modules() -> types.SimpleNamespace:
    # JAX and the env load here, at the first reset: importing rlax_lander or building a
    # Gymnasium env must not start a JAX backend (forked vector-env workers need that)
    import jax
    import jax.numpy as jnp

    _enable_compilation_cache(jax)
    from rlax_lander.env import engines, render
    from rlax_lander.env.registry import make
    from rlax_lander.env.state import EnvParams

    return types.SimpleNamespace(
        jax=jax, jnp=jnp, engines=engines, render=render, make=make, EnvParams=EnvParams
    )


class _Words:
    """Packs a pytree of float32 / int32 / uint32 / bool arrays into one int32 vector and back.

    One buffer instead of a leaf per field makes a jitted call cheaper: each argument and result
    buffer costs host time in every call, and the single env pays that per env step.
    """

    def __init__(self, jax, jnp, spec):
        self.jax, self.jnp = jax, jnp
        leaves, self.treedef = jax.tree.flatten(spec)
        self.shapes = [(tuple(x.shape), jnp.dtype(x.dtype)) for x in leaves]
        allowed = {jnp.dtype(t) for t in (jnp.float32, jnp.int32, jnp.uint32, jnp.bool_)}
        bad = [d for _, d in self.shapes if d not in allowed]
        if bad:
            raise TypeError(f"cannot pack leaves of dtype {bad} into int32 words")
        self.sizes = [int(np.prod(shape)) for shape, _ in self.shapes]
        self.size = sum(self.sizes)

    def pack(self, tree):
        jax, jnp = self.jax, self.jnp
        words = []
        for x in jax.tree.leaves(tree):
            if x.dtype == jnp.bool_:
                x = x.astype(jnp.int32)
            elif x.dtype != jnp.int32:
                x = jax.lax.bitcast_convert_type(x, jnp.int32)
            words.append(x.reshape(-1))
        return jnp.concatenate(words)

    def unpack(self, words):
        jax, jnp = self.jax, self.jnp
        leaves, i = [], 0
        for (shape, dtype), n in zip(self.shapes, self.sizes):
            w = words[i : i + n].reshape(shape)
            if dtype == jnp.bool_:
                w = w != 0
            elif dtype != jnp.int32:
                w = jax.lax.bitcast_convert_type(w, dtype)
            leaves.append(w)
            i += n
        return jax.tree.unflatten(self.treedef, leaves)


OUT_WORDS = 14  # obs [8], reward, terminated, truncated, the three INFO_KEYS flags (float32 bits)


@functools.cache
def _single_fns(continuous: bool):
    """Jitted reset/step of one env (cached: one compile per action kind) on one int32 buffer.

    The buffer ``words`` holds the key data, the state and the last step's outputs (``OUT_WORDS``
    float32 values at the end); ``reset(key_data, params) -> words`` and ``step(words, action,
    params) -> words``. The key is split inside, so a step is one call with one result, and the
    host copies one small array per step; the state stays on the device.
    """
    b = _backend()
    jax, jnp = b.jax, b.jnp
    env, params0 = b.make("LunarLander-v3", continuous=continuous)
    key0 = jax.random.key(0)
    layout = _Words(jax, jnp, (jax.random.key_data(key0), jax.eval_shape(env.reset_env, key0, params0)[1]))

    def out_words(obs, flags):
        values = jnp.concatenate([obs.astype(jnp.float32), jnp.stack(flags).astype(jnp.float32)])
        return jax.lax.bitcast_convert_type(values, jnp.int32)

    @jax.jit
    def reset(key_data, params):
        key, k_reset = jax.random.split(jax.random.wrap_key_data(key_data))
        obs, state = env.reset_env(k_reset, params)
        zero = jnp.float32(0.0)
        return jnp.concatenate([layout.pack((jax.random.key_data(key), state)), out_words(obs, [zero] * 6)])

    @jax.jit
    def step(words, action, params):
        key_data, state = layout.unpack(words[: layout.size])
        key, k = jax.random.split(jax.random.wrap_key_data(key_data))
        k_step, _ = jax.random.split(k)  # gymnax's step derives its step key this way too
        obs, state, reward, terminated, info = env.step_env(k_step, state, action, params)
        flags = [reward, terminated, env.is_truncated(state, params)] + [info[k] for k in INFO_KEYS]
        return jnp.concatenate([layout.pack((jax.random.key_data(key), state)), out_words(obs, flags)])

    unpack = jax.jit(lambda words: layout.unpack(words[: layout.size]))
    return env, reset, step, unpack, layout


@functools.cache
def _vector_fns(continuous: bool):
    """Jitted batched reset, same-step and next-step auto-resetting steps (N from the input shapes)."""
    b = _backend()
    jax, jnp = b.jax, b.jnp
    env, _ = b.make("LunarLander-v3", continuous=continuous)

    @jax.jit
    def reset(keys, params):  # keys [N] -> carried keys, obs, state
        split = jax.vmap(jax.random.split)(keys)
        obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(split[:, 1], params)
        return split[:, 0], obs, state

    @jax.jit
    def step_same(keys, state, actions, params):
        split = jax.vmap(jax.random.split)(keys)
        out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(split[:, 1], state, actions, params)
        return (split[:, 0],) + tuple(out)

    def one_next(key, state, action, reset_now, params):
        k_step, k_reset = jax.random.split(key)  # the keys gymnax's auto-resetting step uses
        obs, new, reward, terminated, info = env.step_env(k_step, state, action, params)
        truncated = env.is_truncated(new, params)
        obs_r, state_r = env.reset_env(k_reset, params)
        new = jax.tree.map(lambda r, s: jnp.where(reset_now, r, s), state_r, new)
        keep = ~reset_now
        info = {k: info[k] & keep for k in INFO_KEYS}
        reward = jnp.where(reset_now, 0.0, reward)
        return jnp.where(reset_now, obs_r, obs), new, reward, terminated & keep, truncated & keep, info

    @jax.jit
    def step_next(keys, state, actions, params, autoreset):
        """Steps the envs not in ``autoreset`` [N] bool and resets those that are."""
        split = jax.vmap(jax.random.split)(keys)
        out = jax.vmap(one_next, in_axes=(0, 0, 0, 0, None))(split[:, 1], state, actions, autoreset, params)
        return (split[:, 0],) + out

    return env, reset, step_same, step_next


def _seed_to_key(seed: int):
    """``jax.random.PRNGKey(seed)`` (uint32 key data)."""
    seed = int(seed)
    if not 0 <= seed < _MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed}")
    jax = _backend().jax
    return jax.random.key_data(jax.random.key(seed))


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


_DISCRETE_ACTIONS = tuple(np.int32(a) for a in range(C.NUM_DISCRETE_ACTIONS))


class _HumanWindow:
    """A pygame window showing ``rgb_array`` frames at the env's frame rate."""

    def __init__(self):
        self.screen = self.clock = None

    def show(self, frame: np.ndarray, fps: int) -> None:
        import pygame  # optional: only the "human" render mode needs it

        if self.screen is None:
            pygame.init()
            pygame.display.init()
            pygame.display.set_caption("rlax_lander LunarLander")
            self.screen = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
            self.clock = pygame.time.Clock()
        self.screen.blit(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), (0, 0))
        pygame.event.pump()
        self.clock.tick(fps)
        pygame.display.flip()

    def close(self) -> None:
        if self.screen is not None:
            import pygame  # optional: only the "human" render mode needs it

            pygame.display.quit()
            pygame.quit()
            self.screen = self.clock = None


class JaxLunarLander(gymnasium.Env):
    """One JAX LunarLander as a ``gymnasium.Env`` (non-resetting).

    Args:
      continuous: Box(-1, 1, (2,)) actions instead of Discrete(4).
      gravity, enable_wind, wind_power, turbulence_power: as in Gymnasium's LunarLander-v3.
      max_episode_steps: steps after which ``step`` returns ``truncated=True``; ``None`` (default)
        for no limit of its own, as Gymnasium's ``LunarLander`` class (``gymnasium.make`` adds the
        registered ``TimeLimit(1000)``).
      render_mode: ``None``, ``"rgb_array"`` (uint8 [400, 600, 3] frames via ``env.render``) or
        ``"human"`` (a pygame window, drawn on every reset and step; needs pygame).
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": C.FPS}

    def __init__(
        self,
        continuous: bool = False,
        gravity: float = C.GRAVITY,
        enable_wind: bool = False,
        wind_power: float = C.WIND_POWER,
        turbulence_power: float = C.TURBULENCE_POWER,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ):
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.continuous = bool(continuous)
        self.render_mode = render_mode
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self._params_kwargs = _params_kwargs(
            continuous, gravity, enable_wind, wind_power, turbulence_power, max_episode_steps
        )
        self.observation_space, self.action_space = _spaces(self.continuous)
        self._words = None  # key data, state and last outputs in one int32 buffer (see _single_fns)
        self._last_action = None
        self._window = None
        self._fns = None  # (jax env, reset, step, unpack, layout, device params), built by the first reset
        self._unpacked = (None, None)  # (words, EnvState) of the last ``state`` read

    def _programs(self):
        if self._fns is None:
            b = _backend()
            params = b.jax.device_put(b.EnvParams(**self._params_kwargs))
            self._fns = _single_fns(self.continuous) + (params,)
            if self._words is not None:  # unpickled: back onto the device
                self._words = b.jax.device_put(self._words)
        return self._fns

    @property
    def env_params(self):
        """The JAX ``EnvParams`` (imports JAX)."""
        return self._programs()[5]

    @property
    def jax_env(self):
        """The gymnax ``LunarLander`` behind this env (imports JAX)."""
        return self._programs()[0]

    @property
    def state(self):
        """The current JAX ``EnvState`` (None before the first reset)."""
        if self._words is None:
            return None
        if self._unpacked[0] is not self._words:
            unpack = self._programs()[3]
            self._unpacked = (self._words, unpack(self._words)[1])
        return self._unpacked[1]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        _, reset_fn, _, _, layout, params = self._programs()
        if seed is not None:
            key = _seed_to_key(seed)
        elif self._words is not None:  # continue the key stream
            key = np.asarray(self._words)[: layout.sizes[0]].view(np.uint32)
        else:
            key = _seed_to_key(self.np_random.integers(2**31))
        self._words = reset_fn(key, params)
        obs = np.asarray(self._words)[layout.size : layout.size + 8].view(np.float32).copy()
        self._last_action = None
        if self.render_mode == "human":
            self.render()
        return obs, {}

    def _validated(self, action):
        if self.continuous:
            return _check_continuous(action, (2,))
        if type(action) is int and 0 <= action < C.NUM_DISCRETE_ACTIONS:  # the common case, fast
            return _DISCRETE_ACTIONS[action]
        _backend().engines.validate_action(action, False)
        return np.int32(action)

    def step(self, action):
        if self._words is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        a = self._validated(action)
        fns = self._fns or self._programs()
        self._words = fns[2](self._words, a, fns[5])
        out = np.asarray(self._words)[fns[4].size :].view(np.float32)
        self._last_action = a
        info = {"landed": bool(out[11]), "crashed": bool(out[12]), "out_of_bounds": bool(out[13])}
        if self.render_mode == "human":
            self.render()
        return out[:8].copy(), float(out[8]), bool(out[9]), bool(out[10]), info

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn(
                'render() called with render_mode=None; create the env with render_mode="rgb_array"'
            )
            return None
        if self._words is None:
            raise gymnasium.error.ResetNeeded("call reset() before render()")
        frame = _backend().render.render_frame(self.state, self._last_action, continuous=self.continuous)
        if self.render_mode == "human":
            if self._window is None:
                self._window = _HumanWindow()
            self._window.show(frame, self.metadata["render_fps"])
            return None
        return frame

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None
        super().close()

    def __getstate__(self):
        d = self.__dict__.copy()
        d["_fns"] = None
        d["_window"] = None
        d["_unpacked"] = (None, None)
        if self._words is not None:
            d["_words"] = np.asarray(self._words)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)


def _parse_autoreset_mode(mode) -> AutoresetMode:
    message = f"autoreset_mode must be AutoresetMode.NEXT_STEP or AutoresetMode.SAME_STEP, got {mode!r}"
    try:
        parsed = AutoresetMode(mode)
    except ValueError as e:
        raise ValueError(message) from e
    if parsed not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(message)
    return parsed


class JaxLunarLanderVector(VectorEnv):
    """``num_envs`` JAX LunarLanders stepped in one jitted vmapped call.

    Arguments as ``JaxLunarLander`` (but ``max_episode_steps`` defaults to 1000 and must be set),
    plus ``num_envs`` and ``autoreset_mode`` (``AutoresetMode.NEXT_STEP``, the default, or
    ``SAME_STEP``; see the module docstring). ``step`` takes actions int [num_envs] (discrete) or
    float [num_envs, 2] (continuous) and returns observations float32 [num_envs, 8], rewards
    float64 [num_envs], terminations and truncations bool [num_envs] and an info dict with the
    ``INFO_KEYS`` flags and their ``_key`` masks.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": C.FPS, "autoreset_mode": AutoresetMode.NEXT_STEP}

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
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        _check_render_mode(render_mode, self.metadata["render_modes"])
        if max_episode_steps is None:
            raise ValueError("the vector env needs max_episode_steps (an int >= 1; Gymnasium passes 1000)")
        self.autoreset_mode = _parse_autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.num_envs = int(num_envs)
        self.continuous = bool(continuous)
        self.render_mode = render_mode
        self._params_kwargs = _params_kwargs(
            continuous, gravity, enable_wind, wind_power, turbulence_power, max_episode_steps
        )
        self.single_observation_space, self.single_action_space = _spaces(self.continuous)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._keys = None
        self._state = None
        self._last_actions = None
        self._autoreset = np.zeros(self.num_envs, bool)
        self._fns = None

    def _programs(self):
        if self._fns is None:
            b = _backend()
            fns = _vector_fns(self.continuous)
            self._fns = fns + (b.jax.device_put(b.EnvParams(**self._params_kwargs)),)
            if self._keys is not None:  # unpickled: back onto the device
                self._keys = b.jax.device_put(self._keys)
                self._state = b.jax.device_put(self._state)
        return self._fns

    @property
    def env_params(self):
        """The JAX ``EnvParams`` (imports JAX)."""
        return self._programs()[4]

    @property
    def jax_env(self):
        """The gymnax ``LunarLander`` behind this env (imports JAX)."""
        return self._programs()[0]

    @property
    def state(self):
        """The current batched JAX ``EnvState`` (None before the first reset)."""
        if self._state is not None:
            self._programs()
        return self._state

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        _, reset_fn, _, _, params = self._programs()
        jax = _backend().jax
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
        self._keys, obs, self._state = reset_fn(self._keys, params)
        self._last_actions = None
        self._autoreset = np.zeros(self.num_envs, bool)
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
        _, _, step_same, step_next, params = self._programs()
        jax = _backend().jax
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            autoreset = self._autoreset
            self._keys, obs, self._state, reward, terminated, truncated, info = step_next(
                self._keys, self._state, a, params, autoreset
            )
            obs, reward, terminated, truncated, info = jax.device_get(
                (obs, reward, terminated, truncated, info)
            )
            terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
            infos: dict[str, Any] = {}
            for k in INFO_KEYS:  # envs that were reset this step have no step info (SyncVectorEnv's layout)
                infos[k] = np.asarray(info[k], bool)
                infos[f"_{k}"] = ~autoreset
            self._autoreset = terminated | truncated
            self._last_actions = np.where(autoreset[(slice(None),) + (None,) * (a.ndim - 1)], 0, a)
            return np.asarray(obs, np.float32), np.asarray(reward, np.float64), terminated, truncated, infos
        self._keys, obs, self._state, reward, terminated, truncated, info = step_same(
            self._keys, self._state, a, params
        )
        obs, reward, terminated, truncated, info = jax.device_get((obs, reward, terminated, truncated, info))
        self._last_actions = a
        done = np.asarray(terminated | truncated, bool)
        infos = {}
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
            gymnasium.logger.warn(
                'render() called with render_mode=None; create the env with render_mode="rgb_array"'
            )
            return None
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before render()")
        b = _backend()
        state = b.jax.device_get(self.state)
        acts = self._last_actions
        draw = b.render.render_frame
        return tuple(
            draw(state, None if acts is None else acts[i], continuous=self.continuous, index=i)
            for i in range(self.num_envs)
        )

    def __getstate__(self):
        d = self.__dict__.copy()
        d["_fns"] = None
        if self._keys is not None:
            d["_keys"], d["_state"] = _backend().jax.device_get((self._keys, self._state))
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)


def register() -> None:
    """Registers ``rlax_lander/LunarLander-v3`` and ``rlax_lander/LunarLanderContinuous-v3`` (idempotent).

    The entry points are strings, so registering imports nothing beyond this module.
    """
    for env_id, continuous in ((DISCRETE_ID, False), (CONTINUOUS_ID, True)):
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=f"{__name__}:JaxLunarLander",
            vector_entry_point=f"{__name__}:JaxLunarLanderVector",
            max_episode_steps=C.MAX_EPISODE_STEPS,
            reward_threshold=REWARD_THRESHOLD,
            kwargs={"continuous": continuous},
        )


register()
