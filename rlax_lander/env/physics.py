"""One Box2D ``world.Step`` of the lander scene, purpose-built and in reduced coordinates.

Box2D solves hull, legs and joints in maximal coordinates with 180 sequential-impulse sweeps,
because each 0.071 kg leg hangs on the 4.8 kg hull by a point constraint that Gauss-Seidel
converges on slowly. Here each leg is one angle relative to the hull, so the joints' velocity
constraints hold by construction and the slow mode is gone. A joint's *position* error, which
Box2D's TOI pass leaves when it moves a struck leg alone, is kept as a per-leg offset
(``EnvState.joint_gap``): the leg's shapes sit that far from the closed chain, it moves like the
closed chain, and the next step's ``joint_closure`` closes it as Box2D's position solve does.
``world_step`` runs, in Box2D's order, the stages:

1. ``contact_events``: Box2D's Collide at the pre-step poses turns the proximity found at the end
   of the previous step into begin/end events (leg flags, ``game_over``);
2. ``collide``: the solver's six leg contacts at the pre-step poses (four foot corners, one convex
   terrain vertex against each foot face), the legs displaced by their joint gaps;
3. ``apply_external``: gravity, wind, turbulence and engine impulses through the exact 5x5 mass
   matrix;
4. ``constraint_rows``: Jacobian rows [motor0, limit0, motor1, limit1, (tangent, normal) x 6];
5. ``warm_start``: last step's accumulated impulses where the constraint persists;
6. ``solve_velocities``: sequential impulses (``velocity_sweeps``), per sweep the leg motors (max
   40 N m), the joint limits (state decided from the pre-step angle), then per contact friction
   and normal (on a CPU only for the envs of a batch that touch); on a step where a contact has
   no warm start, Box2D's own unconverged 180 sweeps in body coordinates instead
   (``body_solve``), the legs' slip off the chain opening their joints;
7. ``integrate``: positions, with Box2D's per-step translation/rotation clamps on the hull;
8. ``joint_closure``: the revolute joints' point correction closes the joint gaps (Box2D moves
   the leg, and the hull by under 0.1 % of it, by the full error: the leg turns about its centre);
9. ``position_correction``: contacts (Baumgarte 0.2, slop 0.005 m, max 0.2 m), then limits
   (2 deg slop, max 8 deg), stopping once solved like Box2D's early exit;
10. ``toi_pass``: Box2D's continuous collision for a leg that strikes the terrain mid-step
   (``toi.py``): the leg alone is rewound, stopped and spun, and left where the sub-step put it,
   its joint open by a new gap;
11. ``proximity``: end-of-step clearances: the TOI pass's own contact events, the hull's touch,
    and the proximity the next step's ``contact_events`` and TOI test start from;
12. ``sleep``: island sleep bookkeeping (25 quiet steps with a solved position pass);
13. ``hull_response``: on the step the hull first touches the terrain (which ends the episode),
    Box2D's TOI response of the hull alone (``toi.hull_substep``), so the final observation of a
    crash carries the impact as Box2D's does. The hull takes part in no other step's solve.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlax_lander.env import body_solve, collision, sparse, toi
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K
from rlax_lander.env import state as state_lib

# Contacts: two foot corners per leg (0, 1 on leg 0; 2, 3 on leg 1), then one convex terrain
# vertex against each leg's foot face (4 on leg 0, 5 on leg 1).
NUM_CONTACTS = state_lib.NUM_CONTACTS
_CONTACT_LEG = (0, 0, 1, 1, 0, 1)
# Solver rows: [motor0, limit0, motor1, limit1], then (tangent, normal) per contact.
NUM_ROWS = 4 + 2 * NUM_CONTACTS
# Passes of ``joint_closure`` per step (after two a 0.3 m gap is left at 0.01 mm, 0.5 m at 0.2 mm).
JOINT_CLOSURE_ITERATIONS = 2
# The velocity sweeps with contact rows gather one env per this many of a batch
# (``sparse.sparse_where``); under random play about 31 of 1024 envs touch per step, at most 65.
CONTACT_ROWS_PER_SLOT = 8
# The same for Box2D's first-contact solve: about 14 of 1024 envs per step of random play (at most
# 44), 32 under the heuristic lander (p99 92).
FIRST_CONTACT_ROWS_PER_SLOT = 4
# Which entries of each row's Jacobian can be non-zero: a motor or limit row touches its own leg
# coordinate only; a contact row touches the hull and its own leg.
_ROW_SPARSITY = [(0, 0, 0, 1, 0)] * 2 + [(0, 0, 0, 0, 1)] * 2 + [
    (1, 1, 1, leg == 0, leg == 1) for leg in _CONTACT_LEG for _ in range(2)
]


class Forces(NamedTuple):
    """External actions on the hull during one step.

    force: [2] N at the hull's centre of mass (initial random force, wind); acts for one step.
    torque: [] N m on the hull (turbulence).
    impulses: [J, 2] N s applied to the hull before the step, at world points ``points`` [J, 2].
    """

    force: jax.Array
    torque: jax.Array
    impulses: jax.Array
    points: jax.Array


class StepInfo(NamedTuple):
    asleep: jax.Array  # [] bool, the island went to sleep this step
    position_solved: jax.Array  # [] bool
    min_separation: jax.Array  # [] m, deepest solver contact separation after the step


class Events(NamedTuple):
    """Contact-event state: touching [2, 11] bool (leg, edge), leg_contact [2] bool (the original's
    ``ground_contact`` flags), game_over [] bool (sticky hull contact)."""

    touching: jax.Array
    leg_contact: jax.Array
    game_over: jax.Array


class Contacts(NamedTuple):
    """The solver's leg contacts at the pre-step poses, in ``_CONTACT_LEG`` order.

    local_points: [6, 2] contact points in their leg's frame, m. points: [6, 2] the same in the
    world, m. normal: [6, 2] unit, out of the terrain. friction: [6] mixed coefficients.
    separation: [6] core distance minus 0.02 m (negative = touching). active: [6] bool, touching.
    anchor: [6, 2] the terrain point of each contact (world, m), fixed for the step.
    corner_separation: [2, 4] the separations of each leg's four corners (for the TOI test), m.
    leg_centres: [2, 2] world leg centres at the pre-step pose (joint gaps included), m.
    joint_gap: [2, 2] the legs' joint gaps at the pre-step pose (``EnvState.joint_gap``), m.
    edge_a, edge_b: [WINDOW_EDGES + 1, 2] the edge window at the pre-step pose (terrain, then bottom).
    """

    local_points: jax.Array
    points: jax.Array
    normal: jax.Array
    friction: jax.Array
    separation: jax.Array
    active: jax.Array
    anchor: jax.Array
    corner_separation: jax.Array
    leg_centres: jax.Array
    joint_gap: jax.Array
    edge_a: jax.Array
    edge_b: jax.Array


class Rows(NamedTuple):
    """Solver rows [NUM_ROWS]: jac [R, 5] Jacobians, w [R, 5] = M^-1 J^T per row, inv_k [R] the
    rows' effective masses (kg, kg m^2)."""

    jac: jax.Array
    w: jax.Array
    inv_k: jax.Array


