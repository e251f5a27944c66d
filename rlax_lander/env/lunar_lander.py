"""``LunarLander``: a gymnax ``Environment`` faithful to Gymnasium's Box2D ``LunarLander-v3``.

Order of one step, as in the original: wind and turbulence (only while neither leg flag is set),
the per-step dispersion draw, engine impulses on the hull, one world step (``physics.py``), then
observation, shaped reward and termination. ``reset_env`` draws the terrain, the initial force and
(with wind) the wind/turbulence phases, and maps them in closed form onto the state the original
reaches after its internal reset step (``reset_map.py``, fitted against Box2D).
"""

from functools import partial

import chex
import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces

from rlax_lander.env import constants as C
from rlax_lander.env import engines, observation, physics, reset_map, terrain
from rlax_lander.env.state import EnvParams, EnvState, blank_state


def wind_at(index, power):
    """Wind force (N) or turbulence torque (N m) at phase ``index``: tanh(sin(.02k)+sin(.01 pi k))."""
    k = index.astype(jnp.float32)
    return jnp.tanh(jnp.sin(0.02 * k) + jnp.sin(0.01 * jnp.pi * k)) * power


class LunarLander(environment.Environment[EnvState, EnvParams]):
    """JAX LunarLander-v3. ``continuous`` (the one place it lives) selects Box(-1, 1, (2,))
    actions over Discrete(4)."""

    def __init__(self, continuous: bool = False):
        super().__init__()
        self.continuous = continuous

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def name(self) -> str:
        return "LunarLander-v3"

    @property
    def num_actions(self) -> int:
        return 2 if self.continuous else C.NUM_DISCRETE_ACTIONS

    def action_space(self, params: EnvParams | None = None):
        if self.continuous:
            return spaces.Box(-1.0, 1.0, (2,), jnp.float32)
        return spaces.Discrete(C.NUM_DISCRETE_ACTIONS)

    def observation_space(self, params: EnvParams | None = None):
        return spaces.Box(jnp.asarray(C.OBS_LOW), jnp.asarray(C.OBS_HIGH), (8,), jnp.float32)

    def reset_env(self, key: chex.PRNGKey, params: EnvParams):
        k_terrain, k_force, k_wind, k_torque = jax.random.split(key, 4)
        terrain_y = terrain.sample_terrain(k_terrain)
        force = jax.random.uniform(k_force, (2,), jnp.float32, -C.INITIAL_RANDOM, C.INITIAL_RANDOM)
        wind_idx = jax.random.randint(k_wind, (), -9999, 9999, jnp.int32)
        torque_idx = jax.random.randint(k_torque, (), -9999, 9999, jnp.int32)
        wind_on = jnp.asarray(params.enable_wind, bool)
        wind = jnp.where(wind_on, wind_at(wind_idx, params.wind_power), 0.0)
        torque = jnp.where(wind_on, wind_at(torque_idx, params.turbulence_power), 0.0)
        body = reset_map.post_reset_state(force[0] + wind, force[1], torque, params.gravity)
        step = wind_on.astype(jnp.int32)  # the internal reset step applied the wind once
        state = blank_state(
            pos=body.pos, angle=body.angle, leg_angle=body.leg_angle,
            vel=body.vel, ang_vel=body.ang_vel, leg_ang_vel=body.leg_ang_vel,
            terrain_y=terrain_y, wind_idx=wind_idx + step, torque_idx=torque_idx + step,
        )  # no contact: the lander starts ~7 m above the highest terrain
        obs = observation.observation(state)
        return obs, state.replace(prev_shaping=observation.shaping(obs))

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: chex.PRNGKey, state: EnvState, action, params: EnvParams | None = None):
        """One env step with gymnax 1.x's auto-reset (``gymnax.environments.Environment.step``).

        Args:
          key: PRNG key (split into the step's dispersion key and the auto-reset key).
          state: ``EnvState`` of one env (vmap for a batch).
          action: discrete: an integer scalar of any integer dtype. A float dtype (even 2.0) is a
            ``TypeError`` when the step is traced, naming the dtype; nothing is rounded. Integers
            outside {0, 1, 2, 3} are not an error (a jitted step cannot raise on a value) and act
            as a no-op: no engine fires. Continuous: a real array of shape [2]; values outside
            [-1, 1], +-inf included, are clipped to +-1 as in the original; a NaN component
            is replaced by 0.0 (that engine off, which is also what Gymnasium's LunarLander does
            with NaN), so a NaN never reaches the state. The same rule holds at every batch size,
            inside and outside jit (``engines.sanitize_action``).
          params: ``EnvParams`` (``default_params`` if None).
        Returns:
          ``(obs f32[8], state, reward f32[], terminated bool[], truncated bool[], info)``; when
          the episode ended, ``obs`` and ``state`` are the next episode's first and
          ``info["final_observation"]`` is the last observation of the ended one.
        Raises:
          TypeError: a discrete action of a non-integer dtype (at trace time).
        """
        return super().step(key, state, action, params)

    def step_env(self, key: chex.PRNGKey, state: EnvState, action, params: EnvParams):
        """The non-resetting step; ``action`` as in ``step``."""
        wind_on = jnp.asarray(params.enable_wind, bool) & ~jnp.any(state.leg_contact)
        wind = jnp.where(wind_on, wind_at(state.wind_idx, params.wind_power), 0.0)
        torque = jnp.where(wind_on, wind_at(state.torque_idx, params.turbulence_power), 0.0)
        advance = wind_on.astype(jnp.int32)
        state = state.replace(wind_idx=state.wind_idx + advance, torque_idx=state.torque_idx + advance)

        imp = engines.engine_impulses(
            jnp.asarray(action), state.angle, state.pos, engines.sample_dispersion(key), self.continuous
        )
        forces = physics.Forces(
            force=jnp.stack([wind, jnp.float32(0.0)]), torque=torque,
            impulses=jnp.stack([imp.main_impulse, imp.side_impulse]),
            points=jnp.stack([imp.main_point, imp.side_point]),
        )
        state, step_info = physics.world_step(
            state, forces, params.gravity, params.velocity_iterations, params.position_iterations,
            params.first_contact_iterations,
        )
        obs = observation.observation(state)
        reward, terminated, shaping = observation.reward_and_termination(
            obs, state.prev_shaping, imp.m_power, imp.s_power, state.game_over, step_info.asleep
        )
        state = state.replace(prev_shaping=shaping, time=state.time + 1)
        info = {
            "landed": step_info.asleep,
            "crashed": state.game_over,
            "out_of_bounds": jnp.abs(obs[0]) >= C.OUT_OF_BOUNDS_X,
        }
        return obs, state, reward, terminated, info

    def get_obs(self, state: EnvState, params=None, key=None):
        return observation.observation(state)

    def is_terminated(self, state: EnvState, params: EnvParams):
        return state.game_over | (jnp.abs(observation.observation(state)[0]) >= C.OUT_OF_BOUNDS_X)
