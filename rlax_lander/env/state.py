"""State and parameters of the JAX LunarLander (``flax.struct`` dataclasses).

The three bodies are kept in reduced coordinates: the hull's pose plus one relative angle per leg.
The revolute joints' point constraints hold by construction in the velocity solve; the position
error Box2D's continuous collision leaves in a joint is kept as a per-leg offset (``joint_gap``) and
closed by the next step's position solve; see ``physics.py``.
Leg index 0 is the original's ``legs[0]`` (right, +x side, observation index 6), index 1 is
``legs[1]`` (left, observation index 7).
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from rlax_lander.env import constants as C


@struct.dataclass
class EnvState:
    """One lander's full state. Shapes are per env; a batch adds leading axes.

    Attributes:
      pos: [2] hull origin (not its centre of mass), m, world frame.
      angle: [] hull angle, rad, counter-clockwise, not wrapped.
      leg_angle: [2] physical relative leg angles ``theta_leg - theta_hull``, rad.
      vel: [2] hull centre-of-mass velocity, m/s.
      ang_vel: [] hull angular velocity, rad/s.
      leg_ang_vel: [2] relative leg angular velocities, rad/s.
      joint_gap: [2, 2] each leg's joint anchor minus the hull's (Box2D's revolute position error
        ``anchorB - anchorA``), m, world frame: where a TOI sub-step moved a leg alone, its box sits
        this far from where the closed joint would hold it (``physics.joint_closure`` closes it).
      terrain_y: [11] smoothed terrain heights at x = 0, 2, ..., 20 m.
      leg_contact: [2] bool, the original's ``ground_contact`` flags (event driven).
      touching: [2, 11] bool, whether leg l touched edge e at the last collide pass
        (edges 0..9 are the terrain, 10 is the flat bottom edge at y = 0).
      game_over: [] bool, sticky hull-ground contact flag.
      prev_shaping: [] float32, shaping after the previous step.
      sleep_steps: [] int32, consecutive steps with all three bodies quiet.
      wind_idx, torque_idx: [] int32 phase indices of wind and turbulence.
      motor_impulse, limit_impulse: [2] accumulated joint impulses (warm start), N m s.
      contact_impulse: [6, 2] accumulated (tangent, normal) impulses of the six leg contacts
        (four foot corners, two vertex-on-foot contacts; see ``physics.py``), warm start, N s.
      time: [] int32 env steps since reset (the internal reset step not counted).
      near_legs: [2, 11] bool, leg l's core shape is within 0.02 m of edge e at the current pose
        (computed at the end of the step; the next step's collide turns it into events).
      near_hull: [] bool, the same for the hull against any edge.
      hull_clearance: [] the hull's smallest core distance to the terrain at the current pose, m
        (-1 where the cores overlap); the start of the next step's hull sweep.
      leg_clearance: [2] each leg's smallest core distance to the terrain at the current pose, m
        (-1 where the cores overlap); decides Box2D's continuous collision in the next step.
    """

    pos: jax.Array
    angle: jax.Array
    leg_angle: jax.Array
    vel: jax.Array
    ang_vel: jax.Array
    leg_ang_vel: jax.Array
    joint_gap: jax.Array
    terrain_y: jax.Array
    leg_contact: jax.Array
    touching: jax.Array
    game_over: jax.Array
    prev_shaping: jax.Array
    sleep_steps: jax.Array
    wind_idx: jax.Array
    torque_idx: jax.Array
    motor_impulse: jax.Array
    limit_impulse: jax.Array
    contact_impulse: jax.Array
    time: jax.Array
    near_legs: jax.Array
    near_hull: jax.Array
    hull_clearance: jax.Array
    leg_clearance: jax.Array


@struct.dataclass
class EnvParams:
    """Tunables of the lander. The iteration counts are static (they change the compiled
    program); the rest are arrays and can be vmapped. The action kind is not a param: it is the
    env's (``LunarLander(continuous=...)``), since it changes the action space itself.

    Attributes:
      gravity: m/s^2, must satisfy -12 < g < 0 (as the original asserts).
      enable_wind: bool, wind and turbulence on/off.
      wind_power: N, amplitude of the horizontal wind force.
      turbulence_power: N m, amplitude of the turbulence torque.
      max_steps_in_episode: truncation step count (``TimeLimit``).
      velocity_iterations: sequential-impulse sweeps per step over joints and contacts.
      position_iterations: position-correction sweeps per step.
      first_contact_iterations: Box2D's velocity sweeps in body coordinates on a step where a leg
        contact has no warm start (``physics.solve_velocities``); LunarLander's 180 by default. 0
        runs the converged reduced solve there too: a hard touchdown then holds the hull up more
        often than Box2D does, and on a GPU every step skips the 180 sweeps.
    """

    gravity: float = C.GRAVITY
    enable_wind: bool = False
    wind_power: float = C.WIND_POWER
    turbulence_power: float = C.TURBULENCE_POWER
    max_steps_in_episode: int = C.MAX_EPISODE_STEPS
    velocity_iterations: int = struct.field(pytree_node=False, default=40)
    position_iterations: int = struct.field(pytree_node=False, default=4)
    first_contact_iterations: int = struct.field(pytree_node=False, default=C.BOX2D_VELOCITY_ITERATIONS)


NUM_CONTACTS = 6  # leg contacts of the solver: four foot corners, two vertex-on-foot-face


def blank_state(**fields) -> EnvState:
    """An ``EnvState`` of one env with every field zero / False, then ``fields`` set."""
    z2 = jnp.zeros(2, jnp.float32)
    edges = (2, C.NUM_EDGES + 1)
    defaults = dict(
        pos=z2, angle=jnp.float32(0.0), leg_angle=z2, vel=z2, ang_vel=jnp.float32(0.0),
        leg_ang_vel=z2, joint_gap=jnp.zeros((2, 2), jnp.float32), terrain_y=jnp.zeros(C.CHUNKS, jnp.float32),
        leg_contact=jnp.zeros(2, bool), touching=jnp.zeros(edges, bool),
        game_over=jnp.array(False), prev_shaping=jnp.float32(0.0), sleep_steps=jnp.int32(0),
        wind_idx=jnp.int32(0), torque_idx=jnp.int32(0), motor_impulse=z2, limit_impulse=z2,
        contact_impulse=jnp.zeros((NUM_CONTACTS, 2), jnp.float32), time=jnp.int32(0),
        near_legs=jnp.zeros(edges, bool), near_hull=jnp.array(False), hull_clearance=jnp.float32(1.0),
        leg_clearance=jnp.ones(2, jnp.float32),  # far from the terrain (a fresh lander is ~7 m up)
    )
    unknown = set(fields) - set(defaults)
    if unknown:
        raise TypeError(f"unknown EnvState field(s) {sorted(unknown)}")
    defaults.update(fields)
    return EnvState(**defaults)


def state_nbytes(state: Any) -> int:
    """Bytes of one env's state (sum over leaves)."""
    return int(sum(jnp.asarray(x).nbytes for x in jax.tree_util.tree_leaves(state)))