class Limits(NamedTuple):
    """Joint-limit state of each leg [2] bool, decided once per step from the pre-step angle."""

    at_lower: jax.Array
    at_upper: jax.Array


def _generalised_force(pos, angle, leg_angle, forces: Forces, gravity):
    """Generalised force [5] of gravity and the constant forces (N, N, N m, N m, N m)."""
    com = K.hull_com(pos, angle)
    centres = K.leg_centres(pos, angle, leg_angle)
    leg_w = C.LEG_MASS * gravity
    q = jnp.stack([
        forces.force[0],
        forces.force[1] + (C.HULL_MASS + 2.0 * C.LEG_MASS) * gravity,
        forces.torque + leg_w * jnp.sum(centres[:, 0] - com[0]),
        leg_w * (centres[0, 0] - pos[0]),
        leg_w * (centres[1, 0] - pos[0]),
    ])
    return q


def _impulse_rows(com, forces: Forces):
    """Generalised impulse [5] of the engine impulses applied to the hull."""
    j = forces.impulses
    torque = jnp.sum(K.cross(forces.points - com[None], j))
    return jnp.stack([jnp.sum(j[:, 0]), jnp.sum(j[:, 1]), torque, 0.0, 0.0])


def contact_events(state) -> Events:
    """Box2D's Collide phase at the pre-step pose, as contact events.

    Which shapes are within 0.02 m at the pre-step pose was computed at the end of the previous
    step (the same pose, ``state.near_legs`` / ``state.near_hull``); changes against
    ``state.touching`` are begin/end events. Newer contacts fire first; the end of an older contact
    is processed last and wins.
    """
    touching = state.near_legs
    begin = jnp.any(touching & ~state.touching, axis=1)
    end = jnp.any(~touching & state.touching, axis=1)
    leg_contact = jnp.where(end, False, jnp.where(begin, True, state.leg_contact))
    return Events(touching, leg_contact, state.game_over | state.near_hull)


