"""Box2D's continuous collision (TOI sub-step) for a leg that strikes the terrain mid-step.

After the regular solve, Box2D looks for shapes that would tunnel during the step: a leg whose
core shape came within ``TOI_TARGET`` (0.005 m) of an edge during the step, or started the step
already that close (then the impact is at the step's start; cores that already overlap are given
up on). It rewinds *that leg alone* to its time of impact ``alpha * dt``, pushes it out of the edge,
solves the contact for the leg alone (joints are not part of the TOI island, so the hull is not
involved), and moves the leg for the rest of the step with the new velocity. A fast leg is thereby
stopped and spun about its foot while the hull moves on; the joint is left pulled apart, and the
next steps' joint solver drags the leg back to the hull at whatever angle it was left.

``leg_substep`` reproduces the sub-step for the leg alone (time of impact, push-out, contact
solve, motion for the rest of the step). The physics step leaves the leg where the sub-step put it
and records how far its anchor ended from the hull's as the joint gap (``EnvState.joint_gap``); the
next step's ``physics.joint_closure`` closes it as Box2D's position solver does. The hull's pose and
velocity are left as they are (Box2D does not touch them) and the leg keeps its new spin. Its
angle may end well outside the joint limits, as in Box2D, and the limit acts on it in the following
steps. Measured against Box2D from the same pre-impact states: ``tests/env/test_toi_parity.py``.
"""

import jax
import jax.numpy as jnp

from rlax_lander.env import collision
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

_TOI_BAUMGARTE = 0.75  # b2_toiBaumgarte
_VELOCITY_ITERATIONS = 4
_CORNERS = 4  # a leg box's corners, all candidates for the impact
_MANIFOLD = 2  # contact points solved: the deepest corners
# Position passes of the push-out: Box2D allows 20 but stops once solved; two suffice from an
# impact at the TOI target, three cover a leg that starts the step deeper (impact at alpha 0).
_TOI_POSITION_PASSES = 3


def _push_out(c, th, sep, n, rn, k_n):
    """Box2D's ``SolveTOIPositionConstraints`` loop on the leg alone: push it out of the edge.

    Each pass corrects the manifold points in turn (Baumgarte 0.75, the separation re-measured
    after the previous point's correction), and the loop ends after the first pass whose points
    were all at least -1.5 slop deep *before* their corrections. From an impact at the TOI target
    (separation -0.015 m) the first pass sees -0.015 and leaves -0.0075, the second sees -0.0075
    and leaves -0.005625: the leg ends 0.0144 m (core distance) from the edge, not the 0.0125 of a
    single pass. That margin decides whether the leg starts the next step inside the 0.02 m contact
    distance (a solver contact that, with the joint limit, stops the hull) or outside it (another
    TOI that stops the leg alone while the hull falls on), as in Box2D's post-strike clearances.

    Args: ``c`` [2] m and ``th`` [] rad the leg's pose at the time of impact; ``sep`` [M] m the
      points' separations there (core distance minus 0.02; negative = in the manifold);
      ``n`` [M, 2] their unit normals; ``rn`` [M] m the cross products of their levers with ``n``;
      ``k_n`` [M] kg the points' normal effective masses.
    Returns: ``(c, th)`` after the passes.
    """
    inv_m, inv_i = 1.0 / C.LEG_MASS, 1.0 / C.LEG_INERTIA
    in_manifold = sep < 0.0
    # The points' displacement along their normals since the time of impact (linear in the small
    # turn), so each correction sees the earlier ones as Box2D's per-point re-measure does. The
    # passes are a loop, not unrolled: the carried values are then materialised once per pass,
    # which keeps XLA from fusing (and recomputing) the whole chain into each of its consumers.
    coupling = inv_m * (n @ n.T) + inv_i * rn[:, None] * rn[None, :]  # [M, M] m per N s

    def one_pass(_, carry):
        c, th, moved, done = carry
        min_sep = jnp.zeros((), jnp.float32)
        for k in range(_MANIFOLD):
            s = sep[k] + moved[k]
            min_sep = jnp.where(in_manifold[k], jnp.minimum(min_sep, s), min_sep)
            corr = jnp.clip(_TOI_BAUMGARTE * (s + C.LINEAR_SLOP), -C.MAX_LINEAR_CORRECTION, 0.0)
            impulse = jnp.where(in_manifold[k] & ~done, -corr * k_n[k], 0.0)
            c = c + inv_m * impulse * n[k]
            th = th + inv_i * impulse * rn[k]
            moved = moved + impulse * coupling[k]
        return c, th, moved, done | (min_sep >= -1.5 * C.LINEAR_SLOP)

    c, th, _, _ = jax.lax.fori_loop(0, _TOI_POSITION_PASSES, one_pass,
                                    (c, th, jnp.zeros(_MANIFOLD, jnp.float32), jnp.array(False)))
    return c, th


