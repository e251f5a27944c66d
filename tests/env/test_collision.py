"""The culled narrow phase (``edge_window``) against the full one over all 11 edges."""

import jax
import jax.numpy as jnp
import numpy as np

from rlax_lander.env import collision, terrain
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

N = 4000


def _random_poses(key):
    """Lander poses near random terrain: x over the whole width and a bit beyond, low enough to
    touch, any tilt and leg angle within (and slightly beyond) the limits."""
    k = jax.random.split(key, 6)
    terrain_y = jax.vmap(terrain.sample_terrain)(jax.random.split(k[0], N))
    x = jax.random.uniform(k[1], (N,), minval=-1.0, maxval=C.W + 1.0)
    ground = jax.vmap(lambda ty, x: jnp.interp(x, jnp.asarray(C.TERRAIN_X), ty))(terrain_y, x)
    y = ground + jax.random.uniform(k[2], (N,), minval=-0.3, maxval=1.2)
    angle = jax.random.uniform(k[3], (N,), minval=-1.5, maxval=1.5)
    lo, hi = jnp.asarray(C.LEG_PHI_LOWER) - 0.3, jnp.asarray(C.LEG_PHI_UPPER) + 0.3
    leg_angle = jax.random.uniform(k[4], (N, 2), minval=lo, maxval=hi)
    return terrain_y, jnp.stack([x, y], -1), angle, leg_angle


def test_window_reaches_every_lander_point():
    # The window's assumption: no lander point is farther than _REACH - 0.5 m from the hull origin.
    _, pos, angle, leg_angle = _random_poses(jax.random.PRNGKey(0))
    legs = jax.vmap(K.leg_corners)(pos, angle, leg_angle)
    hull = jax.vmap(K.hull_vertices)(pos, angle)
    reach = jnp.maximum(jnp.max(jnp.abs(legs[..., 0] - pos[:, None, None, 0])),
                        jnp.max(jnp.abs(hull[..., 0] - pos[:, None, 0])))
    assert float(reach) <= collision._REACH - 0.5


def test_culled_narrow_phase_matches_full():
    terrain_y, pos, angle, leg_angle = _random_poses(jax.random.PRNGKey(1))

    def both(ty, pos, angle, leg_angle):
        a, b = collision.terrain_edges(ty)
        wa, wb, mu, index, verts, convex = collision.edge_window(ty, pos[0])
        corners = K.leg_corners(pos, angle, leg_angle)
        clear = jax.vmap(collision.polygon_edge_clearance, in_axes=(0, None, None))
        full_near = clear(corners, a, b) < C.CONTACT_DISTANCE
        win_near = collision.scatter_edges(clear(corners, wa, wb) < C.CONTACT_DISTANCE, index)
        hull = K.hull_vertices(pos, angle)
        full_hull = jnp.min(collision.polygon_edge_clearance(hull, a, b))
        win_hull = jnp.min(collision.polygon_edge_clearance(hull, wa, wb))
        feet = corners[:, :2].reshape(4, 2)
        full_feet = collision.foot_contacts(feet, a, b)
        win_feet = collision.foot_contacts(feet, wa, wb, mu)
        all_verts, all_convex = collision.convex_vertices(ty)
        centres = K.leg_centres(pos, angle, leg_angle)
        full_vf = collision.vertex_face_contacts(centres, angle + leg_angle, all_verts, all_convex)
        win_vf = collision.vertex_face_contacts(centres, angle + leg_angle, verts, convex)
        return (full_near, win_near, full_hull, win_hull, full_feet, win_feet, full_vf, win_vf)

    (full_near, win_near, full_hull, win_hull, full_feet, win_feet, full_vf, win_vf) = jax.jit(
        jax.vmap(both))(terrain_y, pos, angle, leg_angle)
    assert int(jnp.sum(full_near)) > 100  # the poses do touch
    np.testing.assert_array_equal(np.asarray(win_near), np.asarray(full_near))
    touch = np.asarray(full_hull) < 0.5  # a far hull's clearance may come from a culled edge
    np.testing.assert_array_equal(np.asarray(win_hull)[touch], np.asarray(full_hull)[touch])
    # Foot contacts (separation, normal, friction) wherever a foot is within the support margin.
    sep_full = np.asarray(full_feet[0])
    near = sep_full < 0.4
    assert near.sum() > 1000
    for w, f in zip(win_feet, full_feet):
        np.testing.assert_allclose(np.asarray(w)[near], np.asarray(f)[near], rtol=0, atol=1e-6)
    under = np.asarray(full_vf[0]) < 1.0  # a convex vertex under a foot face
    assert under.sum() > 50
    for w, f in zip(win_vf, full_vf):
        np.testing.assert_allclose(np.asarray(w)[under], np.asarray(f)[under], rtol=0, atol=1e-6)