def collide(state) -> Contacts:
    """The solver's six leg contacts at the pre-step pose (``Contacts``).

    Only the terrain edges within the lander's reach (``collision.edge_window``) are tested.
    """
    pos, angle, leg_angle, gap = state.pos, state.angle, state.leg_angle, state.joint_gap
    a, b, edge_mu, _, verts, convex = collision.edge_window(state.terrain_y, pos[0])
    corners = K.leg_corners(pos, angle, leg_angle, gap)  # [2, 4, 2]
    sep_all, n_all, mu_all = collision.foot_contacts(corners.reshape(8, 2), a, b, edge_mu)
    foot = jnp.array([0, 1, 4, 5])  # the solver's contacts are the foot corners
    sep_c, n_c, mu_c = sep_all[foot], n_all[foot], mu_all[foot]
    leg_world_angle = angle + leg_angle
    centres = K.leg_centres(pos, angle, leg_angle, gap)
    sep_v, n_v, local_v = collision.vertex_face_contacts(centres, leg_world_angle, verts, convex)
    foot_local = jnp.tile(K.foot_corners_local(), (2, 1))  # [4, 2]
    local_pts = jnp.concatenate([foot_local, local_v])
    sep0 = jnp.concatenate([sep_c, sep_v])
    normal = jnp.concatenate([n_c, n_v])
    friction = jnp.concatenate([mu_c, collision.edge_friction()[:2]])
    leg_of = jnp.array(_CONTACT_LEG)
    points = centres[leg_of] + K.rotate(leg_world_angle[leg_of], local_pts)
    anchor = points - (sep0 + C.CONTACT_DISTANCE)[:, None] * normal
    return Contacts(local_points=local_pts, points=points, normal=normal, friction=friction,
                    separation=sep0, active=sep0 < 0.0, anchor=anchor,
                    corner_separation=sep_all.reshape(2, 4), leg_centres=centres, joint_gap=gap,
                    edge_a=a, edge_b=b)


def apply_external(u, pos, angle, leg_angle, m_inv, forces: Forces, gravity):
    """Generalised velocity [5] after one step of gravity and the external forces plus the engine
    impulses, through the exact inverse mass matrix ``m_inv`` [5, 5]."""
    com = K.hull_com(pos, angle)
    q_ext = _generalised_force(pos, angle, leg_angle, forces, gravity) * C.DT
    return u + m_inv @ (q_ext + _impulse_rows(com, forces))


def constraint_rows(pos, com, m_inv, contacts: Contacts) -> Rows:
    """Solver rows of the joint motors and limits (the leg coordinates themselves) and of each
    contact's tangent and normal, at the pre-step pose (hull origin ``pos``, centre of mass ``com``,
    both [2] m). A leg displaced by a joint gap moves like the closed chain (Box2D's joint velocity
    constraint holds the anchors together), so its contacts' levers are taken without the gap."""
    eye = jnp.eye(5, dtype=jnp.float32)
    points = contacts.points - contacts.joint_gap[jnp.array(_CONTACT_LEG)]
    normal = contacts.normal
    tangent = jnp.stack([normal[:, 1], -normal[:, 0]], -1)
    rows = [eye[3], eye[3], eye[4], eye[4]]
    for k in range(NUM_CONTACTS):
        leg = _CONTACT_LEG[k]
        rows.append(K.leg_point_row(points[k], tangent[k], leg, pos, com))
        rows.append(K.leg_point_row(points[k], normal[k], leg, pos, com))
    jac = jnp.stack(rows)  # [NUM_ROWS, 5]
    w = jac @ m_inv  # M^-1 J^T per row (M is symmetric)
    return Rows(jac=jac, w=w, inv_k=1.0 / jnp.sum(jac * w, axis=1))


def joint_limits(leg_angle) -> Limits:
    """Which joint limit each leg sits at, from its relative angle ``leg_angle`` [2] rad."""
    return Limits(at_lower=leg_angle <= jnp.asarray(C.LEG_PHI_LOWER),
                  at_upper=leg_angle >= jnp.asarray(C.LEG_PHI_UPPER))


def warm_start(state, u, rows: Rows, limits: Limits, contacts: Contacts):
    """Box2D's warm start: last step's accumulated impulses, kept where the constraint persists
    (a limit impulse clipped to the side of the limit the leg sits at, contact impulses of active
    contacts). Returns ``(u [5], acc [NUM_ROWS])``, the velocity after applying them and the
    accumulated impulses (N m s, N s) the sweeps start from."""
    limit_acc = jnp.where(limits.at_lower, jnp.maximum(state.limit_impulse, 0.0),
                          jnp.where(limits.at_upper, jnp.minimum(state.limit_impulse, 0.0), 0.0))
    contact_acc = jnp.where(contacts.active[:, None], state.contact_impulse.reshape(NUM_CONTACTS, 2), 0.0)
    motor_acc = state.motor_impulse
    acc = jnp.concatenate([
        jnp.stack([motor_acc[0], limit_acc[0], motor_acc[1], limit_acc[1]]),
        contact_acc.reshape(-1),
    ])
    return u + acc @ rows.w, acc