def leg_substep(at_start, centre0, angle0, centre1, angle1, sep0, sep1, v, w, a, b, friction):
    """One leg's TOI sub-step, the leg alone (Box2D's ``SolveTOI`` for a leg-terrain contact).

    Args:
      at_start: [] bool, the leg starts the step already within the TOI target (impact at alpha 0).
      centre0, angle0: [2], [] the leg's world centre (m) and angle (rad) at the step's start.
      centre1, angle1: [2], [] the same at the end of the regular solve.
      sep0, sep1: [4] the separations (m, core distance minus 0.02) of the leg's four corners
        (``K.leg_corners_local`` order) from the terrain at the start and at the end of the
        regular solve. Any corner can strike first: a leg lying on its side, or folded under a
        tilted hull, meets the terrain with a corner of its joint end.
      v, w: [2], [] the leg's linear (m/s) and angular (rad/s) velocity after the regular solve.
      a, b: [E, 2] edge endpoints; friction: [E] mixed friction of the leg against each edge.
    Returns:
      ``(centre, angle, w)``: the leg's world centre (m) and angle (rad) at the end of the step,
      and its angular velocity (rad/s) after the leg-alone contact solve.
    """
    local_corners = K.leg_corners_local()
    corners_at = lambda c, th: c[None] + K.rotate(th, local_corners)
    # Time of impact: the first instant a corner's core reaches TOI_TARGET from its edge, with
    # the separation interpolated linearly along the leg's sweep (the sweep is linear in Box2D).
    target = C.TOI_TARGET - C.CONTACT_DISTANCE
    frac = jnp.where(sep0 <= target, 0.0, (sep0 - target) / jnp.maximum(sep0 - sep1, 1e-6))
    alpha = jnp.clip(jnp.min(jnp.where(sep1 < target, frac, 1.0)), 0.0, 1.0)
    alpha = jnp.where(at_start, 0.0, alpha)
    c = centre0 + alpha * (centre1 - centre0)
    th = angle0 + alpha * (angle1 - angle0)

    inv_m, inv_i = 1.0 / C.LEG_MASS, 1.0 / C.LEG_INERTIA
    corners = corners_at(c, th)
    sep4, n4, mu4 = collision.foot_contacts(corners, a, b, friction)
    # The two deepest corners: a box-against-edge manifold has at most two points.
    first = jnp.argmin(sep4)
    second = jnp.argmin(jnp.where(jnp.arange(_CORNERS) == first, jnp.inf, sep4))
    pick = jnp.stack([first, second])
    sep, n, mu, r = sep4[pick], n4[pick], mu4[pick], corners[pick] - c[None]
    rn = K.cross(r, n)
    k_n = 1.0 / (inv_m + inv_i * rn * rn)
    c, th = _push_out(c, th, sep, n, rn, k_n)

    # Velocity: the leg alone against its contacts, restitution 0, Coulomb friction.
    active = sep < 0.0
    t = jnp.stack([n[:, 1], -n[:, 0]], -1)
    rt = K.cross(r, t)
    k_t = 1.0 / (inv_m + inv_i * rt * rt)

    def iteration(_, carry):  # a loop, not unrolled, for the reason given in ``_push_out``
        v, w, acc_n, acc_t = carry
        for k in range(_MANIFOLD):
            vp = v + w * jnp.stack([-r[k, 1], r[k, 0]])
            new_t = jnp.clip(acc_t[k] - jnp.dot(vp, t[k]) * k_t[k], -mu[k] * acc_n[k], mu[k] * acc_n[k])
            d = jnp.where(active[k], new_t - acc_t[k], 0.0)
            v, w, acc_t = v + inv_m * d * t[k], w + inv_i * d * rt[k], acc_t.at[k].add(d)
            vp = v + w * jnp.stack([-r[k, 1], r[k, 0]])
            new_n = jnp.maximum(acc_n[k] - jnp.dot(vp, n[k]) * k_n[k], 0.0)
            d = jnp.where(active[k], new_n - acc_n[k], 0.0)
            v, w, acc_n = v + inv_m * d * n[k], w + inv_i * d * rn[k], acc_n.at[k].add(d)
        return v, w, acc_n, acc_t

    zeros = jnp.zeros(_MANIFOLD, jnp.float32)
    v, w, _, _ = jax.lax.fori_loop(0, _VELOCITY_ITERATIONS, iteration, (v, w, zeros, zeros))

    rest = (1.0 - alpha) * C.DT
    c = c + rest * v
    th = th + jnp.clip(rest * w, -C.MAX_ROTATION, C.MAX_ROTATION)
    return c, th, w


