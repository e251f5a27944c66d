"""Box2D's continuous collision (TOI sub-step) for a leg that strikes the terrain mid-step.

After the regular solve, Box2D looks for shapes that would tunnel during the step: a leg whose
core shape came within ``TOI_TARGET`` (0.005 m) of an edge during the step, or started the step
already that close (then the impact is at the step's start; cores that already overlap are given
up on). It rewinds *that leg alone* to its time of impact ``alpha * dt``, pushes it out of the edge,
solves the contact for the leg alone (joints are not part of the TOI island, so the hull is not
involved), and moves the leg for the rest of the step with the new velocity. A fast leg is thereby
stopped and spun about its foot while the hull moves on; the joint is left pulled apart, and the
next steps' joint solver drags the leg back to the hull at whatever angle it was left.

In reduced coordinates the joint cannot open. ``leg_substep`` reproduces the sub-step for the
leg alone (time of impact, push-out, contact solve, motion for the rest of the step), and
``reattach`` closes the joint the way Box2D's position solver does in the next step: the leg turns
about its centre until its anchor meets the hull's joint, so its box (and foot) stays where the
sub-step left it. The hull's pose and velocity are left as they are (Box2D does not touch them)
and the leg keeps its new spin. Its angle may end well outside the joint limits, as in Box2D, and
the limit acts on it in the following steps. Measured against Box2D from the same pre-impact
states (``tests/env/test_toi_parity.py``), the legs' centres after the impact step are off by a
median 6 cm (8 cm without the sub-step), and paired random-policy episodes run to the step limit
about half as often as without it (``scripts/paired_landings.py``).
"""

import jax.numpy as jnp

from rlax_lander.env import collision
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

_TOI_BAUMGARTE = 0.75  # b2_toiBaumgarte
_VELOCITY_ITERATIONS = 4


def leg_substep(at_start, centre0, angle0, centre1, angle1, sep0, sep1, v, w, a, b, friction):
    """One leg's TOI sub-step, the leg alone (Box2D's ``SolveTOI`` for a leg-terrain contact).

    Args:
      at_start: [] bool, the leg starts the step already within the TOI target (impact at alpha 0).
      centre0, angle0: [2], [] the leg's world centre (m) and angle (rad) at the step's start.
      centre1, angle1: [2], [] the same at the end of the regular solve.
      sep0, sep1: [2] the separations (m, core distance minus 0.02) of the leg's two foot corners
        from the terrain at the start and at the end of the regular solve.
      v, w: [2], [] the leg's linear (m/s) and angular (rad/s) velocity after the regular solve.
      a, b: [E, 2] edge endpoints; friction: [E] mixed friction of the leg against each edge.
    Returns:
      ``(centre, angle, w)``: the leg's world centre (m) and angle (rad) at the end of the step,
      and its angular velocity (rad/s) after the leg-alone contact solve.
    """
    local_feet = K.foot_corners_local()
    feet_at = lambda c, th: c[None] + K.rotate(th, local_feet)
    # Time of impact: the first instant a foot corner's core reaches TOI_TARGET from its edge, with
    # the separation interpolated linearly along the leg's sweep (the sweep is linear in Box2D).
    target = C.TOI_TARGET - C.CONTACT_DISTANCE
    frac = jnp.where(sep0 <= target, 0.0, (sep0 - target) / jnp.maximum(sep0 - sep1, 1e-6))
    alpha = jnp.clip(jnp.min(jnp.where(sep1 < target, frac, 1.0)), 0.0, 1.0)
    alpha = jnp.where(at_start, 0.0, alpha)
    c = centre0 + alpha * (centre1 - centre0)
    th = angle0 + alpha * (angle1 - angle0)

    inv_m, inv_i = 1.0 / C.LEG_MASS, 1.0 / C.LEG_INERTIA
    feet = feet_at(c, th)
    sep, n, mu = collision.foot_contacts(feet, a, b, friction)
    r = feet - c[None]
    rn = K.cross(r, n)
    # Position: push the leg out of the edge (one pass of SolveTOIPositionConstraints, leg alone).
    for k in range(2):
        corr = jnp.clip(_TOI_BAUMGARTE * (sep[k] + C.LINEAR_SLOP), -C.MAX_LINEAR_CORRECTION, 0.0)
        impulse = jnp.where(sep[k] < 0.0, -corr / (inv_m + inv_i * rn[k] * rn[k]), 0.0)
        c = c + inv_m * impulse * n[k]
        th = th + inv_i * impulse * rn[k]

    # Velocity: the leg alone against its contacts, restitution 0, Coulomb friction.
    active = sep < 0.0
    t = jnp.stack([n[:, 1], -n[:, 0]], -1)
    rt = K.cross(r, t)
    k_n = 1.0 / (inv_m + inv_i * rn * rn)
    k_t = 1.0 / (inv_m + inv_i * rt * rt)
    acc_n, acc_t = [0.0, 0.0], [0.0, 0.0]
    for _ in range(_VELOCITY_ITERATIONS):
        for k in range(2):
            vp = v + w * jnp.stack([-r[k, 1], r[k, 0]])
            new_t = jnp.clip(acc_t[k] - jnp.dot(vp, t[k]) * k_t[k], -mu[k] * acc_n[k], mu[k] * acc_n[k])
            d = jnp.where(active[k], new_t - acc_t[k], 0.0)
            v, w, acc_t[k] = v + inv_m * d * t[k], w + inv_i * d * rt[k], acc_t[k] + d
            vp = v + w * jnp.stack([-r[k, 1], r[k, 0]])
            new_n = jnp.maximum(acc_n[k] - jnp.dot(vp, n[k]) * k_n[k], 0.0)
            d = jnp.where(active[k], new_n - acc_n[k], 0.0)
            v, w, acc_n[k] = v + inv_m * d * n[k], w + inv_i * d * rn[k], acc_n[k] + d

    rest = (1.0 - alpha) * C.DT
    c = c + rest * v
    th = th + jnp.clip(rest * w, -C.MAX_ROTATION, C.MAX_ROTATION)
    return c, th, w


def reattach(leg, centre, hinge):
    """World angle [] (rad) of leg ``leg`` re-attached to the hull's joint at ``hinge`` [2] after a
    sub-step left its centre at ``centre`` [2].

    This is Box2D's joint position correction, which closes the stretched joint in the next step:
    its impulse acts at the leg's anchor, 0.9 m from the leg's centre, where the leg's effective
    inverse mass is dominated by rotation (r^2 / I = 450 vs 1 / m = 14 per kg). The mass-weighted
    projection back onto the joint therefore turns the leg about its centre until its anchor points
    at the hinge (the leftover pull toward the sub-step's angle is I / (m |a|^2) = 3 %, dropped),
    which keeps the leg's box, and so its foot, where the sub-step left it.
    """
    q = hinge - centre
    a_local = jnp.asarray(C.LEG_ANCHOR)[leg]
    return jnp.arctan2(q[1], q[0]) - jnp.arctan2(a_local[1], a_local[0])