def velocity_sweeps(u, acc, rows: Rows, limits: Limits, contacts: Contacts, iterations: int,
                    with_contacts: bool = True):
    """``iterations`` sequential-impulse sweeps: per leg the motor (towards ``LEG_MOTOR_SPEED``,
    at most ``LEG_SPRING_TORQUE``) then the limit, then per contact friction then normal.

    Args: u [5] generalised velocity, acc [NUM_ROWS] accumulated impulses (warm start);
      with_contacts (static): False sweeps the joints only, which gives the same result when no
      contact is active and no contact row has a warm start.
    Returns: ``(u, acc)`` after the sweeps.
    """
    max_motor = C.LEG_SPRING_TORQUE * C.DT
    motor_speed = jnp.asarray(C.LEG_MOTOR_SPEED)
    at_lower, at_upper = limits
    active, friction = contacts.active, contacts.friction
    # The sweep works on scalars (tuples, not small arrays): every row update is then plain
    # elementwise arithmetic over the batch, which XLA fuses into one loop body.
    jac_s = [[rows.jac[r, j] for j in range(5)] for r in range(NUM_ROWS)]
    w_s = [[rows.w[r, j] for j in range(5)] for r in range(NUM_ROWS)]
    inv_k_s = [rows.inv_k[r] for r in range(NUM_ROWS)]
    dot = lambda r, u: sum(jac_s[r][j] * u[j] for j in range(5) if _ROW_SPARSITY[r][j])
    add = lambda u, r, d: tuple(u[j] + d * w_s[r][j] for j in range(5))

    def sweep(_, carry):
        u, acc = carry
        u, acc = list(u), list(acc)
        for i in range(2):  # joints: motor, then limit
            r = 2 * i
            new = jnp.clip(acc[r] - (u[3 + i] - motor_speed[i]) * inv_k_s[r], -max_motor, max_motor)
            u = add(u, r, new - acc[r])
            acc[r] = new
            r = 2 * i + 1
            new = acc[r] - u[3 + i] * inv_k_s[r]
            new = jnp.where(at_lower[i], jnp.maximum(new, 0.0),
                            jnp.where(at_upper[i], jnp.minimum(new, 0.0), 0.0))
            u = add(u, r, new - acc[r])
            acc[r] = new
        for k in range(NUM_CONTACTS if with_contacts else 0):  # contacts: friction, then normal
            rt, rn = 4 + 2 * k, 5 + 2 * k
            bound = friction[k] * acc[rn]
            new = jnp.clip(acc[rt] - dot(rt, u) * inv_k_s[rt], -bound, bound)
            new = jnp.where(active[k], new, 0.0)
            u = add(u, rt, new - acc[rt])
            acc[rt] = new
            new = jnp.maximum(acc[rn] - dot(rn, u) * inv_k_s[rn], 0.0)
            new = jnp.where(active[k], new, 0.0)
            u = add(u, rn, new - acc[rn])
            acc[rn] = new
        return tuple(u), tuple(acc)

    u_s, acc_s = jax.lax.fori_loop(
        0, iterations, sweep, (tuple(u[j] for j in range(5)), tuple(acc[r] for r in range(NUM_ROWS)))
    )
    return jnp.stack(u_s), jnp.stack(acc_s)


def integrate(com, angle, leg_angle, u):
    """One explicit step of ``DT`` s with Box2D's per-step clamps on the hull (at most
    ``MAX_TRANSLATION`` m and ``MAX_ROTATION`` rad; the velocity is scaled down to match).

    Returns ``(qpos, u)``: qpos [5] = (centre of mass x, y (m), hull angle, leg angles (rad)) and
    the clamped velocity [5]."""
    trans = C.DT * jnp.linalg.norm(u[0:2])
    u = u.at[0:2].multiply(jnp.where(trans > C.MAX_TRANSLATION, C.MAX_TRANSLATION / trans, 1.0))
    rot = C.DT * jnp.abs(u[2])
    u = u.at[2].multiply(jnp.where(rot > C.MAX_ROTATION, C.MAX_ROTATION / rot, 1.0))
    return jnp.concatenate([com, angle[None], leg_angle]) + C.DT * u, u


def _contact_points(qpos, joint_gap, contacts: Contacts):
    """World points [6, 2] of the contacts at the generalised position ``qpos`` [5] with the legs'
    joint gaps ``joint_gap`` [2, 2] (m)."""
    origin = qpos[0:2] - K.rotate(qpos[2], jnp.asarray(C.HULL_COM))
    leg_of = jnp.array(_CONTACT_LEG)
    c = K.leg_centres(origin, qpos[2], qpos[3:5], joint_gap)
    return c[leg_of] + K.rotate(qpos[2] + qpos[3:5][leg_of], contacts.local_points)


def contact_separation(qpos, joint_gap, contacts: Contacts):
    """Separation [6] (m) of each contact point at ``qpos`` [5] (legs displaced by ``joint_gap``
    [2, 2] m) from its fixed terrain anchor."""
    gap = jnp.sum((_contact_points(qpos, joint_gap, contacts) - contacts.anchor) * contacts.normal, -1)
    return gap - C.CONTACT_DISTANCE


def _hull_anchor(angle):
    """The hull's joint anchor (its origin) relative to its centre of mass [2], m, at ``angle``."""
    return -K.rotate(angle, jnp.asarray(C.HULL_COM))


