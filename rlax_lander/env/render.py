"""Frames of the JAX LunarLander (numpy/PIL) and their export to GIF/MP4.

``render_frame`` draws one env's state the way Gymnasium's ``LunarLander-v3`` renders its
``rgb_array``: a white background, the sky above the terrain filled black, the helipad flags (a
white 50 px pole at x = 8 m and x = 12 m rising from the helipad height, with a yellow pennant at its
top), and the hull and legs filled purple with a darker outline. The original draws its engine
exhaust as short-lived Box2D particles; this module has no particle state, so given the action of
the last step it draws a short stream of dots, coloured like young particles, out of the main
nozzle and/or the firing side nozzle.

Coordinates: world metres times ``SCALE`` (30 px/m), y flipped so that row 0 is the top of the
image (the original flips its surface the same way).

Everything here runs eagerly in numpy/PIL; the body geometry comes from ``kinematics`` (jitted once),
so the picture and the physics share one definition of the shapes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import imageio
import imageio.v3 as iio
import jax
import numpy as np
from PIL import Image, ImageDraw

from rlax_lander.env import constants as C
from rlax_lander.env import engines, kinematics

# Colours of the original's renderer (RGB).
BACKGROUND_COLOR = (255, 255, 255)  # the ground below the terrain line
SKY_COLOR = (0, 0, 0)
HULL_FILL = (128, 102, 230)  # lander and legs: color1
HULL_OUTLINE = (77, 77, 128)  # lander and legs: color2
POLE_COLOR = (255, 255, 255)
FLAG_COLOR = (204, 204, 0)

FLAG_POLE_PX = 50  # pole height
FLAG_HEIGHT_PX = 10  # pennant: (x, top), (x, top - 10), (x + 25, top - 5)
FLAG_LENGTH_PX = 25

# Exhaust drawing (decoration only): dots spaced along the exhaust direction.
FLAME_DOTS = 6
FLAME_SPACING_PX = 4.0
FLAME_RADIUS_PX = 2.5  # the original's particles have radius 2 px
FLAME_TTL_DECAY = 0.15  # the original ages each particle by 0.15 per rendered frame


def world_to_pixel(xy) -> np.ndarray:
    """World points [..., 2] (m) -> image coordinates [..., 2] (px; x right, y down)."""
    xy = np.asarray(xy, np.float64)
    return np.stack([xy[..., 0] * C.SCALE, C.VIEWPORT_H - xy[..., 1] * C.SCALE], axis=-1)


@jax.jit
def _body_geometry(pos, angle, leg_angle, joint_gap):
    return kinematics.hull_vertices(pos, angle), kinematics.leg_corners(pos, angle, leg_angle, joint_gap)


def _take(x, index):
    x = np.asarray(x)
    return x if index is None else x[index]


def _throttles(action, continuous: bool | None):
    """Numpy mirror of ``engines.throttles`` for drawing: (m_power, s_power, direction)."""
    a = np.asarray(action)
    if continuous is None:
        continuous = a.shape == (2,)
    if continuous:
        a = np.clip(a.astype(np.float64).reshape(2), -1.0, 1.0)
        m_power = (np.clip(a[0], 0.0, 1.0) + 1.0) * 0.5 if a[0] > 0.0 else 0.0
        side_on = abs(a[1]) > C.SIDE_ENGINE_THRESHOLD
        s_power = float(np.clip(abs(a[1]), C.MIN_THROTTLE, 1.0)) if side_on else 0.0
        return float(m_power), s_power, float(np.sign(a[1])) if side_on else 0.0
    k = int(a.reshape(()))
    side_on = k in (1, 3)
    return (1.0 if k == 2 else 0.0), (1.0 if side_on else 0.0), float(k - 2) if side_on else 0.0


def _particle_color(ttl: float) -> tuple[int, int, int]:
    """The original's particle colour at time-to-live ``ttl``."""
    return (
        int(min(1.0, max(0.2, 0.15 + ttl)) * 255),
        int(max(0.2, 0.5 * ttl) * 255),
        int(max(0.2, 0.5 * ttl) * 255),
    )


