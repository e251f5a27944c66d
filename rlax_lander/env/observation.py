"""Observation, shaping, reward and termination of ``LunarLander-v3`` (sections 6.7-6.9).

Observation (post-step state; ``pos`` is the hull ORIGIN, ``vel`` the hull COM velocity):

  s0 = (x - W/2) / (W/2)              s4 = theta (not wrapped)
  s1 = (y - (H/4 + 18/30)) / (H/2)    s5 = 20 omega / FPS
  s2 = vx (W/2) / FPS                 s6 = legs[0] (right leg) contact flag, 1.0 / 0.0
  s3 = vy (H/2) / FPS                 s7 = legs[1] (left leg) contact flag

Shaping: ``-100 |(s0, s1)| - 100 |(s2, s3)| - 100 |s4| + 10 s6 + 10 s7``.

Precision: the original does this arithmetic in float64 (Python floats from Box2D's float32 state)
and casts only the observation to float32; the shaping, reward and the ``|s0| >= 1`` test use the
un-rounded float64 values. Here everything is float32 (from the float32 observation), so rewards
differ from the original's by float32 rounding (~1e-5 for shaping values of order 100), and the
out-of-bounds test can differ only when x is within float32 rounding of 0 or 20 m.
"""

import chex
import jax
import jax.numpy as jnp

from rlax_lander.env import constants as C
from rlax_lander.env.state import EnvState

OBS_SIZE = 8


def observation(state: EnvState) -> jax.Array:
    """The 8-dim observation of one env state.

    Args:
      state: ``EnvState`` with ``pos`` f32[2] (hull origin, m), ``vel`` f32[2] (COM velocity, m/s),
        ``angle`` f32[] (rad), ``ang_vel`` f32[] (rad/s), ``leg_contact`` bool[2].
    Returns:
      f32[8] observation (see module docstring).
    """
    chex.assert_shape([state.pos, state.vel, state.leg_contact], (2,))
    chex.assert_rank([state.angle, state.ang_vel], 0)
    half_w = C.W / 2.0
    half_h = C.H / 2.0
    pos = jnp.asarray(state.pos, jnp.float32)
    vel = jnp.asarray(state.vel, jnp.float32)
    flags = jnp.asarray(state.leg_contact).astype(jnp.float32)
    return jnp.stack(
        [
            (pos[0] - half_w) / half_w,
            (pos[1] - C.OBS_Y_REFERENCE) / half_h,
            vel[0] * (half_w / C.FPS),
            vel[1] * (half_h / C.FPS),
            jnp.asarray(state.angle, jnp.float32),
            jnp.asarray(state.ang_vel, jnp.float32) * (C.OBS_ANG_VEL_SCALE / C.FPS),
            flags[0],
            flags[1],
        ]
    ).astype(jnp.float32)


def shaping(obs: jax.Array) -> jax.Array:
    """Potential-based shaping term of the reward (float32; the original uses float64).

    Args:
      obs: f32[8] observation.
    Returns:
      f32[] shaping value.
    """
    chex.assert_shape(obs, (OBS_SIZE,))
    obs = jnp.asarray(obs, jnp.float32)
    return (
        -C.SHAPING_DISTANCE * jnp.sqrt(obs[0] * obs[0] + obs[1] * obs[1])
        - C.SHAPING_SPEED * jnp.sqrt(obs[2] * obs[2] + obs[3] * obs[3])
        - C.SHAPING_ANGLE * jnp.abs(obs[4])
        + C.SHAPING_LEG * obs[6]
        + C.SHAPING_LEG * obs[7]
    )


def reward_and_termination(
    obs: jax.Array,
    prev_shaping: jax.Array,
    m_power: jax.Array,
    s_power: jax.Array,
    game_over: jax.Array,
    asleep: jax.Array,
):
    """Reward, termination flag and new ``prev_shaping`` of one (non-reset) step.

    ``reward = shaping(obs) - prev_shaping - 0.3 m_power - 0.03 s_power``; then, replacing it,
    ``-100`` if ``game_over`` or ``|s0| >= 1``, and ``+100`` if the hull is asleep (wins over
    -100). Any override terminates. Computed in float32 (the original: float64, and on terminal
    steps the Python ints -100 / +100). The original's internal reset step, which has no
    ``prev_shaping`` yet, gives ``0 - fuel``; that reward is discarded, so it is not modelled.

    Args:
      obs: f32[8] post-step observation.
      prev_shaping: f32[] shaping after the previous step.
      m_power, s_power: f32[] throttles of this step (0 when off).
      game_over: bool[] sticky hull-ground contact flag.
      asleep: bool[] the hull is not awake (the island fell asleep this step).
    Returns:
      (reward f32[], terminated bool[], new_prev_shaping f32[]).
    """
    chex.assert_shape(obs, (OBS_SIZE,))
    chex.assert_rank([prev_shaping, m_power, s_power, game_over, asleep], 0)
    new_shaping = shaping(obs)
    reward = (
        new_shaping
        - jnp.asarray(prev_shaping, jnp.float32)
        - C.MAIN_ENGINE_FUEL * jnp.asarray(m_power, jnp.float32)
        - C.SIDE_ENGINE_FUEL * jnp.asarray(s_power, jnp.float32)
    )
    crashed = jnp.asarray(game_over, bool) | (jnp.abs(obs[0]) >= C.OUT_OF_BOUNDS_X)
    landed = jnp.asarray(asleep, bool)
    reward = jnp.where(crashed, jnp.float32(C.CRASH_REWARD), reward)
    reward = jnp.where(landed, jnp.float32(C.LANDED_REWARD), reward)
    terminated = crashed | landed
    return reward.astype(jnp.float32), terminated, new_shaping.astype(jnp.float32)
