"""Narrow phase of the lander against the static terrain: 10 terrain edges plus the flat bottom edge.

The topology is fixed, so the broad phase is one arithmetic window: ``edge_window`` keeps the 3
consecutive terrain edges within the lander's reach plus the bottom edge (static shapes; the culled
edges are provably out of reach). Every lander shape is tested against the window's edges, giving:

* clearances (``polygon_edge_clearance``): polygon-vs-segment core distance, or -1 on overlap. At
  the end of a step they decide which shapes are within the sum of skins (0.02 m), the contact
  events of the next step (leg flags, ``game_over``), and Box2D's TOI test.
* solver contacts (``foot_contacts``, ``vertex_face_contacts``): for each leg's two foot corners
  the closest edge point, a unit normal pointing out of the terrain, the separation
  ``core distance - 0.02`` (negative = touching) and the mixed friction coefficient; and a convex
  terrain vertex against each foot face.
"""

import jax
import jax.numpy as jnp

from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

_BIG = 1e6
WINDOW_EDGES = 3  # consecutive terrain edges that can touch the lander, see ``edge_window``
# Farthest x-reach of any lander shape from the hull origin (a leg's far corner, 1.18 m: the joint
# sits at the hull origin, 0.9 m from the leg centre) plus the 0.5 m support margin of
# ``foot_contacts``. An interval of 2 * 1.7 m < 2 edge widths meets at most 3 of the 2 m edges.
_REACH = 1.7


def terrain_edges(terrain_y):
    """Edge endpoints ``(a, b)``, each [11, 2]: the 10 terrain edges, then the bottom edge."""
    x = jnp.asarray(C.TERRAIN_X)
    pts = jnp.stack([x, terrain_y], axis=-1)
    a = jnp.concatenate([pts[:-1], jnp.array([[0.0, 0.0]], jnp.float32)], axis=0)
    b = jnp.concatenate([pts[1:], jnp.array([[C.W, 0.0]], jnp.float32)], axis=0)
    return a, b


def edge_window(terrain_y, x):
    """The terrain edges the lander can touch when its hull origin is at abscissa ``x`` (m).

    Every lander shape lies within 1.18 m of the hull origin in x, so only the ``WINDOW_EDGES``
    edges starting at ``i0 = floor((x - 1.7) / 2)`` (clipped to the terrain) can be within reach;
    the flat bottom edge is always appended. Edges outside the window are more than 0.5 m away in x
    from every lander point: beyond the contact skin, the TOI target and the support margin of
    ``foot_contacts``, so the culled narrow phase gives the same contacts and flags as a full one.

    Returns:
      a, b: [WINDOW_EDGES + 1, 2] edge endpoints; friction: [WINDOW_EDGES + 1] mixed friction of a
      leg against each; index: [WINDOW_EDGES + 1] int32 global edge index (0..9 terrain, 10 bottom);
      verts: [WINDOW_EDGES + 1, 2] the window's terrain vertices; convex: [WINDOW_EDGES + 1] bool.
    """
    dx = C.W / (C.CHUNKS - 1)
    i0 = jnp.clip(jnp.floor((x - _REACH) / dx).astype(jnp.int32), 0, C.NUM_EDGES - WINDOW_EDGES)
    n = WINDOW_EDGES + 1
    xs = jax.lax.dynamic_slice(jnp.asarray(C.TERRAIN_X), (i0,), (n,))
    ys = jax.lax.dynamic_slice(terrain_y, (i0,), (n,))
    _, convex_all = convex_vertices(terrain_y)
    convex = jax.lax.dynamic_slice(convex_all, (i0,), (n,))
    pts = jnp.stack([xs, ys], axis=-1)
    a = jnp.concatenate([pts[:-1], jnp.array([[0.0, 0.0]], jnp.float32)], axis=0)
    b = jnp.concatenate([pts[1:], jnp.array([[C.W, 0.0]], jnp.float32)], axis=0)
    mu = edge_friction()
    friction = jnp.concatenate([jnp.full(WINDOW_EDGES, mu[0]), mu[-1:]])
    index = jnp.concatenate([i0 + jnp.arange(WINDOW_EDGES, dtype=jnp.int32),
                             jnp.array([C.NUM_EDGES], jnp.int32)])
    return a, b, friction, index, pts, convex


