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

import jax
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



_HULL_LOCAL = jnp.asarray(C.LANDER_POLY - C.HULL_COM)  # [6, 2] hull vertices about its centre of mass
_HULL_VELOCITY_ITERATIONS = 8
_HULL_POSITION_ITERATIONS = 3
_HULL_SUBSTEPS = 2  # TOI sub-steps of the hull in its terminal step (Box2D allows 8 per contact)


def hull_friction():
    """Mixed friction [WINDOW_EDGES + 1] of the hull against the edge window: terrain, then bottom."""
    terrain = (C.HULL_FRICTION * C.TERRAIN_FRICTION) ** 0.5
    bottom = (C.HULL_FRICTION * C.BOTTOM_EDGE_FRICTION) ** 0.5
    return jnp.asarray([terrain] * collision.WINDOW_EDGES + [bottom], jnp.float32)


def _hull_separation(c, th, a, b, friction, terrain):
    """The hull's contact candidates with its centre of mass at ``c`` [2] (m) and angle ``th`` []:
    its 6 vertices against the edges, then the window's convex terrain vertices against its faces.

    ``terrain`` is ``(verts [V, 2], convex [V] bool)``. Returns separations [6 + V] (m, core
    distance minus 0.02), normals [6 + V, 2] (the direction the terrain pushes the hull), friction
    [6 + V] and the contact points relative to the centre of mass [6 + V, 2] (m).
    """
    r_hull = K.rotate(th, _HULL_LOCAL)
    sep_v, n_v, mu_v = collision.foot_contacts(c[None] + r_hull, a, b, friction)
    verts, convex = terrain
    # A terrain vertex inside (or within the skin of) the hull: the least-penetrated face decides.
    q = K.rotate(-th, verts - c[None])  # [V, 2] in the hull's frame about its centre of mass
    edge = jnp.roll(_HULL_LOCAL, -1, axis=0) - _HULL_LOCAL
    out = jnp.stack([edge[:, 1], -edge[:, 0]], -1) / jnp.linalg.norm(edge, axis=-1, keepdims=True)
    dist = jnp.sum((q[:, None] - _HULL_LOCAL[None]) * out[None], -1)  # [V, 6] outward distances
    face = jnp.argmax(dist, axis=1)
    sep_t = jnp.where(convex, jnp.max(dist, axis=1), 1e6) - C.CONTACT_DISTANCE
    n_t = -K.rotate(th, out[face])
    sep = jnp.concatenate([sep_v, sep_t])
    n = jnp.concatenate([n_v, n_t])
    mu = jnp.concatenate([mu_v, jnp.full(verts.shape[0], friction[0])])
    return sep, n, mu, jnp.concatenate([r_hull, verts - c[None]])


def _impact_fraction(sep0, sep1):
    """Fraction [] of a linear sweep at which the first vertex (separations [V] at its start and
    end) reaches the TOI target; 1 when none does, 0 when one starts there."""
    target = C.TOI_TARGET - C.CONTACT_DISTANCE
    frac = jnp.where(sep0 <= target, 0.0, (sep0 - target) / jnp.maximum(sep0 - sep1, 1e-6))
    return jnp.clip(jnp.min(jnp.where(sep1 < target, frac, 1.0)), 0.0, 1.0)


