"""One Box2D ``world.Step`` of the lander scene, purpose-built and in reduced coordinates.

Box2D solves hull, legs and joints in maximal coordinates with 180 sequential-impulse sweeps,
because each 0.071 kg leg hangs on the 4.8 kg hull by a point constraint that Gauss-Seidel
converges on slowly. Here each leg is one angle relative to the hull, so the point constraints hold
by construction and the slow mode is gone; what remains per step, in Box2D's order, is:

1. collide at the pre-step poses (contact events: leg flags, ``game_over``);
2. integrate external forces and impulses through the exact 5x5 mass matrix;
3. sequential impulses with warm starting: per sweep the leg motors (max 40 N m), the joint limits
   (state decided from the pre-step angle), then per foot contact friction and normal;
4. integrate positions (with Box2D's per-step translation/rotation clamps on the hull);
5. position correction (contacts: Baumgarte 0.2, slop 0.005 m, max 0.2 m; limits: 2 deg slop,
   max 8 deg), stopping once solved like Box2D's early exit;
6. island sleep bookkeeping (25 quiet steps with a solved position pass).

Hull contact *response* is not modelled: any hull touch ends the episode, so only its detection
matters. Continuous collision (Box2D's TOI sub-step) is modelled for its events and, for the legs,
for its motion: a leg that strikes the terrain mid-step is stopped and spun alone (``toi.py``).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlax_lander.env import collision, toi
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K
from rlax_lander.env import state as state_lib

# Contacts: two foot corners per leg (0, 1 on leg 0; 2, 3 on leg 1), then one convex terrain
# vertex against each leg's foot face (4 on leg 0, 5 on leg 1).
NUM_CONTACTS = state_lib.NUM_CONTACTS
_CONTACT_LEG = (0, 0, 1, 1, 0, 1)
# Which entries of each solver row's Jacobian can be non-zero: [motor0, limit0, motor1, limit1],
# then (tangent, normal) per contact, each touching the hull and its own leg only.
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
    min_separation: jax.Array  # [] m, deepest foot contact separation after the step


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


def world_step(state, forces: Forces, gravity, velocity_iterations: int, position_iterations: int):
    """Advances one env's bodies by one step of ``DT`` seconds. Returns ``(state, StepInfo)``."""
    dt = C.DT
    pos, angle, leg_angle = state.pos, state.angle, state.leg_angle
    u = jnp.concatenate([state.vel, state.ang_vel[None], state.leg_ang_vel])

    # 1. Collide at the pre-step poses: events, then the solver's foot contacts.
    # Only the 3 terrain edges within the lander's reach (plus the bottom edge) are tested.
    a, b, edge_mu, _, verts, convex = collision.edge_window(state.terrain_y, pos[0])
    # Which shapes are within 0.02 m at the pre-step pose was computed at the end of the previous
    # step (the same pose); the collide pass turns its changes into events.
    corners = K.leg_corners(pos, angle, leg_angle)  # [2, 4, 2]
    touching = state.near_legs
    begin = jnp.any(touching & ~state.touching, axis=1)
    end = jnp.any(~touching & state.touching, axis=1)
    # Newer contacts fire first; the end of an older contact is processed last and wins.
    leg_contact = jnp.where(end, False, jnp.where(begin, True, state.leg_contact))
    game_over = state.game_over | state.near_hull

    feet = corners[:, :2].reshape(4, 2)
    sep_c, n_c, mu_c = collision.foot_contacts(feet, a, b, edge_mu)
    leg_world_angle = angle + leg_angle
    centres = K.leg_centres(pos, angle, leg_angle)
    sep_v, n_v, local_v = collision.vertex_face_contacts(centres, leg_world_angle, verts, convex)
    foot_local = jnp.tile(K.foot_corners_local(), (2, 1))  # [4, 2]
    local_pts = jnp.concatenate([foot_local, local_v])  # [6, 2] contact points in their leg's frame
    sep0 = jnp.concatenate([sep_c, sep_v])
    normal = jnp.concatenate([n_c, n_v])
    friction = jnp.concatenate([mu_c, collision.edge_friction()[:2]])
    leg_of = jnp.array(_CONTACT_LEG)
    points = centres[leg_of] + K.rotate(leg_world_angle[leg_of], local_pts)  # [6, 2] world
    active = sep0 < 0.0
    anchor = points - (sep0 + C.CONTACT_DISTANCE)[:, None] * normal  # terrain point of each contact

    # 2. External forces and impulses through the exact mass matrix.
    com = K.hull_com(pos, angle)
    m_inv = K.mass_matrix_inverse(pos, angle, leg_angle)
    q_ext = _generalised_force(pos, angle, leg_angle, forces, gravity) * dt
    u = u + m_inv @ (q_ext + _impulse_rows(com, forces))

    # 3. Rows: [motor0, limit0, motor1, limit1, (tangent, normal) x 4 feet].
    eye = jnp.eye(5, dtype=jnp.float32)
    tangent = jnp.stack([normal[:, 1], -normal[:, 0]], -1)
    rows = [eye[3], eye[3], eye[4], eye[4]]
    for k in range(NUM_CONTACTS):
        leg = _CONTACT_LEG[k]
        rows.append(K.leg_point_row(points[k], tangent[k], leg, pos, com))
        rows.append(K.leg_point_row(points[k], normal[k], leg, pos, com))
    jac = jnp.stack(rows)  # [4 + 2 * 6, 5]
    w = jac @ m_inv  # M^-1 J^T per row (M is symmetric)
    inv_k = 1.0 / jnp.sum(jac * w, axis=1)

    phi_lo, phi_hi = jnp.asarray(C.LEG_PHI_LOWER), jnp.asarray(C.LEG_PHI_UPPER)
    at_lower = leg_angle <= phi_lo
    at_upper = leg_angle >= phi_hi
    limit_active = at_lower | at_upper
    max_motor = C.LEG_SPRING_TORQUE * dt
    motor_speed = jnp.asarray(C.LEG_MOTOR_SPEED)

    # Warm start with last step's accumulated impulses where the constraint persists.
    motor_acc = state.motor_impulse
    limit_acc = jnp.where(at_lower, jnp.maximum(state.limit_impulse, 0.0),
                          jnp.where(at_upper, jnp.minimum(state.limit_impulse, 0.0), 0.0))
    contact_acc = jnp.where(active[:, None], state.contact_impulse.reshape(NUM_CONTACTS, 2), 0.0)
    acc0 = jnp.concatenate([
        jnp.stack([motor_acc[0], limit_acc[0], motor_acc[1], limit_acc[1]]),
        contact_acc.reshape(-1),
    ])
    u = u + acc0 @ w

    # The sweep works on scalars (tuples, not small arrays): every row update is then plain
    # elementwise arithmetic over the batch, which XLA fuses into one loop body.
    n_rows = jac.shape[0]
    jac_s = [[jac[r, j] for j in range(5)] for r in range(n_rows)]
    w_s = [[w[r, j] for j in range(5)] for r in range(n_rows)]
    inv_k_s = [inv_k[r] for r in range(n_rows)]
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
            new = jnp.where(at_lower[i], jnp.maximum(new, 0.0), jnp.where(at_upper[i], jnp.minimum(new, 0.0), 0.0))
            u = add(u, r, new - acc[r])
            acc[r] = new
        for k in range(NUM_CONTACTS):  # contacts: friction, then normal
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
        0, velocity_iterations, sweep, (tuple(u[j] for j in range(5)), tuple(acc0[r] for r in range(n_rows)))
    )
    u, acc = jnp.stack(u_s), jnp.stack(acc_s)

    # 4. Integrate positions, with Box2D's per-step clamps on the hull.
    trans = dt * jnp.linalg.norm(u[0:2])
    u = u.at[0:2].multiply(jnp.where(trans > C.MAX_TRANSLATION, C.MAX_TRANSLATION / trans, 1.0))
    rot = dt * jnp.abs(u[2])
    u = u.at[2].multiply(jnp.where(rot > C.MAX_ROTATION, C.MAX_ROTATION / rot, 1.0))
    qpos = jnp.concatenate([com, angle[None], leg_angle]) + dt * u

    # 5. Position correction (contacts, then limits), with Box2D's early exit.
    local_hull_com = jnp.asarray(C.HULL_COM)

    def points_now(qp):
        origin = qp[0:2] - K.rotate(qp[2], local_hull_com)
        c = K.leg_centres(origin, qp[2], qp[3:5])
        return c[leg_of] + K.rotate(qp[2] + qp[3:5][leg_of], local_pts)

    def position_pass(_, carry):
        qp, solved = carry
        sep = jnp.sum((points_now(qp) - anchor) * normal, -1) - C.CONTACT_DISTANCE
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
            err = jnp.where(at_lower[i], phi_lo[i] - qp[3 + i], jnp.where(at_upper[i], qp[3 + i] - phi_hi[i], 0.0))
            ang_err = jnp.maximum(ang_err, err)
            cl = jnp.where(at_lower[i], c_lo, jnp.where(at_upper[i], c_hi, 0.0))
            dq = dq + (-cl * inv_k[r]) * w[r]
        qp = qp + jnp.where(solved, 0.0, 1.0) * dq
        ok = (min_sep >= -3.0 * C.LINEAR_SLOP) & (ang_err <= C.ANGULAR_SLOP)
        return qp, solved | ok

    qpos, solved = jax.lax.fori_loop(0, position_iterations, position_pass, (qpos, jnp.array(False)))

    new_angle = qpos[2]
    new_pos = qpos[0:2] - K.rotate(new_angle, local_hull_com)
    new_leg_angle = qpos[3:5]

    # 6. Continuous collision (Box2D's TOI pass, toi.py). b2TimeOfImpact reports an impact for a
    # leg whose core comes within TOI_TARGET (0.005 m) during the step (found from its foot
    # corners), or that starts the step within the target plus tolerance (impact at the start);
    # it gives up on cores that already overlap. The struck leg alone is rewound, stopped and
    # spun; the hull keeps its pose and velocity, and the leg is turned about its centre back onto
    # the joint, keeping its new spin (the joint's stretch itself cannot be represented).
    a, b, edge_mu, index, _, _ = collision.edge_window(state.terrain_y, new_pos[0])
    centres1 = K.leg_centres(new_pos, new_angle, new_leg_angle)
    end_feet = K.leg_corners(new_pos, new_angle, new_leg_angle)[:, :2]  # [2, 2, 2] foot corners
    sep_end, _, _ = collision.foot_contacts(end_feet.reshape(4, 2), a, b, edge_mu)
    sep_start = sep_c.reshape(2, 2)
    sep_end = sep_end.reshape(2, 2)
    start = state.leg_clearance
    at_start = start < C.TOI_TARGET + C.TOI_TOLERANCE
    toi_target_sep = C.TOI_TARGET - C.CONTACT_DISTANCE
    toi_leg = (start > 0.0) & (at_start | jnp.any(sep_end < toi_target_sep, axis=1))
    _, _, v_legs, w_legs = K.body_velocities(new_pos, new_angle, new_leg_angle, u)
    toi_centre, _, toi_w = jax.vmap(toi.leg_substep, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, None))(
        at_start, centres, angle + leg_angle, centres1, new_angle + new_leg_angle, sep_start, sep_end,
        v_legs, w_legs, a, b, edge_mu)
    toi_angle = jax.vmap(toi.reattach, in_axes=(0, 0, None))(jnp.arange(2), toi_centre, new_pos)
    new_leg_angle = jnp.where(toi_leg, toi_angle - new_angle, new_leg_angle)
    u = u.at[3:5].set(jnp.where(toi_leg, toi_w - u[2], u[3:5]))

    # End-of-step proximity: next step's contact events, this step's TOI events (a BeginContact
    # from the TOI pass fires in this step), the hull's touch, and the next step's TOI test.
    leg_clearance = jax.vmap(collision.polygon_edge_clearance, in_axes=(0, None, None))(
        K.leg_corners(new_pos, new_angle, new_leg_angle), a, b)  # [2, E]
    hull_clearance = jnp.min(collision.polygon_edge_clearance(K.hull_vertices(new_pos, new_angle), a, b))
    # A leg struck with no contact at the step's start begins one (its BeginContact sets the flag)
    # even if the sub-step moved it clear again; one already touching fires nothing new.
    toi_events = collision.scatter_edges(leg_clearance < C.TOI_TARGET, index) & ~touching
    toi_events = toi_events | (toi_leg[:, None] & collision.scatter_edges(
        leg_clearance < C.CONTACT_DISTANCE, index) & ~touching)
    toi_begins = toi_leg & ~jnp.any(touching, axis=1)
    leg_contact = leg_contact | jnp.any(toi_events, axis=1) | toi_begins
    touching = touching | toi_events
    game_over = game_over | (hull_clearance < C.TOI_TARGET)
    near_legs = collision.scatter_edges(leg_clearance < C.CONTACT_DISTANCE, index)  # [2, 11]

    # 7. Sleep: all three bodies below Box2D's tolerances for 25 consecutive solved steps.
    v_hull, w_hull, v_legs, w_legs = K.body_velocities(new_pos, new_angle, new_leg_angle, u)
    lin_ok = (jnp.sum(v_hull**2) <= C.LINEAR_SLEEP_TOLERANCE**2) & jnp.all(
        jnp.sum(v_legs**2, -1) <= C.LINEAR_SLEEP_TOLERANCE**2)
    ang_ok = (w_hull**2 <= C.ANGULAR_SLEEP_TOLERANCE**2) & jnp.all(w_legs**2 <= C.ANGULAR_SLEEP_TOLERANCE**2)
    sleep_steps = jnp.where(lin_ok & ang_ok, state.sleep_steps + 1, 0)
    asleep = (sleep_steps >= C.SLEEP_STEPS) & solved

    final_sep = jnp.sum((points_now(qpos) - anchor) * normal, -1) - C.CONTACT_DISTANCE
    new_state = state.replace(
        pos=new_pos, angle=new_angle, leg_angle=new_leg_angle,
        vel=u[0:2], ang_vel=u[2], leg_ang_vel=u[3:5],
        leg_contact=leg_contact, touching=touching, game_over=game_over,
        near_legs=near_legs, near_hull=hull_clearance < C.CONTACT_DISTANCE,
        leg_clearance=jnp.min(leg_clearance, axis=1),
        sleep_steps=sleep_steps.astype(jnp.int32),
        motor_impulse=jnp.stack([acc[0], acc[2]]), limit_impulse=jnp.stack([acc[1], acc[3]]),
        contact_impulse=acc[4:].reshape(NUM_CONTACTS, 2),
    )
    info = StepInfo(asleep=asleep, position_solved=solved,
                    min_separation=jnp.min(jnp.where(active, final_sep, 0.0)))
    return new_state, info