def joint_closure(qpos, joint_gap, iterations: int = JOINT_CLOSURE_ITERATIONS):
    """Box2D's revolute point correction (the point part of the joints' position solve) on the legs'
    joint gaps, after ``integrate`` and before the contacts' ``position_correction``.

    Each pass moves each leg, in world coordinates, by the impulse ``P = -K^-1 C`` of its joint's
    position error ``C`` (the gap) through the 2x2 effective mass ``K`` of the leg at its anchor.
    Box2D 2.3 corrects this error in full (no Baumgarte factor, slop or clamp: those are the
    contacts' and the limits'); its velocity constraint never closes it, so a gap left by the TOI
    pass lasts until this stage. The 0.071 kg leg, its anchor 0.9 m from its centre, mostly turns
    about its centre (r^2 / I = 450 against 1 / m = 14 per kg). The hull's share of Box2D's
    correction (under 0.1 % of the gap: 4.8 kg, anchor 0.1 m from its centre of mass) is dropped,
    so the legs are independent. Passes remove the linearisation's leftover (second order in the
    turn).

    Args: ``qpos`` [5] (centre of mass x, y (m), hull angle, leg angles (rad)) after ``integrate``;
      ``joint_gap`` [2, 2] m. Returns: ``(qpos [5], joint_gap [2, 2])``.
    """
    m_b, i_b = 1.0 / C.LEG_MASS, 1.0 / C.LEG_INERTIA
    anchor_b = jnp.asarray(C.LEG_ANCHOR)  # [2, 2] each leg's anchor in its frame
    hinge = qpos[0:2] + _hull_anchor(qpos[2])  # the hull's anchor (origin), fixed here
    th_b = qpos[2] + qpos[3:5]  # [2] leg world angles
    r_b = K.rotate(th_b, anchor_b)  # [2, 2] anchor relative to the leg centre
    c_b = hinge[None] - r_b + joint_gap  # [2, 2] leg centres

    def one_pass(_, carry):  # a loop, not unrolled (see ``toi._push_out``)
        c_b, th_b, r_b = carry
        err = c_b + r_b - hinge[None]
        rx, ry = r_b[:, 0], r_b[:, 1]
        k11, k12, k22 = m_b + i_b * ry * ry, -i_b * rx * ry, m_b + i_b * rx * rx
        inv_det = 1.0 / (k11 * k22 - k12 * k12)
        p = -inv_det[:, None] * jnp.stack([k22 * err[:, 0] - k12 * err[:, 1],
                                           k11 * err[:, 1] - k12 * err[:, 0]], -1)
        th_b = th_b + i_b * K.cross(r_b, p)
        return c_b + m_b * p, th_b, K.rotate(th_b, anchor_b)

    c_b, th_b, r_b = jax.lax.fori_loop(0, iterations, one_pass, (c_b, th_b, r_b))
    gap = c_b + r_b - hinge[None]
    return qpos.at[3:5].set(th_b - qpos[2]), gap


def position_correction(qpos, joint_gap, rows: Rows, limits: Limits, contacts: Contacts, iterations: int):
    """Up to ``iterations`` position passes over the contacts (Baumgarte 0.2, slop 0.005 m, at most
    0.2 m) then the joint limits (2 deg slop, at most 8 deg), with the step's effective masses.
    Like Box2D, passes stop once the deepest contact is above -3 slop and the limits within slop.
    The legs are displaced by their joint gaps ``joint_gap`` [2, 2] m (after ``joint_closure``).

    Returns ``(qpos [5], solved [] bool)``."""
    phi_lo, phi_hi = jnp.asarray(C.LEG_PHI_LOWER), jnp.asarray(C.LEG_PHI_UPPER)
    at_lower, at_upper = limits
    active, w, inv_k = contacts.active, rows.w, rows.inv_k

    def position_pass(_, carry):
        qp, solved = carry
        sep = contact_separation(qp, joint_gap, contacts)
        min_sep = jnp.min(jnp.where(active, sep, 0.0))
        dq = jnp.zeros(5, jnp.float32)
        for k in range(NUM_CONTACTS):
            rn = 5 + 2 * k
            ck = jnp.clip(C.BAUMGARTE * (sep[k] + C.LINEAR_SLOP), -C.MAX_LINEAR_CORRECTION, 0.0)
            dq = dq + jnp.where(active[k], -ck * inv_k[rn], 0.0) * w[rn]
        qp = qp + jnp.where(solved, 0.0, 1.0) * dq
        ang_err = jnp.zeros((), jnp.float32)
        dq = jnp.zeros(5, jnp.float32)
        for i in range(2):
            r = 2 * i + 1
            c_lo = jnp.clip(qp[3 + i] - phi_lo[i] + C.ANGULAR_SLOP, -C.MAX_ANGULAR_CORRECTION, 0.0)
            c_hi = jnp.clip(qp[3 + i] - phi_hi[i] - C.ANGULAR_SLOP, 0.0, C.MAX_ANGULAR_CORRECTION)
            err = jnp.where(at_lower[i], phi_lo[i] - qp[3 + i],
                            jnp.where(at_upper[i], qp[3 + i] - phi_hi[i], 0.0))
            ang_err = jnp.maximum(ang_err, err)
            cl = jnp.where(at_lower[i], c_lo, jnp.where(at_upper[i], c_hi, 0.0))
            dq = dq + (-cl * inv_k[r]) * w[r]
        qp = qp + jnp.where(solved, 0.0, 1.0) * dq
        ok = (min_sep >= -3.0 * C.LINEAR_SLOP) & (ang_err <= C.ANGULAR_SLOP)
        return qp, solved | ok

    return jax.lax.fori_loop(0, iterations, position_pass, (qpos, jnp.array(False)))


