"""Engine throttles and impulses of ``LunarLander-v3`` (reference sections 6.2-6.5).

Each step the original draws a dispersion ``d = (d0, d1) = U(-1, 1) / 30`` m (always, in this
order, whether or not an engine fires), reads the hull angle ``theta`` *before* any impulse, and
applies up to two linear impulses to the hull (main first, then side), both at world points:

* main:  ``a_off = 4/30 + 2 d0``; offset ``o = (tip_x a_off + side_x d1, -tip_y a_off - side_y d1)``;
  point ``origin + o`` (the hull origin, not its COM); impulse ``-13 m_power o``.
* side:  ``b = 3 d1 + direction 12/30``; offset ``o = (tip_x d0 + side_x b, -tip_y d0 - side_y b)``;
  point ``(origin_x + o_x - tip_x 17/30, origin_y + o_y + tip_y 14/30)`` (the original's 17-px / 14-px
  quirk, kept on purpose); impulse ``-0.6 s_power o``.

with ``tip = (sin theta, cos theta)`` and ``side = (-cos theta, sin theta)``. Everything is float32
here; the original computes in float64 and Box2D rounds the impulse and point to float32.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from rlax_lander.env import constants as C


class EngineImpulses(NamedTuple):
    """Impulses of one step. Shapes per env (a batch adds leading axes).

    Attributes:
      main_impulse: f32[2] main-engine impulse on the hull, N s (zero when off).
      main_point: f32[2] its world application point, m.
      side_impulse: f32[2] side-engine impulse on the hull, N s (zero when off).
      side_point: f32[2] its world application point, m (the point of the engine that would fire;
        when off, the point for direction sign(a1) (discrete: 0) -- irrelevant since the impulse is
        zero).
      m_power: f32[] main throttle in {0} U (0.5, 1] (discrete: 0 or 1).
      s_power: f32[] side throttle in {0} U (0.5, 1] (discrete: 0 or 1).
    """

    main_impulse: jax.Array
    main_point: jax.Array
    side_impulse: jax.Array
    side_point: jax.Array
    m_power: jax.Array
    s_power: jax.Array


def sample_dispersion(key: jax.Array) -> jax.Array:
    """The per-step dispersion draw ``(d0, d1)``, each ``U(-1, 1) / SCALE``.

    Args:
      key: PRNG key.
    Returns:
      f32[2] dispersion, m (each in [-1/30, 1/30)).
    """
    u = jax.random.uniform(key, (2,), jnp.float32, minval=-1.0, maxval=1.0)
    return u * jnp.float32(C.DISPERSION)


def validate_action(action, continuous: bool) -> None:
    """Eager (non-jitted) check of an action, for the gymnasium-facing path.

    The jitted step cannot raise on a value; there a discrete action outside {0, 1, 2, 3} acts as a
    no-op (no engine fires) and a float discrete dtype is a TypeError at trace time. Continuous
    actions are clipped to [-1, 1] as the original does and a NaN component is that engine off
    (``sanitize_action``), so only their shape is checked.

    Args:
      action: discrete: an integer in {0, 1, 2, 3}; continuous: an array-like of shape [2].
      continuous: whether the env uses Box(-1, 1, (2,)) actions.
    Raises:
      ValueError: naming the allowed range / shape.
    """
    a = np.asarray(action)
    if continuous:
        if a.shape != (2,):
            raise ValueError(
                f"continuous LunarLander action must have shape (2,) with values in [-1, 1], "
                f"got {action!r} with shape {a.shape}"
            )
        return
    ok = (
        a.shape == ()
        and np.issubdtype(a.dtype, np.integer)
        and 0 <= int(a) < C.NUM_DISCRETE_ACTIONS
    )
    if not ok:
        raise ValueError(
            f"discrete LunarLander action must be an integer in "
            f"{{0, ..., {C.NUM_DISCRETE_ACTIONS - 1}}} (0 noop, 1 left engine, 2 main engine, "
            f"3 right engine), got {action!r}"
        )


def sanitize_action(action, continuous: bool) -> jax.Array:
    """The action the dynamics use: the same rule inside and outside jit, at every batch size.

    Discrete: the dtype must be an integer dtype (checked at trace time, so a float action fails
    before anything runs); the value is cast to int32. Values outside {0, 1, 2, 3} are kept and act
    as a no-op (no engine fires), because a jitted step cannot raise on a value.

    Continuous: any real dtype, cast to float32 (a float64 beyond float32's range becomes +-inf).
    A NaN component becomes 0.0, i.e. that engine is off: the original's comparisons
    ``a0 > 0`` and ``|a1| > 0.5`` are False for NaN, so Gymnasium's LunarLander also fires nothing
    there, and here the NaN never reaches ``sign(a1)`` and the state. +-inf and other values
    outside [-1, 1] are clipped to +-1 by ``throttles``, as the original clips them (so +inf is
    full throttle, not off).

    Args:
      action: discrete: an integer scalar (int[]); continuous: a real array of shape [2].
      continuous: static flag, whether the env uses Box(-1, 1, (2,)) actions.
    Returns:
      discrete: int32[]; continuous: f32[2] with no NaN (entries may be +-inf or outside [-1, 1]).
    Raises:
      TypeError: a discrete action of a non-integer dtype, or a continuous action of a
        non-numeric dtype (at trace time, naming the dtype and the allowed ones).
    """
    a = jnp.asarray(action)
    if continuous:
        if not (jnp.issubdtype(a.dtype, jnp.floating) or jnp.issubdtype(a.dtype, jnp.integer)):
            raise TypeError(
                f"continuous LunarLander action must have a real (float or integer) dtype, got {a.dtype}"
            )
        chex.assert_shape(a, (2,))
        a = a.astype(jnp.float32)
        return jnp.where(jnp.isnan(a), jnp.float32(0.0), a)
    if not jnp.issubdtype(a.dtype, jnp.integer):
        raise TypeError(
            f"discrete LunarLander action must have an integer dtype (int32, int64, uint8, ...; "
            f"values in {{0, ..., {C.NUM_DISCRETE_ACTIONS - 1}}}), got dtype {a.dtype}; a float action "
            f"is not rounded: cast it yourself, e.g. jnp.argmax(q).astype(jnp.int32)"
        )
    chex.assert_rank(a, 0)
    return a.astype(jnp.int32)


def throttles(action: jax.Array, continuous: bool):
    """Throttles and side-engine direction of an action (reference section 6.2).

    The action is first passed through ``sanitize_action`` (integer dtype required when discrete;
    NaN components are engine-off when continuous).

    Args:
      action: discrete: int[] in {0, 1, 2, 3} (others act as no-op); continuous: f32[2] (clipped
        to [-1, 1]; main fires iff a0 > 0, side iff |a1| > 0.5, both strict; NaN -> 0.0).
      continuous: static flag.
    Returns:
      (m_power f32[], s_power f32[], direction f32[] in {-1, 0, +1}).
    Raises:
      TypeError: as ``sanitize_action``.
    """
    action = sanitize_action(action, continuous)
    if continuous:
        a = jnp.clip(action, -1.0, 1.0)
        main_on = a[0] > 0.0
        side_on = jnp.abs(a[1]) > C.SIDE_ENGINE_THRESHOLD
        m_power = jnp.where(main_on, (jnp.clip(a[0], 0.0, 1.0) + 1.0) * 0.5, 0.0)
        s_power = jnp.where(
            side_on, jnp.clip(jnp.abs(a[1]), C.MIN_THROTTLE, 1.0), 0.0
        )
        direction = jnp.sign(a[1])
    else:
        a = action
        main_on = a == 2
        side_on = (a == 1) | (a == 3)
        m_power = jnp.where(main_on, 1.0, 0.0)
        s_power = jnp.where(side_on, 1.0, 0.0)
        direction = jnp.where(side_on, (a - 2).astype(jnp.float32), 0.0)
    return (
        m_power.astype(jnp.float32),
        s_power.astype(jnp.float32),
        direction.astype(jnp.float32),
    )


def engine_impulses(
    action: jax.Array,
    angle: jax.Array,
    origin: jax.Array,
    dispersion: jax.Array,
    continuous: bool,
) -> EngineImpulses:
    """Engine impulses on the hull and their world application points.

    Args:
      action: discrete int[] or continuous f32[2] (see ``throttles``).
      angle: f32[] hull angle before any impulse, rad.
      origin: f32[2] hull origin (``body.position``, not the COM), m.
      dispersion: f32[2] ``(d0, d1)``, m, from ``sample_dispersion``.
      continuous: static flag.
    Returns:
      ``EngineImpulses`` (impulses in N s, points in m, throttles dimensionless).
    """
    chex.assert_rank(angle, 0)
    chex.assert_shape(origin, (2,))
    chex.assert_shape(dispersion, (2,))
    m_power, s_power, direction = throttles(action, continuous)
    angle = jnp.asarray(angle, jnp.float32)
    origin = jnp.asarray(origin, jnp.float32)
    d0, d1 = dispersion[0], dispersion[1]
    tip_x, tip_y = jnp.sin(angle), jnp.cos(angle)
    side_x, side_y = -tip_y, tip_x

    # Main engine: nozzle MAIN_ENGINE_Y_LOCATION px below the origin, +-2 d0 along the hull axis.
    a_off = C.MAIN_ENGINE_Y_LOCATION / C.SCALE + C.MAIN_DISPERSION_FACTOR * d0
    main_o = jnp.stack([tip_x * a_off + side_x * d1, -tip_y * a_off - side_y * d1])
    main_point = origin + main_o
    main_impulse = -main_o * (C.MAIN_ENGINE_POWER * m_power)

    # Side engines: lateral offset 3 d1 + direction * 12 px; the point uses 17 px in x, 14 px in y.
    b = C.SIDE_DISPERSION_FACTOR * d1 + direction * (C.SIDE_ENGINE_AWAY / C.SCALE)
    side_o = jnp.stack([tip_x * d0 + side_x * b, -tip_y * d0 - side_y * b])
    side_point = jnp.stack(
        [
            origin[0] + side_o[0] - tip_x * (C.SIDE_ENGINE_X_QUIRK / C.SCALE),
            origin[1] + side_o[1] + tip_y * (C.SIDE_ENGINE_HEIGHT / C.SCALE),
        ]
    )
    side_impulse = -side_o * (C.SIDE_ENGINE_POWER * s_power)
    return EngineImpulses(
        main_impulse=main_impulse.astype(jnp.float32),
        main_point=main_point.astype(jnp.float32),
        side_impulse=side_impulse.astype(jnp.float32),
        side_point=side_point.astype(jnp.float32),
        m_power=m_power,
        s_power=s_power,
    )
