"""Box2D's velocity solve in body coordinates, for a step on which a leg contact is new.

The reduced-coordinate solve (``physics.velocity_sweeps``) converges, because the legs' joints hold
by construction. Box2D's 180 Gauss-Seidel sweeps do not always converge. When a contact has no
impulse to start from (it is new, or was separating), they pass the 4.8 kg hull's momentum to the
ground through a 0.071 kg leg a sliver per sweep, and the hull keeps part of its approach velocity.
After a fast touchdown the hull then falls on onto its legs and crashes, where a converged solve
would hold it up. In ``scripts/paired_landings.py`` (7292 fast touchdowns of random play), Box2D
keeps 7 alive to the step limit with its 180 sweeps, and 26 with 1000 sweeps on every step; with
180 sweeps only on the steps where a leg is not yet in contact (1000 elsewhere) it keeps 9. So the
new-contact steps carry the difference.

``body_sweeps`` is that solve for one env, on the three bodies (hull, leg 0, leg 1) in Box2D's
order: per sweep each revolute joint (the motor, then the point constraint, as one 3x3 block with
the angle limit when the leg sits at a limit), then each contact (friction, then normal). It starts
from the warm-started reduced velocity, where the joints hold, so the joints' point impulses start
at zero and the motor, limit and contact impulses at their warm starts. The reduced coordinates
keep the hull's velocity and the legs' spins; each leg's linear velocity off the closed chain is
returned as a slip, which ``physics.world_step`` adds to the joint gap for one step.

Box2D's 2x2 block solver for two-point manifolds is not modelled: each point is solved alone. With
it in place (a foot's two corners on one edge solved as a block) the measured follow-ups of
``tests/env/test_toi_parity.py`` did not change.
"""

import jax
import jax.numpy as jnp

from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

_INV_MASS = (1.0 / C.HULL_MASS, 1.0 / C.LEG_MASS, 1.0 / C.LEG_MASS)
_INV_INERTIA = (1.0 / C.HULL_INERTIA, 1.0 / C.LEG_INERTIA, 1.0 / C.LEG_INERTIA)


def _cross_sv(w, r):
    """``w x r`` for a scalar ``w`` and a vector ``r`` [2]."""
    return jnp.stack([-w * r[1], w * r[0]])


def _joint_masses(r_a, r_b):
    """Box2D's revolute effective-mass matrix [3, 3] (point x, y, angle) for hull arm ``r_a`` and
    leg arm ``r_b`` [2] m; its inverse, and the inverse of its point block [2, 2]."""
    m_a, m_b = _INV_MASS[0], _INV_MASS[1]
    i_a, i_b = _INV_INERTIA[0], _INV_INERTIA[1]
    k11 = m_a + m_b + r_a[1] ** 2 * i_a + r_b[1] ** 2 * i_b
    k12 = -r_a[1] * r_a[0] * i_a - r_b[1] * r_b[0] * i_b
    k13 = -r_a[1] * i_a - r_b[1] * i_b
    k22 = m_a + m_b + r_a[0] ** 2 * i_a + r_b[0] ** 2 * i_b
    k23 = r_a[0] * i_a + r_b[0] * i_b
    k33 = i_a + i_b
    k = jnp.array([[k11, k12, k13], [k12, k22, k23], [k13, k23, k33]])
    det2 = k11 * k22 - k12 * k12
    k2_inv = jnp.array([[k22, -k12], [-k12, k11]]) / det2
    return k, K._inverse_3x3(k), k2_inv


def _joint(vel, acc_motor, acc_limit, i, r_a, r_b, masses, at_lower, at_upper):
    """One sweep of leg ``i``'s revolute joint: the motor, then the point constraint (with the
    limit as a 3x3 block where the leg sits at one). ``vel`` is ``(v_hull [2], w_hull, v_leg [2],
    w_leg)``; the point impulse is not clamped, so only its increment matters and none is kept.
    Returns ``(vel, acc_motor, acc_limit)``."""
    v_a, w_a, v_b, w_b = vel
    m_a, m_b = _INV_MASS[0], _INV_MASS[1 + i]
    i_a, i_b = _INV_INERTIA[0], _INV_INERTIA[1 + i]
    k, k_inv, k2_inv = masses
    max_motor = C.LEG_SPRING_TORQUE * C.DT
    cdot = w_b - w_a - C.LEG_MOTOR_SPEED[i]
    new = jnp.clip(acc_motor - cdot / (i_a + i_b), -max_motor, max_motor)
    d = new - acc_motor
    acc_motor = new
    w_a, w_b = w_a - i_a * d, w_b + i_b * d

    cdot1 = v_b + _cross_sv(w_b, r_b) - v_a - _cross_sv(w_a, r_a)
    cdot2 = w_b - w_a
    limited = at_lower | at_upper
    full = -(k_inv @ jnp.concatenate([cdot1, cdot2[None]]))
    new_z = acc_limit + full[2]
    clamp = (at_lower & (new_z < 0.0)) | (at_upper & (new_z > 0.0))
    reduced = k2_inv @ (-cdot1 + acc_limit * k[0:2, 2])  # the point alone, the limit released
    point_only = k2_inv @ -cdot1
    p = jnp.where(limited, jnp.where(clamp, reduced, full[0:2]), point_only)
    dz = jnp.where(limited, jnp.where(clamp, -acc_limit, full[2]), 0.0)
    acc_limit = acc_limit + dz
    v_a = v_a - m_a * p
    w_a = w_a - i_a * (K.cross(r_a, p) + dz)
    v_b = v_b + m_b * p
    w_b = w_b + i_b * (K.cross(r_b, p) + dz)
    return (v_a, w_a, v_b, w_b), acc_motor, acc_limit