def _draw_flame(draw: ImageDraw.ImageDraw, start, direction, power: float) -> None:
    """Dots from world point ``start`` [2] (m) along the unit world vector ``direction`` [2]."""
    p0 = world_to_pixel(start)
    d = np.array([direction[0], -direction[1]])  # flip y for the image
    for k in range(FLAME_DOTS):
        c = p0 + d * FLAME_SPACING_PX * (k + 0.5)
        r = FLAME_RADIUS_PX * (1.0 - 0.08 * k)
        draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r],
                     fill=_particle_color(power - FLAME_TTL_DECAY * (k + 1)))


def render_frame(state, action=None, *, continuous: bool | None = None,
                 index: int | None = None) -> np.ndarray:
    """Draws one env of ``state`` as an RGB image.

    Args:
      state: ``EnvState`` of one env (or a batch, with ``index``); jax or numpy leaves.
      action: optional action of the step that produced ``state`` (discrete int in {0..3} or
        continuous [2]); its firing engines are drawn as exhaust. ``None`` draws no exhaust.
      continuous: the action kind; ``None`` infers it from the action's shape ((2,) = continuous).
      index: picks env ``index`` from a batched state (leading axis).
    Returns:
      uint8 [400, 600, 3] image (``VIEWPORT_H`` x ``VIEWPORT_W``), row 0 at the top.
    """
    pos = _take(state.pos, index).astype(np.float32)
    angle = _take(state.angle, index).astype(np.float32)
    leg_angle = _take(state.leg_angle, index).astype(np.float32)
    joint_gap = _take(state.joint_gap, index).astype(np.float32)
    terrain_y = _take(state.terrain_y, index).astype(np.float64)
    if pos.shape != (2,) or terrain_y.shape != (C.CHUNKS,):
        raise ValueError(
            f"render_frame draws one env: expected pos [2] and terrain_y [{C.CHUNKS}], got "
            f"{pos.shape} and {terrain_y.shape}; pass index=i for a batched state"
        )
    hull, legs = (np.asarray(g, np.float64) for g in _body_geometry(pos, angle, leg_angle, joint_gap))

    img = Image.new("RGB", (C.VIEWPORT_W, C.VIEWPORT_H), BACKGROUND_COLOR)
    draw = ImageDraw.Draw(img)

    # Sky: the quadrilateral above each terrain edge, up to the top of the world.
    xs = np.asarray(C.TERRAIN_X, np.float64)
    for i in range(C.NUM_EDGES):
        quad = [(xs[i], terrain_y[i]), (xs[i + 1], terrain_y[i + 1]), (xs[i + 1], C.H), (xs[i], C.H)]
        draw.polygon([tuple(p) for p in world_to_pixel(quad)], fill=SKY_COLOR)

    # Exhaust before the bodies, as the original draws its particles first.
    if action is not None:
        m_power, s_power, direction = _throttles(action, continuous)
        th = float(angle)
        tip = np.array([np.sin(th), np.cos(th)])
        right = np.array([np.cos(th), np.sin(th)])  # hull's +x axis in the world
        if m_power > 0.0:
            nozzle = pos + np.array([tip[0], -tip[1]]) * (C.MAIN_ENGINE_Y_LOCATION / C.SCALE)
            _draw_flame(draw, nozzle, np.array([tip[0], -tip[1]]), m_power)
        if s_power > 0.0:
            out = -direction * right  # the side nozzle's outward direction
            nozzle = np.array([
                pos[0] + out[0] * C.SIDE_ENGINE_AWAY / C.SCALE - tip[0] * C.SIDE_ENGINE_X_QUIRK / C.SCALE,
                pos[1] + out[1] * C.SIDE_ENGINE_AWAY / C.SCALE + tip[1] * C.SIDE_ENGINE_HEIGHT / C.SCALE,
            ])
            _draw_flame(draw, nozzle, out, s_power)

    # Hull, then legs (the original's draw list order).
    for poly in (hull, legs[0], legs[1]):
        draw.polygon([tuple(p) for p in world_to_pixel(poly)], fill=HULL_FILL, outline=HULL_OUTLINE)

    # Helipad flags.
    for x in (C.HELIPAD_X1, C.HELIPAD_X2):
        px = x * C.SCALE
        base = C.VIEWPORT_H - C.HELIPAD_Y * C.SCALE
        top = base - FLAG_POLE_PX
        draw.line([(px, base), (px, top)], fill=POLE_COLOR, width=1)
        draw.polygon(
            [(px, top), (px, top + FLAG_HEIGHT_PX), (px + FLAG_LENGTH_PX, top + FLAG_HEIGHT_PX / 2)],
            fill=FLAG_COLOR,
        )
    return np.asarray(img, np.uint8)