def toi_pass(state, contacts: Contacts, pos, angle, leg_angle, joint_gap, u):
    """Box2D's TOI pass for the legs (``toi.py``) after the regular solve.

    b2TimeOfImpact reports an impact for a leg whose core comes within TOI_TARGET (0.005 m) during
    the step (found from any of its four corners), or that starts the step within the target plus
    tolerance (impact at the start); it gives up on cores that already overlap. The struck leg
    alone is rewound, stopped and spun; the hull keeps its pose and velocity, and the leg stays
    where the sub-step left it: its joint is left open by the new ``joint_gap`` (the next step's
    ``joint_closure`` closes it), and it keeps its new spin.

    Args: the pre-step ``state`` and ``contacts``; ``pos`` [2] m, ``angle`` [] rad, ``leg_angle``
      [2] rad, ``joint_gap`` [2, 2] m and ``u`` [5] after the regular solve.
    Returns: ``(leg_angle [2], joint_gap [2, 2], u [5], struck [2] bool)``.
    """
    a, b, edge_mu, _, _, _ = collision.edge_window(state.terrain_y, pos[0])
    centres1 = K.leg_centres(pos, angle, leg_angle, joint_gap)
    end_corners = K.leg_corners(pos, angle, leg_angle, joint_gap)  # [2, 4, 2]
    sep_end, _, _ = collision.foot_contacts(end_corners.reshape(8, 2), a, b, edge_mu)
    sep_start = contacts.corner_separation
    sep_end = sep_end.reshape(2, 4)
    start = state.leg_clearance
    at_start = start < C.TOI_TARGET + C.TOI_TOLERANCE
    toi_target_sep = C.TOI_TARGET - C.CONTACT_DISTANCE
    struck = (start > 0.0) & (at_start | jnp.any(sep_end < toi_target_sep, axis=1))
    _, _, v_legs, w_legs = K.body_velocities(pos, angle, leg_angle, u)
    # One call per leg, not a vmap over the legs: the vmap's size-2 axis inside the env batch
    # vectorises worse on CPU (one-core A/B: the loop is ~5 % faster).
    angle0, angle1 = state.angle + state.leg_angle, angle + leg_angle
    # A leg's sub-step runs only where it struck (``sparse.sparse_where``).
    substeps = [sparse.sparse_where(
        struck[i], toi.leg_substep,
        (at_start[i], contacts.leg_centres[i], angle0[i], centres1[i], angle1[i], sep_start[i], sep_end[i],
         v_legs[i], w_legs[i], a, b, edge_mu),
        (centres1[i], angle1[i], w_legs[i])) for i in range(2)]
    toi_centre, toi_angle, toi_w = (jnp.stack(x) for x in zip(*substeps))
    leg_angle = jnp.where(struck, toi_angle - angle, leg_angle)
    gap = K.leg_anchor_gap(pos, angle, leg_angle, toi_centre)
    joint_gap = jnp.where(struck[:, None], gap, joint_gap)
    u = u.at[3:5].set(jnp.where(struck, toi_w - u[2], u[3:5]))
    return leg_angle, joint_gap, u, struck


def proximity(events: Events, struck, terrain_y, pos, angle, leg_angle, joint_gap):
    """End-of-step clearances at the final pose: this step's TOI contact events (a BeginContact
    from the TOI pass fires in this step), the hull's touch, and what the next step starts from.

    Args: ``events`` from ``contact_events``; ``struck`` [2] bool legs of the TOI pass; the final
      pose (``pos`` [2] m, ``angle`` [] rad, ``leg_angle`` [2] rad, ``joint_gap`` [2, 2] m).
    Returns: ``(events, near_legs [2, 11] bool, leg_clearance [2] m, hull_clearance [] m)``.
    """
    a, b, _, index, _, _ = collision.edge_window(terrain_y, pos[0])
    touching = events.touching
    corners = K.leg_corners(pos, angle, leg_angle, joint_gap)  # [2, 4, 2]; per leg below, as in ``toi_pass``
    leg_clearance = jnp.stack([collision.polygon_edge_clearance(corners[i], a, b) for i in range(2)])
    hull_clearance = jnp.min(collision.polygon_edge_clearance(K.hull_vertices(pos, angle), a, b))
    # A leg struck with no contact at the step's start begins one (its BeginContact sets the flag)
    # even if the sub-step moved it clear again; one already touching fires nothing new.
    toi_events = collision.scatter_edges(leg_clearance < C.TOI_TARGET, index) & ~touching
    toi_events = toi_events | (struck[:, None] & collision.scatter_edges(
        leg_clearance < C.CONTACT_DISTANCE, index) & ~touching)
    toi_begins = struck & ~jnp.any(touching, axis=1)
    events = Events(
        touching=touching | toi_events,
        leg_contact=events.leg_contact | jnp.any(toi_events, axis=1) | toi_begins,
        game_over=events.game_over | (hull_clearance < C.TOI_TARGET),
    )
    near_legs = collision.scatter_edges(leg_clearance < C.CONTACT_DISTANCE, index)
    return events, near_legs, jnp.min(leg_clearance, axis=1), hull_clearance


