"""Box2D's velocity solve in body coordinates (``body_solve``) on a step whose contacts are new.

Run to convergence it must give the reduced-coordinate solve's velocities: the same three bodies,
joints and contacts in other coordinates. What its 180 sweeps leave unresolved is compared with
Box2D in ``test_toi_parity.py`` and ``scripts/paired_landings.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlax_lander
from rlax_lander.env import body_solve, physics
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K

REST_PHI = (0.35, -0.35)  # relative leg angles at the joint limits, rad
PAD_Y = 0.99 * C.HELIPAD_Y


@pytest.fixture(scope="module")
def touchdown():
    """A fast, slightly tilted touchdown on the pad: the feet just inside contact range, nothing
    warm-started."""
    env, params = rlax_lander.make("LunarLander-v3")
    _, state = env.reset_env(jax.random.PRNGKey(0), params)
    return state.replace(
        pos=jnp.array([10.0, PAD_Y + 0.6084 + 0.01], jnp.float32), angle=jnp.float32(0.05),
        vel=jnp.array([0.5, -8.0], jnp.float32), ang_vel=jnp.float32(0.3),
        leg_angle=jnp.array(REST_PHI, jnp.float32), leg_ang_vel=jnp.zeros(2, jnp.float32),
        contact_impulse=jnp.zeros_like(state.contact_impulse))


def _warm(state):
    contacts = physics.collide(state)
    pos, angle, leg_angle = state.pos, state.angle, state.leg_angle
    u = jnp.concatenate([state.vel, state.ang_vel[None], state.leg_ang_vel])
    m_inv = K.mass_matrix_inverse(pos, angle, leg_angle)
    zero = jnp.zeros(2, jnp.float32)
    forces = physics.Forces(force=zero, torque=jnp.float32(0.0), impulses=jnp.zeros((2, 2), jnp.float32),
                            points=jnp.zeros((2, 2), jnp.float32))
    u = physics.apply_external(u, pos, angle, leg_angle, m_inv, forces, C.GRAVITY)
    rows = physics.constraint_rows(pos, K.hull_com(pos, angle), m_inv, contacts)
    limits = physics.joint_limits(leg_angle)
    u, acc = physics.warm_start(state, u, rows, limits, contacts)
    return contacts, rows, limits, u, acc


def _body(state, iterations):
    contacts, _, limits, u, acc = _warm(state)
    return jax.jit(lambda: body_solve.body_sweeps(
        u, acc, state.pos, state.angle, state.leg_angle, contacts, limits, physics._CONTACT_LEG,
        iterations))()


def test_converged_body_solve_matches_the_reduced_solve(touchdown):
    contacts, rows, limits, u, acc = _warm(touchdown)
    assert bool(jnp.any(contacts.active)), "the touchdown must start in contact"
    reduced, _ = physics.velocity_sweeps(u, acc, rows, limits, contacts, 400)
    body, _, slip = _body(touchdown, 20000)
    np.testing.assert_allclose(np.asarray(body[0:3]), np.asarray(reduced[0:3]), atol=0.02)
    assert float(jnp.max(jnp.abs(slip))) < 0.02


def test_world_step_runs_it_only_without_a_warm_start(touchdown):
    forces = physics.Forces(force=jnp.zeros(2, jnp.float32), torque=jnp.float32(0.0),
                            impulses=jnp.zeros((2, 2), jnp.float32), points=jnp.zeros((2, 2), jnp.float32))
    step = jax.jit(lambda s, n: physics.world_step(s, forces, C.GRAVITY, 40, 4, n)[0], static_argnums=1)
    # One Box2D sweep leaves the touchdown far from resolved: the body solve runs on this step.
    assert abs(float(step(touchdown, 1).ang_vel) - float(step(touchdown, 0).ang_vel)) > 0.1
    warm = touchdown.replace(contact_impulse=jnp.full_like(touchdown.contact_impulse, 0.01))
    for a, b in zip(jax.tree.leaves(step(warm, 1)), jax.tree.leaves(step(warm, 0))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
