"""Target-network updates: Polyak ("soft"), periodic copy ("hard") and "none"."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def polyak_update(online, target, tau):
    """target <- tau * online + (1 - tau) * target, leafwise. tau in [0, 1] (may be traced):
    tau = 1 copies online, tau = 0 leaves target unchanged."""
    chex.assert_trees_all_equal_shapes(online, target)
    return optax.incremental_update(online, target, tau)


def periodic_update(online, target, step, period: int):
    """Copy online -> target when `step % period == 0` (step: int scalar, e.g. the number of
    gradient updates done so far, counted after the current one; period: int or a traced
    whole number >= 1, e.g. a float32 hyperparameter); else keep target."""
    chex.assert_trees_all_equal_shapes(online, target)
    period = jnp.round(jnp.asarray(period)).astype(jnp.int32)
    copy = (jnp.asarray(step, jnp.int32) % period) == 0
    return jax.tree.map(lambda o, t: jnp.where(copy, o, t), online, target)


def update_target(mode: str, online, target, step, period: int, tau):
    """Dispatch on the (static) target mode.

    "none": returns online (targets computed from online params).
    "hard": `periodic_update(online, target, step, period)`.
    "soft": Polyak step with `tau` every `period` updates (period 1: after every update).
    `period` may be a Python int or a traced scalar (then it is vmappable).
    """
    if mode == "none":
        return online
    if mode == "hard":
        return periodic_update(online, target, step, period)
    if mode == "soft":
        if isinstance(period, int) and period == 1:
            return polyak_update(online, target, tau)
        return periodic_update(polyak_update(online, target, tau), target, step, period)
    raise ValueError(f"target mode={mode!r} is unknown; allowed: 'none', 'hard', 'soft'")