_HULL_LOCAL = jnp.asarray(C.LANDER_POLY - C.HULL_COM)  # [6, 2] hull vertices about its centre of mass
_HULL_HALF_WIDTH = float(abs(C.LANDER_POLY[:, 0]).max())  # m


def hull_friction(num_edges: int):
    """Mixed friction [num_edges] of the hull against terrain edges."""
    return jnp.full(num_edges, (C.HULL_FRICTION * C.TERRAIN_FRICTION) ** 0.5, jnp.float32)


def _hull_separation(c, th, a, b, friction):
    """Separations [6] (m, core distance minus 0.02), normals [6, 2] (out of the terrain) and
    friction [6] of the hull's vertices with its centre of mass at ``c`` [2] (m) and angle ``th`` [],
    and the vertices relative to the centre of mass [6, 2] (m).

    The terrain is a height field, so each vertex is measured against the edge below or above it
    (its signed distance to that edge's line); rounded edge ends are not modelled. A fraction of
    ``collision.foot_contacts``'s cost, which matters because this runs for every env and step.
    """
    r = K.rotate(th, _HULL_LOCAL)
    px, py = c[0] + r[:, 0], c[1] + r[:, 1]
    ex, ey = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    inv_len = jax.lax.rsqrt(ex * ex + ey * ey)
    nx, ny = -ey * inv_len, ex * inv_len
    over = (px[:, None] >= a[None, :, 0]) & (px[:, None] < b[None, :, 0])  # [6, E]
    pick = lambda x: jnp.sum(jnp.where(over, x[None], 0.0), axis=1)
    nxv, nyv = pick(nx), pick(ny)
    sep = (px - pick(a[:, 0])) * nxv + (py - pick(a[:, 1])) * nyv - C.CONTACT_DISTANCE
    sep = jnp.where(jnp.any(over, axis=1), sep, 1e6)
    return sep, jnp.stack([nxv, nyv], -1), pick(friction), r


