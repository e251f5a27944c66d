"""Kinematics and mass matrix of the lander in reduced coordinates.

Generalised velocity ``u = (vx, vy, w, dphi0, dphi1)``: hull centre-of-mass velocity (m/s), hull
angular velocity (rad/s) and the two legs' angular velocities relative to the hull (rad/s). A
point ``p`` fixed on leg ``i`` moves with ``v = v_com + w x (p - c) + dphi_i x (p - o)`` where ``c``
is the hull's centre of mass and ``o`` its origin (the joint point of both legs), so every Jacobian
row below is closed-form. All functions act on one env (vmap for batches).
"""

import jax.numpy as jnp

from rlax_lander.env import constants as C

_LEG_BOX = jnp.array(
    [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], jnp.float32
) * jnp.asarray(C.LEG_HALF_EXTENTS)  # [4, 2] CCW; the first two are the foot (far from the joint)


def foot_corners_local():
    """The two foot corners [2, 2] of a leg box in the leg's frame (the side far from the joint)."""
    return _LEG_BOX[:2]


def leg_corners_local():
    """The four corners [4, 2] of a leg box in the leg's frame (CCW; the first two are the foot)."""
    return _LEG_BOX


def rotate(angle, v):
    """Rotates ``v`` [..., 2] by ``angle`` [...] (rad, counter-clockwise)."""
    c, s = jnp.cos(angle), jnp.sin(angle)
    return jnp.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


def cross(a, b):
    """2-D cross product ``a_x b_y - a_y b_x`` of [..., 2] arrays."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def hull_com(pos, angle):
    """World centre of mass [2] of the hull from its origin ``pos`` [2] and ``angle`` []."""
    return pos + rotate(angle, jnp.asarray(C.HULL_COM))


def leg_centres(pos, angle, leg_angle, joint_gap=None):
    """World centres [2, 2] of the legs; leg ``i`` hangs on the joint at the hull origin, its
    anchor displaced from it by ``joint_gap`` [2, 2] (m, world frame; None: the joints hold)."""
    leg_world_angle = angle + leg_angle
    centres = pos[None, :] - rotate(leg_world_angle, jnp.asarray(C.LEG_ANCHOR))
    return centres if joint_gap is None else centres + joint_gap


def leg_anchor_gap(pos, angle, leg_angle, centres):
    """Joint gap [2, 2] (m, world frame) of legs whose centres are at ``centres`` [2, 2]: each leg's
    anchor minus the hull's (Box2D's revolute position error ``anchorB - anchorA``)."""
    return centres - leg_centres(pos, angle, leg_angle)


def leg_corners(pos, angle, leg_angle, joint_gap=None):
    """World corners [2, 4, 2] of the two leg boxes (CCW; corners 0 and 1 form the foot), the legs
    displaced by ``joint_gap`` [2, 2] (m) as in ``leg_centres``."""
    centres = leg_centres(pos, angle, leg_angle, joint_gap)
    leg_world_angle = angle + leg_angle
    return centres[:, None, :] + rotate(leg_world_angle[:, None], _LEG_BOX[None])


def hull_vertices(pos, angle):
    """World vertices [6, 2] of the hull polygon (CCW)."""
    return pos + rotate(angle, jnp.asarray(C.LANDER_POLY))


def leg_point_row(point, normal, leg, pos, com):
    """Jacobian row [5] of ``normal . v(point)`` for a point fixed on leg ``leg`` (0 or 1, static).

    For a leg displaced by a joint gap, pass the point minus the gap: the joint's velocity
    constraint moves the anchors together, so the leg's velocity field is that of the closed chain
    (a translation of the leg does not change it)."""
    row = jnp.zeros(5, jnp.float32)
    row = row.at[0].set(normal[0]).at[1].set(normal[1])
    row = row.at[2].set(cross(point - com, normal))
    return row.at[3 + leg].set(cross(point - pos, normal))


def mass_matrix(pos, angle, leg_angle):
    """Mass matrix [5, 5] of the three-body system in the coordinates ``u``."""
    com = hull_com(pos, angle)
    centres = leg_centres(pos, angle, leg_angle)
    m = jnp.zeros((5, 5), jnp.float32)
    m = m.at[0, 0].add(C.HULL_MASS).at[1, 1].add(C.HULL_MASS).at[2, 2].add(C.HULL_INERTIA)
    for i in range(2):
        r_c = centres[i] - com
        r_o = centres[i] - pos
        # Linear velocity Jacobian of leg i's centre: [I2 | perp(r_c) | perp(r_o) at slot 3+i].
        jl = jnp.zeros((2, 5), jnp.float32)
        jl = jl.at[0, 0].set(1.0).at[1, 1].set(1.0)
        jl = jl.at[:, 2].set(jnp.stack([-r_c[1], r_c[0]]))
        jl = jl.at[:, 3 + i].set(jnp.stack([-r_o[1], r_o[0]]))
        ja = jnp.zeros(5, jnp.float32).at[2].set(1.0).at[3 + i].set(1.0)
        m = m + C.LEG_MASS * jl.T @ jl + C.LEG_INERTIA * jnp.outer(ja, ja)
    return m


def body_velocities(pos, angle, leg_angle, u):
    """Per-body velocities: hull COM [2], hull w [], leg centres [2, 2], leg w [2]."""
    com = hull_com(pos, angle)
    centres = leg_centres(pos, angle, leg_angle)
    w = u[2]
    dphi = u[3:5]
    r_c = centres - com
    r_o = centres - pos
    perp = lambda r: jnp.stack([-r[..., 1], r[..., 0]], axis=-1)
    leg_v = u[None, 0:2] + w * perp(r_c) + dphi[:, None] * perp(r_o)
    return u[0:2], w, leg_v, w + dphi


def _inverse_3x3(s):
    """Inverse of a symmetric positive-definite [3, 3] matrix by its adjugate (no LAPACK call)."""
    a, b, c = s[0, 0], s[0, 1], s[0, 2]
    d, e, f = s[1, 1], s[1, 2], s[2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    inv_det = 1.0 / (a * c00 + b * c01 + c * c02)
    return inv_det * jnp.array([[c00, c01, c02], [c01, c11, c12], [c02, c12, c22]])


def mass_matrix_inverse(pos, angle, leg_angle):
    """Inverse [5, 5] of ``mass_matrix`` in closed form: the leg block is diagonal, so one 3x3
    Schur complement on the hull block suffices (batched LAPACK inverses are slow on CPU)."""
    m = mass_matrix(pos, angle, leg_angle)
    a, b = m[:3, :3], m[:3, 3:]
    d_inv = 1.0 / jnp.stack([m[3, 3], m[4, 4]])
    s_inv = _inverse_3x3(a - (b * d_inv[None]) @ b.T)
    bd = b * d_inv[None]  # B D^-1, [3, 2]
    top_right = -s_inv @ bd
    bottom_right = jnp.diag(d_inv) + bd.T @ s_inv @ bd
    return jnp.block([[s_inv, top_right], [top_right.T, bottom_right]])
