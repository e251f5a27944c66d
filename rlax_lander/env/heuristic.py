"""The original's reference controller ``gymnasium.envs.box2d.lunar_lander.heuristic`` (section 9).

Works on the float32 observation with float32 arithmetic in the original's operation order, so it
reproduces the original's actions exactly (numpy 2 keeps ``float32 * python float`` in float32).
Pure and vmappable over a leading batch axis.
"""

import chex
import jax
import jax.numpy as jnp

# Gains of the original controller (not env constants).
ANGLE_TARGET_LIMIT = 0.4  # rad, clamp of the target angle
ANGLE_TARGET_X_GAIN = 0.5
ANGLE_TARGET_VX_GAIN = 1.0
HOVER_TARGET_GAIN = 0.55  # target height per unit of |s0|
TODO_GAIN = 0.5
ANGULAR_DAMPING_GAIN = 1.0
DISCRETE_DEADBAND = 0.05
CONTINUOUS_GAIN = 20.0


def _rounded(x: jax.Array) -> jax.Array:
    """``x``, but as a separately rounded float32 product.

    XLA's CPU backend contracts ``a * b + c`` into a fused multiply-add (one rounding), while numpy
    rounds the product first; the two differ by an ulp and could flip the heuristic's thresholds.
    A NaN-preserving select between the multiply and the add is semantically the identity but cannot
    be folded without assuming no NaNs, so it blocks the contraction (``optimization_barrier`` does
    not survive fusion here).
    """
    return jnp.where(x != x, jnp.float32(jnp.nan), x)


def heuristic_action(obs: jax.Array, continuous: bool) -> jax.Array:
    """The heuristic's action for one observation.

    Args:
      obs: f32[8] observation.
      continuous: static flag.
    Returns:
      discrete: int32[] in {0, 1, 2, 3}; continuous: f32[2] in [-1, 1].
    """
    chex.assert_shape(obs, (8,))
    s = jnp.asarray(obs, jnp.float32)
    angle_targ = s[0] * ANGLE_TARGET_X_GAIN + s[2] * ANGLE_TARGET_VX_GAIN
    angle_targ = jnp.clip(angle_targ, -ANGLE_TARGET_LIMIT, ANGLE_TARGET_LIMIT)
    hover_targ = _rounded(HOVER_TARGET_GAIN * jnp.abs(s[0]))
    angle_todo = (angle_targ - s[4]) * TODO_GAIN - s[5] * ANGULAR_DAMPING_GAIN
    hover_todo = (hover_targ - s[1]) * TODO_GAIN - s[3] * TODO_GAIN
    contact = (s[6] != 0.0) | (s[7] != 0.0)
    angle_todo = jnp.where(contact, jnp.float32(0.0), angle_todo)
    hover_todo = jnp.where(contact, -s[3] * TODO_GAIN, hover_todo)
    if continuous:
        scaled = _rounded(jnp.stack([hover_todo, -angle_todo]) * CONTINUOUS_GAIN)
        a = scaled - jnp.array([1.0, 0.0], jnp.float32)
        return jnp.clip(a, -1.0, 1.0).astype(jnp.float32)
    main = (hover_todo > jnp.abs(angle_todo)) & (hover_todo > DISCRETE_DEADBAND)
    return jnp.where(
        main,
        2,
        jnp.where(
            angle_todo < -DISCRETE_DEADBAND, 3, jnp.where(angle_todo > DISCRETE_DEADBAND, 1, 0)
        ),
    ).astype(jnp.int32)