def sleep(sleep_steps, solved, pos, angle, leg_angle, u):
    """Island sleep: all three bodies below Box2D's tolerances (0.01 m/s, 2 deg/s) for
    ``SLEEP_STEPS`` consecutive steps, with a solved position pass.

    Returns ``(sleep_steps [] int32, asleep [] bool)``."""
    v_hull, w_hull, v_legs, w_legs = K.body_velocities(pos, angle, leg_angle, u)
    lin_ok = (jnp.sum(v_hull**2) <= C.LINEAR_SLEEP_TOLERANCE**2) & jnp.all(
        jnp.sum(v_legs**2, -1) <= C.LINEAR_SLEEP_TOLERANCE**2)
    ang_ok = (w_hull**2 <= C.ANGULAR_SLEEP_TOLERANCE**2) & jnp.all(w_legs**2 <= C.ANGULAR_SLEEP_TOLERANCE**2)
    sleep_steps = jnp.where(lin_ok & ang_ok, sleep_steps + 1, 0)
    return sleep_steps.astype(jnp.int32), (sleep_steps >= C.SLEEP_STEPS) & solved


def hull_response(state, contacts: Contacts, hit, hull_clearance, pos, angle, u):
    """The hull's contact response on the step it first touches the terrain (``toi.hull_substep``).

    Any hull touch ends the episode, so this only shapes the terminal step's final observation; it
    runs where ``hit`` [] bool (the hull's first touch this step), and in a batch only for those
    envs (``sparse.sparse_where``).

    Args: the pre-step ``state`` and ``contacts``; the hull's ``hull_clearance`` [] m, ``pos`` [2] m,
      ``angle`` [] rad and ``u`` [5] after the regular solve and the legs' TOI pass.
    Returns: ``(pos, angle, u)``.
    """
    a, b = contacts.edge_a, contacts.edge_b
    n = collision.WINDOW_EDGES  # the terrain edges; the flat bottom edge (last) is out of a crash's reach
    com0 = K.hull_com(state.pos, state.angle)
    com1 = K.hull_com(pos, angle)
    com, th, v, w = sparse.sparse_where(
        hit, toi.hull_substep,
        (state.near_hull, state.hull_clearance, hull_clearance, com0, state.angle, com1, angle, u[0:2], u[2],
         a[:n], b[:n]),
        (com1, angle, u[0:2], u[2]))
    new_pos = com - K.rotate(th, jnp.asarray(C.HULL_COM))
    pos = jnp.where(hit, new_pos, pos)
    angle = jnp.where(hit, th, angle)
    u = jnp.where(hit, jnp.concatenate([v, w[None], u[3:5]]), u)
    return pos, angle, u


def _reduced_solve(u, acc, rows: Rows, limits: Limits, contacts: Contacts, iterations: int):
    """``velocity_sweeps`` of one env. Most envs of a batch are in flight, where the contact rows
    do nothing (about 31 of 1024 touch per step under random play), so on a CPU only the envs
    with an active or warm-started contact sweep them (``sparse.sparse_where``) and the others
    sweep the joints alone. On other platforms every env sweeps every row (no gather, no select).
    """
    def every_row(u, acc, rows, limits, contacts):
        return velocity_sweeps(u, acc, rows, limits, contacts, iterations)

    def contacts_where_touching(u, acc, rows, limits, contacts):
        touching = jnp.any(contacts.active) | jnp.any(acc[4:] != 0.0)
        joints_only = velocity_sweeps(u, acc, rows, limits, contacts, iterations, with_contacts=False)
        return sparse.sparse_where(touching, every_row, (u, acc, rows, limits, contacts), joints_only,
                                   rows_per_slot=CONTACT_ROWS_PER_SLOT)

    return jax.lax.platform_dependent(u, acc, rows, limits, contacts, cpu=contacts_where_touching,
                                      default=every_row)