def _hull_contact_solve(c, th, v, w, a, b, friction, terrain):
    """The hull alone against the terrain at its pose ``(c [2] m, th [] rad)``: push-out passes
    (Baumgarte 0.75), then a sequential-impulse solve of the velocity ``(v [2] m/s, w [] rad/s)``
    over every vertex below the skin (restitution 0, Coulomb friction). Returns ``(c, th, v, w)``."""
    inv_m, inv_i = 1.0 / C.HULL_MASS, 1.0 / C.HULL_INERTIA
    n_verts = _HULL_LOCAL.shape[0] + terrain[0].shape[0]

    def position_pass(_, pose):
        c, th = pose
        sep, n, _, r = _hull_separation(c, th, a, b, friction, terrain)
        rn = K.cross(r, n)
        for k in range(n_verts):
            corr = jnp.clip(_TOI_BAUMGARTE * (sep[k] + C.LINEAR_SLOP), -C.MAX_LINEAR_CORRECTION, 0.0)
            impulse = jnp.where(sep[k] < 0.0, -corr / (inv_m + inv_i * rn[k] * rn[k]), 0.0)
            c = c + inv_m * impulse * n[k]
            th = th + inv_i * impulse * rn[k]
        return c, th

    c, th = jax.lax.fori_loop(0, _HULL_POSITION_ITERATIONS, position_pass, (c, th))
    sep, n, mu, r = _hull_separation(c, th, a, b, friction, terrain)
    active = sep < 0.0
    t = jnp.stack([n[:, 1], -n[:, 0]], -1)
    rn, rt = K.cross(r, n), K.cross(r, t)
    k_n = 1.0 / (inv_m + inv_i * rn * rn)
    k_t = 1.0 / (inv_m + inv_i * rt * rt)

    def sweep(_, carry):
        v, w, acc_n, acc_t = carry
        for k in range(n_verts):
            vp = v + w * jnp.stack([-r[k, 1], r[k, 0]])
            new_t = jnp.clip(acc_t[k] - jnp.dot(vp, t[k]) * k_t[k], -mu[k] * acc_n[k], mu[k] * acc_n[k])
            d = jnp.where(active[k], new_t - acc_t[k], 0.0)
            v, w, acc_t = v + inv_m * d * t[k], w + inv_i * d * rt[k], acc_t.at[k].add(d)
            vp = v + w * jnp.stack([-r[k, 1], r[k, 0]])
            new_n = jnp.maximum(acc_n[k] - jnp.dot(vp, n[k]) * k_n[k], 0.0)
            d = jnp.where(active[k], new_n - acc_n[k], 0.0)
            v, w, acc_n = v + inv_m * d * n[k], w + inv_i * d * rn[k], acc_n.at[k].add(d)
        return v, w, acc_n, acc_t

    zeros = jnp.zeros(n_verts, jnp.float32)
    v, w, _, _ = jax.lax.fori_loop(0, _HULL_VELOCITY_ITERATIONS, sweep, (v, w, zeros, zeros))
    return c, th, v, w


def hull_substep(at_start, com0, angle0, com1, angle1, v, w, a, b, terrain):
    """The hull's contact response on the step it first touches the terrain (the terminal step).

    Box2D's TOI pass treats the hull like a leg (``leg_substep``): the hull alone (joints are not
    part of the TOI island) is rewound to its time of impact, pushed out, its contact solved with
    restitution 0 and Coulomb friction, and moved for the rest of the step; a vertex that strikes
    during that rest (the hull rotating onto its other corner) starts another sub-step. A hull that was
    already touching at the step's start had the contact in the regular solve instead; it is
    treated as an impact at the step's start (alpha 0): the same contact solve on the pre-step
    pose. Every hull vertex below the contact skin is a contact point, and so is every convex
    terrain vertex inside the hull's skin.

    Args:
      at_start: [] bool, the hull touched at the step's start.
      com0, angle0: [2], [] the hull's centre of mass (m) and angle (rad) at the step's start.
      com1, angle1: [2], [] the same after the regular solve.
      v, w: [2], [] its velocity (m/s) and angular velocity (rad/s) after the regular solve.
      a, b: [E, 2] the edge window's endpoints; terrain: ``(verts [V, 2], convex [V] bool)`` its
        vertices.
    Returns:
      ``(com, angle, v, w)`` at the end of the step.
    """
    friction = hull_friction()
    sep0 = _hull_separation(com0, angle0, a, b, friction, terrain)[0]
    sep1 = _hull_separation(com1, angle1, a, b, friction, terrain)[0]
    alpha = jnp.where(at_start, 0.0, _impact_fraction(sep0, sep1))
    c = com0 + alpha * (com1 - com0)
    th = angle0 + alpha * (angle1 - angle0)
    c, th, v, w = _hull_contact_solve(c, th, v, w, a, b, friction, terrain)

    rest = (1.0 - alpha) * C.DT

    def next_impact(_, carry):  # a vertex not yet touching strikes during the rest of the step
        c, th, v, w, rest = carry
        c_end, th_end = c + rest * v, th + jnp.clip(rest * w, -C.MAX_ROTATION, C.MAX_ROTATION)
        sep_s = _hull_separation(c, th, a, b, friction, terrain)[0]
        sep_e = _hull_separation(c_end, th_end, a, b, friction, terrain)[0]
        target = C.TOI_TARGET - C.CONTACT_DISTANCE
        beta = _impact_fraction(jnp.where(sep_s > target, sep_s, 1.0), sep_e)
        c2, th2 = c + beta * (c_end - c), th + beta * (th_end - th)
        c2, th2, v2, w2 = _hull_contact_solve(c2, th2, v, w, a, b, friction, terrain)
        hit = beta < 1.0
        pick = lambda x2, x1: jnp.where(hit, x2, x1)
        return pick(c2, c), pick(th2, th), pick(v2, v), pick(w2, w), jnp.where(hit, (1.0 - beta) * rest, rest)

    c, th, v, w, rest = jax.lax.fori_loop(0, _HULL_SUBSTEPS - 1, next_impact, (c, th, v, w, rest))
    return c + rest * v, th + jnp.clip(rest * w, -C.MAX_ROTATION, C.MAX_ROTATION), v, w
