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


def leg_centres(pos, angle, leg_angle):
    """World centres [2, 2] of the legs; leg ``i`` hangs on the joint at the hull origin."""
    leg_world_angle = angle + leg_angle
    return pos[None, :] - rotate(leg_world_angle, jnp.asarray(C.LEG_ANCHOR))


def leg_corners(pos, angle, leg_angle):
    """World corners [2, 4, 2] of the two leg boxes (CCW; corners 0 and 1 form the foot)."""
    centres = leg_centres(pos, angle, leg_angle)
    leg_world_angle = angle + leg_angle
    return centres[:, None, :] + rotate(leg_world_angle[:, None], _LEG_BOX[None])


def hull_vertices(pos, angle):
    """World vertices [6, 2] of the hull polygon (CCW)."""
    return pos + rotate(angle, jnp.asarray(C.LANDER_POLY))


def leg_point_row(point, normal, leg, pos, com):
    """Jacobian row [5] of ``normal . v(point)`` for a point fixed on leg ``leg`` (0 or 1, static)."""
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
