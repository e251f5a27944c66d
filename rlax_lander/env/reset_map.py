"""Closed-form post-reset state of ``LunarLander-v3``.

The original's reset ends with one internal world step in which the legs, spawned 0.6 m too
high, are pulled onto their joints while the initial force acts. Its result is linear in the
step's hull force and torque; the coefficients are fitted against real Box2D by
``scripts/fit_reset_map.py`` and live in the generated ``reset_coeffs.py``.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from rlax_lander.env import constants as C
from rlax_lander.env.reset_coeffs import (  # noqa: F401  (re-exported)
    RESET_COEFFS,
    RESET_FEATURE_NAMES,
    RESET_MAX_RESIDUAL,
    RESET_STATE_NAMES,
)


class PostResetState(NamedTuple):
    """Hull and leg state after the original's internal reset step (per env).

    Attributes:
      pos: f32[2] hull origin, m.           angle: f32[] hull angle, rad.
      vel: f32[2] hull COM velocity, m/s.   ang_vel: f32[] hull angular velocity, rad/s.
      leg_angle: f32[2] theta_leg - theta_hull, rad.
      leg_ang_vel: f32[2] omega_leg - omega_hull, rad/s.
    """

    pos: jax.Array
    angle: jax.Array
    vel: jax.Array
    ang_vel: jax.Array
    leg_angle: jax.Array
    leg_ang_vel: jax.Array


def post_reset_state(fx: jax.Array, fy: jax.Array, torque: jax.Array,
                     gravity=C.GRAVITY) -> PostResetState:
    """The post-reset state from the reset step's hull force and torque.

    The map was fitted at g = -10 m/s^2. Uniform gravity accelerates every body alike during the
    contact-free reset step, so another ``gravity`` only shifts the vertical velocity by
    ``(g + 10) dt`` and the height by ``(g + 10) dt^2`` (semi-implicit Euler).

    Args:
      fx: f32[] initial horizontal force plus the reset step's wind force, N.
      fy: f32[] initial vertical force, N.
      torque: f32[] the reset step's turbulence torque (0 without wind), N m.
      gravity: f32[] the world's gravity, m/s^2.
    Returns:
      ``PostResetState`` (float32).
    """
    chex.assert_rank([fx, fy, torque], 0)
    feats = jnp.stack(
        [jnp.float32(1.0), jnp.asarray(fx, jnp.float32), jnp.asarray(fy, jnp.float32),
         jnp.asarray(torque, jnp.float32)]
    )
    c = jnp.asarray(RESET_COEFFS)
    # Constant first, then the small terms (keeps the float32 rounding of pos at the ulp level).
    s = c[:, 0] + (c[:, 1] * feats[1] + c[:, 2] * feats[2] + c[:, 3] * feats[3])
    dg = jnp.asarray(gravity, jnp.float32) - C.GRAVITY
    return PostResetState(
        pos=s[0:2].at[1].add(dg * C.DT * C.DT), angle=s[2], vel=s[3:5].at[1].add(dg * C.DT),
        ang_vel=s[5], leg_angle=s[6:8], leg_ang_vel=s[8:10],
    )