def scatter_edges(flags, index):
    """Window flags [..., E_w] -> global flags [..., 11] (False outside the window)."""
    one_hot = index[:, None] == jnp.arange(C.NUM_EDGES + 1, dtype=jnp.int32)[None, :]  # [E_w, 11]
    return jnp.any(flags[..., :, None] & one_hot, axis=-2)


def edge_friction():
    """Mixed friction [11] of a leg against each edge: sqrt(0.2 * 0.1) on terrain, 0.2 on the bottom."""
    terrain = jnp.full(C.NUM_EDGES, (C.LEG_FRICTION * C.TERRAIN_FRICTION) ** 0.5, jnp.float32)
    bottom = jnp.array([(C.LEG_FRICTION * C.BOTTOM_EDGE_FRICTION) ** 0.5], jnp.float32)
    return jnp.concatenate([terrain, bottom])


def _segment_distance_xy(px, py, ax, ay, bx, by):
    """Distance of points to segments, coordinates passed separately (broadcasting), and whether
    the point lies strictly below the segment's line within its extent (overlap)."""
    abx, aby = bx - ax, by - ay
    rx, ry = px - ax, py - ay
    inv_len2 = 1.0 / (abx * abx + aby * aby)
    t_raw = (rx * abx + ry * aby) * inv_len2
    t = jnp.clip(t_raw, 0.0, 1.0)
    dx, dy = rx - t * abx, ry - t * aby
    # Below the line *and* over the edge's x-range: the terrain is a height field, so a point
    # beside a steep edge (inside its perpendicular strip but over a neighbour) is not inside it.
    below = ((abx * ry - aby * rx) < 0.0) & (t_raw >= 0.0) & (t_raw <= 1.0) & (px >= ax) & (px <= bx)
    return jnp.sqrt(dx * dx + dy * dy), below


def polygon_edge_clearance(verts, a, b):
    """Core-shape clearance [E] of a convex CCW polygon ``verts`` [K, 2] to each edge ``(a, b)``
    [E, 2], m: the smallest vertex-to-segment distance either way, or -1 where they overlap (a
    polygon vertex below the edge, or an edge end inside the polygon). An edge end near the
    polygon counts by its distance to the polygon's edge *lines*, which is slightly generous at
    the polygon's corners."""
    px, py = verts[:, 0][:, None], verts[:, 1][:, None]  # [K, 1]
    ax, ay, bx, by = a[:, 0][None], a[:, 1][None], b[:, 0][None], b[:, 1][None]  # [1, E]
    dist, below = _segment_distance_xy(px, py, ax, ay, bx, by)  # [K, E]
    clearance = jnp.min(jnp.where(below, -1.0, dist), axis=0)
    # Edge end vertices against the polygon's edge lines (outward normals of a CCW polygon).
    qx, qy = verts[:, 0], verts[:, 1]
    ex, ey = jnp.roll(qx, -1) - qx, jnp.roll(qy, -1) - qy
    inv_len = 1.0 / jnp.sqrt(ex * ex + ey * ey)

    def end_clearance(vx, vy):  # [E]: max over the polygon's lines of the outward distance
        out = ((vx[:, None] - qx[None]) * ey[None] - (vy[:, None] - qy[None]) * ex[None]) * inv_len[None]
        d = jnp.max(out, axis=1)
        return jnp.where(d < 0.0, -1.0, d)

    ends = jnp.minimum(end_clearance(a[:, 0], a[:, 1]), end_clearance(b[:, 0], b[:, 1]))
    return jnp.minimum(clearance, ends)


def _select_min(values, *others):
    """Per row, the minimum of ``values`` [P, E] and the entries of ``others`` at that argmin."""
    best = jnp.argmin(values, axis=1)
    one_hot = jnp.arange(values.shape[1])[None, :] == best[:, None]
    pick = lambda x: jnp.sum(jnp.where(one_hot, x, 0.0), axis=1)
    return (jnp.min(values, axis=1),) + tuple(pick(x) for x in others)