def solve_velocities(state, u, acc, rows: Rows, limits: Limits, contacts: Contacts, velocity_iterations: int,
                     first_contact_iterations: int):
    """The velocity solve from the warm start ``(u [5], acc [NUM_ROWS])``: the converged
    reduced-coordinate sweeps, or, on a step where an active contact has no warm start (new, or
    separating last step), Box2D's ``first_contact_iterations`` sweeps in body coordinates
    (``body_solve``), which leave part of the hull's approach velocity unresolved as Box2D does (0:
    always the converged solve). Only the envs of a batch with such a contact run the latter
    (``sparse.sparse_where``).

    Returns: ``(u [5], acc [NUM_ROWS], leg_slip [2, 2])``, the last the legs' linear velocity off
    the closed chain (m/s, zero after the converged solve).
    """
    u_warm, acc_warm = u, acc
    u, acc = _reduced_solve(u, acc, rows, limits, contacts, velocity_iterations)
    no_slip = jnp.zeros((2, 2), jnp.float32)
    if first_contact_iterations == 0:
        return u, acc, no_slip
    # After a hull touch (game_over) nothing is observed any more; a batch that keeps stepping its
    # finished envs (``rollout.run_episodes``) would otherwise run this solve for each of them.
    unwarmed = jnp.any(contacts.active & jnp.all(state.contact_impulse == 0.0, axis=1)) & ~state.game_over
    return sparse.sparse_where(
        unwarmed,
        lambda u, acc, pose, contacts, limits: body_solve.body_sweeps(
            u, acc, *pose, contacts, limits, _CONTACT_LEG, first_contact_iterations),
        (u_warm, acc_warm, (state.pos, state.angle, state.leg_angle), contacts, limits),
        (u, acc, no_slip), rows_per_slot=FIRST_CONTACT_ROWS_PER_SLOT)


def world_step(state, forces: Forces, gravity, velocity_iterations: int, position_iterations: int,
               first_contact_iterations: int = C.BOX2D_VELOCITY_ITERATIONS):
    """Advances one env's bodies by one step of ``DT`` seconds. Returns ``(state, StepInfo)``."""
    pos, angle, leg_angle = state.pos, state.angle, state.leg_angle
    u = jnp.concatenate([state.vel, state.ang_vel[None], state.leg_ang_vel])

    events = contact_events(state)
    contacts = collide(state)
    com = K.hull_com(pos, angle)
    m_inv = K.mass_matrix_inverse(pos, angle, leg_angle)
    u = apply_external(u, pos, angle, leg_angle, m_inv, forces, gravity)
    rows = constraint_rows(pos, com, m_inv, contacts)
    limits = joint_limits(leg_angle)
    u, acc = warm_start(state, u, rows, limits, contacts)
    u, acc, leg_slip = solve_velocities(state, u, acc, rows, limits, contacts, velocity_iterations,
                                        first_contact_iterations)
    qpos, u = integrate(com, angle, leg_angle, u)
    # The legs' own motion off the closed chain in an unconverged solve opens their joints.
    qpos, joint_gap = joint_closure(qpos, state.joint_gap + C.DT * leg_slip)
    qpos, solved = position_correction(qpos, joint_gap, rows, limits, contacts, position_iterations)

    new_angle = qpos[2]
    new_pos = qpos[0:2] - K.rotate(new_angle, jnp.asarray(C.HULL_COM))
    final_sep = contact_separation(qpos, joint_gap, contacts)
    new_leg_angle, joint_gap, u, struck = toi_pass(
        state, contacts, new_pos, new_angle, qpos[3:5], joint_gap, u)
    events, near_legs, leg_clearance, hull_clearance = proximity(
        events, struck, state.terrain_y, new_pos, new_angle, new_leg_angle, joint_gap)
    sleep_steps, asleep = sleep(state.sleep_steps, solved, new_pos, new_angle, new_leg_angle, u)
    first_touch = events.game_over & ~state.game_over
    new_pos, new_angle, u = hull_response(state, contacts, first_touch, hull_clearance, new_pos, new_angle, u)

    new_state = state.replace(
        pos=new_pos, angle=new_angle, leg_angle=new_leg_angle, joint_gap=joint_gap,
        vel=u[0:2], ang_vel=u[2], leg_ang_vel=u[3:5],
        leg_contact=events.leg_contact, touching=events.touching, game_over=events.game_over,
        near_legs=near_legs, near_hull=hull_clearance < C.CONTACT_DISTANCE, leg_clearance=leg_clearance,
        hull_clearance=hull_clearance,
        sleep_steps=sleep_steps,
        motor_impulse=jnp.stack([acc[0], acc[2]]), limit_impulse=jnp.stack([acc[1], acc[3]]),
        contact_impulse=acc[4:].reshape(NUM_CONTACTS, 2),
    )
    info = StepInfo(asleep=asleep, position_solved=solved,
                    min_separation=jnp.min(jnp.where(contacts.active, final_sep, 0.0)))
    return new_state, info