def _hull_contact_solve(c, th, v, w, a, b, friction):
    """The hull alone against the terrain at its pose ``(c [2] m, th [] rad)`` through its deepest
    vertex (one point, as in most of Box2D's manifolds of a tilted hull against an edge): a push-out
    (Baumgarte 0.75), then the contact's velocity solve in closed form (normal, friction bounded by
    it, normal again; restitution 0) on ``(v [2] m/s, w [] rad/s)``. Returns ``(c, th, v, w)``."""
    inv_m, inv_i = 1.0 / C.HULL_MASS, 1.0 / C.HULL_INERTIA
    sep_all, n, mu_all, r_all = _hull_separation(c, th, a, b, friction)
    deepest = jnp.arange(sep_all.shape[0]) == jnp.argmin(sep_all)
    pick = lambda x: jnp.sum(jnp.where(deepest, x, 0.0))
    sep, nx, ny, mu, rx, ry = (pick(x) for x in (sep_all, n[:, 0], n[:, 1], mu_all, r_all[:, 0], r_all[:, 1]))
    active = sep < 0.0
    tx, ty = ny, -nx
    rn, rt = rx * ny - ry * nx, rx * ty - ry * tx
    k_n, k_t = 1.0 / (inv_m + inv_i * rn * rn), 1.0 / (inv_m + inv_i * rt * rt)
    corr = jnp.clip(_TOI_BAUMGARTE * (sep + C.LINEAR_SLOP), -C.MAX_LINEAR_CORRECTION, 0.0)
    push = jnp.where(active, -corr * k_n, 0.0)
    c = c + inv_m * push * jnp.stack([nx, ny])
    th = th + inv_i * push * rn
    vx, vy = v[0], v[1]
    normal = jnp.where(active, jnp.maximum(-((vx - w * ry) * nx + (vy + w * rx) * ny) * k_n, 0.0), 0.0)
    vx, vy, w = vx + inv_m * normal * nx, vy + inv_m * normal * ny, w + inv_i * normal * rn
    fric = jnp.clip(-((vx - w * ry) * tx + (vy + w * rx) * ty) * k_t, -mu * normal, mu * normal)
    vx, vy, w = vx + inv_m * fric * tx, vy + inv_m * fric * ty, w + inv_i * fric * rt
    extra = jnp.where(active, jnp.maximum(-((vx - w * ry) * nx + (vy + w * rx) * ny) * k_n, 0.0), 0.0)
    vx, vy, w = vx + inv_m * extra * nx, vy + inv_m * extra * ny, w + inv_i * extra * rn
    return c, th, jnp.stack([vx, vy]), w


def hull_substep(at_start, clearance0, clearance1, com0, angle0, com1, angle1, v, w, a, b):
    """The hull's contact response on the step it first touches the terrain (the terminal step).

    Box2D's TOI pass treats the hull like a leg (``leg_substep``): the hull alone (joints are not
    part of the TOI island) is rewound to its time of impact, pushed out, its contact solved with
    restitution 0 and Coulomb friction, and moved for the rest of the step; a corner it rotates onto
    meanwhile is solved again at the end of the step (Box2D's next sub-step, not rewound). A hull
    that was already touching at the step's start had the contact in the regular solve instead; it
    is treated as an impact at the step's start (alpha 0): the same solve on the pre-step pose.

    Args:
      at_start: [] bool, the hull touched at the step's start.
      clearance0, clearance1: [] the hull's core distance to the terrain (m, -1 overlapping) at the
        step's start and after the regular solve; the time of impact is where the distance,
        interpolated linearly, reaches the TOI target.
      com0, angle0: [2], [] the hull's centre of mass (m) and angle (rad) at the step's start.
      com1, angle1: [2], [] the same after the regular solve.
      v, w: [2], [] its velocity (m/s) and angular velocity (rad/s) after the regular solve.
      a, b: [E, 2] the terrain edges of the window.
    Returns:
      ``(com, angle, v, w)`` at the end of the step.
    """
    friction = hull_friction(a.shape[0])
    advance = lambda c, th, v, w, dt: (c + dt * v, th + jnp.clip(dt * w, -C.MAX_ROTATION, C.MAX_ROTATION))
    # The clearance is -1 for any overlap: then the end distance is estimated from the speed of the
    # hull's lowest point (its centre's fall plus its spin times the hull's half-width).
    approach = jnp.maximum(-v[1] + jnp.abs(w) * _HULL_HALF_WIDTH, 0.0)
    end = jnp.where(clearance1 < 0.0, jnp.minimum(clearance0 - C.DT * approach, 0.0), clearance1)
    fraction = (clearance0 - C.TOI_TARGET) / jnp.maximum(clearance0 - end, 1e-6)
    alpha = jnp.where(at_start, 0.0, jnp.clip(fraction, 0.0, 1.0))
    c = com0 + alpha * (com1 - com0)
    th = angle0 + alpha * (angle1 - angle0)
    c, th, v, w = _hull_contact_solve(c, th, v, w, a, b, friction)
    c, th = advance(c, th, v, w, (1.0 - alpha) * C.DT)
    c, th, v, w = jax.lax.optimization_barrier((c, th, v, w))  # see ``_push_out``
    return _hull_contact_solve(c, th, v, w, a, b, friction)