def foot_contacts(corners, a, b, friction=None):
    """Solver contacts of points ``corners`` [P, 2] (each leg's foot corners) against the edges.

    Each corner is treated as a rounded vertex (skin 0.01 m) against the rounded edges: the most
    penetrating (or closest) edge wins; the normal is the edge normal where the corner projects
    inside the edge, else the direction from the edge's end vertex to the corner.

    ``friction`` [E] is the mixed friction against each edge (default: the 11 edges of
    ``terrain_edges``).

    Returns:
      separation [P] (core distance minus 0.02 m; negative when touching or overlapping),
      normal [P, 2] (unit, out of the terrain), friction [P] (mixed coefficient).
    """
    px, py = corners[:, 0][:, None], corners[:, 1][:, None]  # [P, 1]
    ax, ay, bx, by = a[:, 0][None], a[:, 1][None], b[:, 0][None], b[:, 1][None]  # [1, E]
    abx, aby = bx - ax, by - ay
    inv_len = 1.0 / jnp.sqrt(abx * abx + aby * aby)
    nx, ny = -aby * inv_len, abx * inv_len  # up for left-to-right edges
    rx, ry = px - ax, py - ay
    t = (rx * abx + ry * aby) * inv_len * inv_len
    within = (t >= 0.0) & (t <= 1.0)
    signed = rx * nx + ry * ny
    tc = jnp.clip(t, 0.0, 1.0)
    dx, dy = rx - tc * abx, ry - tc * aby
    dist = jnp.sqrt(dx * dx + dy * dy) + 1e-12
    # Inside the edge's extent: signed distance to its line. Beyond its ends: distance to the end
    # vertex (never negative: a point below the line's extension is not inside this edge).
    over = (px >= ax) & (px <= bx)
    sep = jnp.where(within & ((signed >= 0.0) | over), signed, dist)
    use_face = within & ((signed >= 0.0) | over)
    normal_x = jnp.where(use_face, nx, dx / dist)
    normal_y = jnp.where(use_face, ny, dy / dist)
    # Only edges whose x-extent is near the corner can be the supporting one.
    near = (px >= ax - 0.5) & (px <= bx + 0.5)
    sep = jnp.where(near, sep, _BIG)
    friction = edge_friction() if friction is None else friction
    friction = jnp.broadcast_to(friction[None], sep.shape)
    separation, n_x, n_y, mu = _select_min(sep, normal_x, normal_y, friction)
    return separation - C.CONTACT_DISTANCE, jnp.stack([n_x, n_y], -1), mu


def convex_vertices(terrain_y):
    """Terrain vertices [11, 2] and a mask [11] of the convex ones (peaks above both neighbours'
    chord), the only vertices that can poke into the flat bottom face of a foot."""
    x = jnp.asarray(C.TERRAIN_X)
    verts = jnp.stack([x, terrain_y], axis=-1)
    left = jnp.concatenate([terrain_y[:1], terrain_y[:-1]])
    right = jnp.concatenate([terrain_y[1:], terrain_y[-1:]])
    convex = terrain_y > 0.5 * (left + right) + 1e-4
    return verts, convex


def vertex_face_contacts(centres, leg_world_angle, verts, convex):
    """Contacts of convex terrain vertices against each leg's foot face (the box side far from the joint).

    Args:
      centres: [2, 2] leg centres, m. leg_world_angle: [2] leg angles, rad.
      verts: [11, 2] terrain vertices; convex: [11] bool mask.
    Returns:
      separation [2] (core distance minus 0.02 m), normal [2, 2] (the face's inward normal: the
      direction the vertex pushes the leg), local_point [2, 2] (the face point above the vertex,
      in the leg's frame).
    """
    hx, hy = C.LEG_HALF_EXTENTS[0], C.LEG_HALF_EXTENTS[1]
    rel = verts[None] - centres[:, None]  # [2, 11, 2]
    local = K.rotate(-leg_world_angle[:, None], rel)
    depth = -hy - local[..., 1]  # distance of the vertex below the face (negative: inside)
    # The vertex must be under the face or at most half-way into the box (deeper, another face
    # of the box would be the contact's reference in Box2D's separating-axis choice).
    valid = convex[None] & (jnp.abs(local[..., 0]) <= hx) & (local[..., 1] <= 0.0)
    sep = jnp.where(valid, depth, _BIG)
    best = jnp.argmin(sep, axis=1)
    take = lambda x: jnp.take_along_axis(x, best[:, None], axis=1)[:, 0]
    separation = take(sep) - C.CONTACT_DISTANCE
    local_point = jnp.stack([take(local[..., 0]), jnp.full(2, -hy, jnp.float32)], -1)
    normal = K.rotate(leg_world_angle, jnp.array([0.0, 1.0], jnp.float32))
    return separation, normal, local_point
