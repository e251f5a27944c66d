"""Narrow phase of the lander against the static terrain: 10 terrain edges plus the flat bottom edge.

Fixed topology means no broad phase: every shape is tested against every edge with static shapes.
Two products come out of one pre-step pass (Box2D's Collide phase, at the start of ``world.Step``):

* ``touching`` flags per (leg, edge) and for the hull: polygon-vs-segment core distance below the
  sum of skins (0.02 m), or overlap. They drive the contact events (leg flags, ``game_over``).
* solver contacts for each leg's two foot corners: the closest edge point, a unit normal pointing
  out of the terrain, the separation ``core distance - 0.02`` (negative = touching) and the mixed
  friction coefficient.
"""

import jax.numpy as jnp

from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

_BIG = 1e6


def terrain_edges(terrain_y):
    """Edge endpoints ``(a, b)``, each [11, 2]: the 10 terrain edges, then the bottom edge."""
    x = jnp.asarray(C.TERRAIN_X)
    pts = jnp.stack([x, terrain_y], axis=-1)
    a = jnp.concatenate([pts[:-1], jnp.array([[0.0, 0.0]], jnp.float32)], axis=0)
    b = jnp.concatenate([pts[1:], jnp.array([[C.W, 0.0]], jnp.float32)], axis=0)
    return a, b


def edge_friction():
    """Mixed friction [11] of a leg against each edge: sqrt(0.2 * 0.1) on terrain, 0.2 on the bottom."""
    terrain = jnp.full(C.NUM_EDGES, (C.LEG_FRICTION * C.TERRAIN_FRICTION) ** 0.5, jnp.float32)
    bottom = jnp.array([(C.LEG_FRICTION * C.BOTTOM_EDGE_FRICTION) ** 0.5], jnp.float32)
    return jnp.concatenate([terrain, bottom])


def _point_segment(p, a, b):
    """Distance and closest point of points ``p`` [..., 2] to segments ``a, b`` [..., 2]."""
    ab = b - a
    t = jnp.clip(jnp.sum((p - a) * ab, -1) / jnp.maximum(jnp.sum(ab * ab, -1), 1e-12), 0.0, 1.0)
    closest = a + t[..., None] * ab
    d = p - closest
    return jnp.sqrt(jnp.sum(d * d, -1) + 1e-20), closest


def polygon_touches_edges(verts, a, b):
    """Whether a convex CCW polygon ``verts`` [K, 2] touches each edge ``(a, b)`` [E, 2] -> [E] bool.

    Touching = the core shapes overlap or are closer than the sum of skins (0.02 m).
    """
    k = verts.shape[0]
    # Polygon vertices against the edges: distance, and whether a vertex lies below the edge line.
    d_v, _ = _point_segment(verts[:, None, :], a[None], b[None])  # [K, E]
    ab = b - a
    normal = jnp.stack([-ab[:, 1], ab[:, 0]], -1) / jnp.linalg.norm(ab, axis=-1, keepdims=True)
    t = jnp.sum((verts[:, None, :] - a[None]) * ab[None], -1) / jnp.sum(ab * ab, -1)[None]
    below = (jnp.sum((verts[:, None, :] - a[None]) * normal[None], -1) < 0.0) & (t >= 0) & (t <= 1)
    # Edge endpoints against the polygon boundary, and whether they lie inside the polygon.
    pa, pb = verts, jnp.roll(verts, -1, axis=0)  # polygon edges [K, 2]
    ends = jnp.stack([a, b], axis=1)  # [E, 2, 2]
    d_e, _ = _point_segment(ends[:, :, None, :], pa[None, None], pb[None, None])  # [E, 2, K]
    side = K.cross((pb - pa)[None, None], ends[:, :, None, :] - pa[None, None])  # [E, 2, K]
    inside = jnp.all(side >= 0.0, axis=-1)  # [E, 2]
    dist = jnp.minimum(jnp.min(d_v, axis=0), jnp.min(d_e, axis=(1, 2)))
    del k
    return (dist < C.CONTACT_DISTANCE) | jnp.any(below, axis=0) | jnp.any(inside, axis=1)


def foot_contacts(corners, a, b):
    """Solver contacts of points ``corners`` [P, 2] (each leg's foot corners) against the edges.

    Each corner is treated as a rounded vertex (skin 0.01 m) against the rounded edges: the most
    penetrating (or closest) edge wins; the normal is the edge normal where the corner projects
    inside the edge, else the direction from the edge's end vertex to the corner.

    Returns:
      separation [P] (core distance minus 0.02 m; negative when touching or overlapping),
      normal [P, 2] (unit, out of the terrain), friction [P] (mixed coefficient).
    """
    ab = b - a
    length = jnp.linalg.norm(ab, axis=-1)
    edge_n = jnp.stack([-ab[:, 1], ab[:, 0]], -1) / length[:, None]  # up for left-to-right edges
    rel = corners[:, None, :] - a[None]  # [P, E, 2]
    t = jnp.sum(rel * ab[None], -1) / (length * length)[None]
    signed = jnp.sum(rel * edge_n[None], -1)  # [P, E]
    within = (t >= 0.0) & (t <= 1.0)
    dist, closest = _point_segment(corners[:, None, :], a[None], b[None])
    # Inside the edge's extent: signed distance to its line. Beyond its ends: distance to the end
    # vertex (never negative: a point below the line's extension is not inside this edge).
    sep = jnp.where(within, signed, dist)
    n = jnp.where(within[..., None], edge_n[None], (corners[:, None, :] - closest) / dist[..., None])
    # Only edges whose x-extent is near the corner can be the supporting one.
    near = (corners[:, None, 0] >= a[None, :, 0] - 0.5) & (corners[:, None, 0] <= b[None, :, 0] + 0.5)
    sep = jnp.where(near, sep, _BIG)
    best = jnp.argmin(sep, axis=1)
    take = lambda x: jnp.take_along_axis(x, best[:, None], axis=1)[:, 0]
    separation = take(sep) - C.CONTACT_DISTANCE
    normal = jnp.stack([take(n[..., 0]), take(n[..., 1])], -1)
    friction = edge_friction()[best]
    return separation, normal, friction