@functools.lru_cache(maxsize=16)
def _jitted(env):
    return jax.jit(env.reset_env), jax.jit(env.step_env)


def rollout_frames(env, params, policy_fn: Callable, key: jax.Array,
                   max_steps: int | None = None) -> list[np.ndarray]:
    """Frames of one episode of ``policy_fn`` in the JAX env (no auto-reset).

    Args:
      env: the JAX ``LunarLander`` (any gymnax env whose state has the lander fields).
      params: its ``EnvParams``.
      policy_fn: ``obs f32[8] -> action`` (numpy or jnp; int for discrete, [2] for continuous).
      key: PRNG key; split into the reset key and one fresh key per step.
      max_steps: at most this many steps (default ``params.max_steps_in_episode``).
    Returns:
      list of uint8 [400, 600, 3] frames: the reset state, then one per step (with its exhaust);
      the episode stops at termination or ``max_steps``.
    """
    continuous = bool(getattr(env, "continuous", False))
    if max_steps is None:
        max_steps = int(params.max_steps_in_episode)
    reset, step = _jitted(env)
    key, k_reset = jax.random.split(key)
    obs, state = reset(k_reset, params)
    frames = [render_frame(state)]
    for _ in range(max_steps):
        action = np.asarray(policy_fn(obs))
        engines.validate_action(action, continuous)
        key, k_step = jax.random.split(key)
        obs, state, _, terminated, _ = step(k_step, state, action, params)
        frames.append(render_frame(state, action, continuous=continuous))
        if bool(terminated):
            break
    return frames


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: int = 50) -> None:
    """Writes ``frames`` (uint8 [T, H, W, 3]) as a looping GIF at ``fps`` frames per second.

    GIF delays are stored in 1/100 s, so fps = 50 plays at 20 ms per frame. The GIF writer (Pillow)
    merges identical consecutive frames into one frame with the summed delay, so the file may hold
    fewer frames than given while the playback time stays ``len(frames) / fps``.
    """
    arr = _stack(frames)
    iio.imwrite(path, arr, extension=".gif", duration=1000.0 / fps, loop=0)


def save_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: int = 50) -> None:
    """Writes ``frames`` (uint8 [T, H, W, 3]) as an H.264 MP4; needs ``imageio-ffmpeg``.

    Raises:
      RuntimeError: when imageio-ffmpeg is not installed (``pip install imageio-ffmpeg``).
    """
    try:
        import imageio_ffmpeg  # noqa: F401  (optional: only MP4 output needs it)
    except ImportError as e:
        raise RuntimeError(
            "save_mp4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
            "use save_gif for a dependency-free animation"
        ) from e

    arr = _stack(frames)
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=8) as writer:
        for frame in arr:
            writer.append_data(frame)


def _stack(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or len(arr) == 0:
        raise ValueError(f"frames must be a non-empty uint8 [T, H, W, 3] stack, got {arr.dtype} {arr.shape}")
    return arr