def _contact_row(v, w, acc, r, direction, mass, lo, hi):
    """One contact row on a leg (velocity ``v`` [2] m/s, spin ``w`` rad/s) against the static
    terrain: the impulse along ``direction`` [2] at arm ``r`` [2] m that stops the point's velocity
    along it, with effective ``mass`` kg, accumulated from ``acc`` within ``[lo, hi]`` N s.
    Returns ``(v, w, accumulated)``."""
    vn = jnp.dot(v + _cross_sv(w, r), direction)
    new = jnp.clip(acc - vn * mass, lo, hi)
    p = (new - acc) * direction
    return v + _INV_MASS[1] * p, w + _INV_INERTIA[1] * K.cross(r, p), new


def body_sweeps(u, acc, pos, angle, leg_angle, contacts, limits, leg_of, iterations: int):
    """Box2D's ``iterations`` velocity sweeps over hull, legs, joints and contacts.

    Args:
      u: [5] warm-started generalised velocity (``kinematics``), the joints holding.
      acc: [4 + 2 * C] warm-started accumulated impulses in ``physics.constraint_rows`` order
        (motor0, limit0, motor1, limit1, then tangent and normal per contact), N m s / N s.
      pos, angle, leg_angle: the pre-step pose ([2] m, [] rad, [2] rad).
      contacts: ``physics.Contacts``; limits: ``physics.Limits``; leg_of: the leg of each contact
        (static tuple).
    Returns:
      ``(u [5], acc, leg_slip [2, 2])``: the hull's velocity and the legs' spins relative to it,
      the impulses, and each leg centre's velocity minus the closed chain's at ``u`` (m/s).
    """
    com = K.hull_com(pos, angle)
    v_h, w_h, v_l, w_l = K.body_velocities(pos, angle, leg_angle, u)
    r_a = pos - com
    r_b = K.rotate(angle + leg_angle, jnp.asarray(C.LEG_ANCHOR))  # [2, 2]
    masses = [_joint_masses(r_a, r_b[i]) for i in range(2)]
    normal = contacts.normal
    tangent = jnp.stack([normal[:, 1], -normal[:, 0]], -1)
    arms = contacts.points - contacts.leg_centres[jnp.array(leg_of)]
    n_contacts = len(leg_of)

    def effective(r, direction):
        return 1.0 / (_INV_MASS[1] + _INV_INERTIA[1] * K.cross(r, direction) ** 2)

    m_t = [effective(arms[k], tangent[k]) for k in range(n_contacts)]
    m_n = [effective(arms[k], normal[k]) for k in range(n_contacts)]

    def contact_row(v, w, acc, k, normal_row):
        """Leg contact ``k``'s friction or normal row (an inactive contact keeps 0)."""
        r = 5 + 2 * k if normal_row else 4 + 2 * k
        if normal_row:
            direction, m, lo, hi = normal[k], m_n[k], 0.0, jnp.inf
        else:
            bound = contacts.friction[k] * acc[r + 1]
            direction, m, lo, hi = tangent[k], m_t[k], -bound, bound
        v_new, w_new, new = _contact_row(v, w, acc[r], arms[k], direction, m, lo, hi)
        on = contacts.active[k]
        acc[r] = jnp.where(on, new, 0.0)
        return jnp.where(on, v_new, v), jnp.where(on, w_new, w)

    def sweep(_, carry):
        v_h, w_h, v_l, w_l, acc = carry
        v_l, w_l, acc = list(v_l), list(w_l), list(acc)
        for i in range(2):
            (v_h, w_h, v_l[i], w_l[i]), acc[2 * i], acc[2 * i + 1] = _joint(
                (v_h, w_h, v_l[i], w_l[i]), acc[2 * i], acc[2 * i + 1], i, r_a, r_b[i], masses[i],
                limits.at_lower[i], limits.at_upper[i])
        for k in range(n_contacts):
            leg = leg_of[k]
            for normal_row in (False, True):
                v_l[leg], w_l[leg] = contact_row(v_l[leg], w_l[leg], acc, k, normal_row)
        return v_h, w_h, tuple(v_l), tuple(w_l), tuple(acc)

    init = (v_h, w_h, (v_l[0], v_l[1]), (w_l[0], w_l[1]), tuple(acc[r] for r in range(acc.shape[0])))
    v_h, w_h, v_l, w_l, acc_s = jax.lax.fori_loop(0, iterations, sweep, init)
    u = jnp.concatenate([v_h, w_h[None], jnp.stack([w_l[0] - w_h, w_l[1] - w_h])])
    _, _, v_chain, _ = K.body_velocities(pos, angle, leg_angle, u)
    return u, jnp.stack(acc_s), jnp.stack(v_l) - v_chain
