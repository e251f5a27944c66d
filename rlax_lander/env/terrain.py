"""Terrain generation of ``LunarLander-v3`` (reference section 4.1).

The original draws ``CHUNKS + 1 = 12`` raw heights uniformly in ``[0, H/2)``, overwrites the five
around the helipad (raw indices 3..7) with ``HELIPAD_Y = H/4`` and smooths with the literal factor
0.33 (not 1/3): ``y[i] = 0.33 * (h[i-1] + h[i] + h[i+1])`` for ``i = 0..10``, where ``h[-1]`` is
Python's wrap-around, i.e. ``h[11]``. The result is the height of the terrain at the sample abscissae
``TERRAIN_X = 0, 2, ..., 20`` m; the ten terrain edges join consecutive samples.
"""

import chex
import jax
import jax.numpy as jnp

from rlax_lander.env import constants as C

NUM_RAW_HEIGHTS = C.CHUNKS + 1  # 12 uniforms drawn by the original
# Raw indices overwritten with HELIPAD_Y: CHUNKS//2 - 2 .. CHUNKS//2 + 2 -> 3..7.
HELIPAD_RAW_FIRST = C.CHUNKS // 2 - 2
HELIPAD_RAW_LAST = C.CHUNKS // 2 + 2


def terrain_from_raw(raw: jax.Array) -> jax.Array:
    """Smoothed terrain heights from the original's 12 raw height draws.

    Args:
      raw: f32[12] raw heights, m (the original's ``np_random.uniform(0, H/2, size=12)``).
    Returns:
      f32[11] terrain heights at ``TERRAIN_X`` (x = 0, 2, ..., 20 m), m.
    """
    chex.assert_shape(raw, (NUM_RAW_HEIGHTS,))
    h = jnp.asarray(raw, jnp.float32)
    h = h.at[HELIPAD_RAW_FIRST : HELIPAD_RAW_LAST + 1].set(jnp.float32(C.HELIPAD_Y))
    left = jnp.roll(h, 1)[: C.CHUNKS]  # h[i-1], with h[-1] = h[11]
    mid = h[: C.CHUNKS]
    right = h[1 : C.CHUNKS + 1]
    # Same summation order as the original: (h[i-1] + h[i]) + h[i+1], then times 0.33.
    return jnp.float32(C.TERRAIN_SMOOTHING) * ((left + mid) + right)


def sample_raw_heights(key: jax.Array) -> jax.Array:
    """The 12 raw height draws, each uniform in ``[0, H/2)`` m.

    Args:
      key: PRNG key.
    Returns:
      f32[12] raw heights, m.
    """
    return jax.random.uniform(
        key, (NUM_RAW_HEIGHTS,), jnp.float32, minval=0.0, maxval=C.H / 2.0
    )


def sample_terrain(key: jax.Array) -> jax.Array:
    """Random terrain with the original's distribution (not its numpy stream).

    Args:
      key: PRNG key.
    Returns:
      f32[11] terrain heights at x = 0, 2, ..., 20 m, m.
    """
    return terrain_from_raw(sample_raw_heights(key))
