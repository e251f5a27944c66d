"""Physics invariants of the reduced-coordinate lander: mass matrix, resting contact, joint limits,
free fall. All trajectory tests share one compiled program (8 envs x 300 steps of ``step_env``)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlax_lander
from rlax_lander.env import constants as C
from rlax_lander.env import kinematics as K
from rlax_lander.env import physics

B, T = 8, 300
ENV, PARAMS = rlax_lander.make("LunarLander-v3")


@functools.partial(jax.jit, static_argnums=())
def _trajectory(keys, states, actions):
    """Steps each env ``T`` times without auto-reset; returns per-step obs, states, rewards, infos."""

    def one(key, state, acts):
        def f(st, x):
            k, a = x
            obs, st2, r, term, info = ENV.step_env(k, st, a, PARAMS)
            return st2, (obs, st2, r, term, info)

        return jax.lax.scan(f, state, (jax.random.split(key, T), acts))[1]

    return jax.vmap(one)(keys, states, actions)


@pytest.fixture(scope="module")
def reset_states():
    keys = jax.random.split(jax.random.PRNGKey(3), B)
    return jax.jit(jax.vmap(ENV.reset, (0, None)))(keys, PARAMS)[1]


def _noop():
    return jnp.zeros((B, T), jnp.int32)


def test_mass_matrix_symmetric_positive_definite():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pos = jnp.asarray(rng.uniform(0, 20, 2), jnp.float32)
        angle = jnp.float32(rng.uniform(-np.pi, np.pi))
        leg = jnp.asarray(rng.uniform(C.LEG_PHI_LOWER, C.LEG_PHI_UPPER), jnp.float32)
        m = np.asarray(K.mass_matrix(pos, angle, leg), np.float64)
        np.testing.assert_allclose(m, m.T, atol=1e-6)
        assert np.linalg.eigvalsh(m).min() > 0.0
        # Total translational mass is the sum of the three bodies.
        np.testing.assert_allclose(m[0, 0], C.HULL_MASS + 2 * C.LEG_MASS, rtol=1e-5)


def test_free_fall_changes_vertical_velocity_by_g_dt(reset_states):
    # From the post-reset state (about 9 m above the terrain), no engines, no wind: the first
    # steps have no contact, so the hull's vertical velocity changes by exactly g * dt.
    states = reset_states.replace(vel=jnp.zeros_like(reset_states.vel),
                                  ang_vel=jnp.zeros_like(reset_states.ang_vel))
    _, traj, _, _, _ = _trajectory(jax.random.split(jax.random.PRNGKey(1), B), states, _noop())
    # Step 1 carries the transient of the edited state (leg motors re-accelerating the legs push
    # on the hull); from then on the legs hang on their limits and only gravity acts.
    vy = np.asarray(traj.vel[:, 1:20, 1])
    assert not np.any(np.asarray(traj.leg_contact[:, :20]))
    np.testing.assert_allclose(np.diff(vy, axis=1), C.GRAVITY * C.DT, atol=1e-4)


def test_flat_drop_on_pad_comes_to_rest_with_both_legs(reset_states):
    # Hull origin 5 cm above its resting height, level, over the pad centre, at rest. (A crash is
    # not asserted against: in Box2D itself the legs fold under such a drop and the hull skin
    # touches the pad even from 2 cm, measured with gymnasium 1.3.0; ours folds to the same depth.)
    pos = jnp.tile(jnp.array([C.W / 2, C.OBS_Y_REFERENCE + 0.05], jnp.float32), (B, 1))
    states = reset_states.replace(
        pos=pos, angle=jnp.zeros(B), vel=jnp.zeros((B, 2)), ang_vel=jnp.zeros(B),
        leg_ang_vel=jnp.zeros((B, 2)))
    obs, traj, rew, term, info = _trajectory(jax.random.split(jax.random.PRNGKey(2), B), states, _noop())
    landed = np.asarray(info["landed"])
    assert landed.any(axis=1).all(), "every dropped lander must fall asleep within 300 steps"
    first = landed.argmax(axis=1)
    rows = np.arange(B)
    final = np.asarray(obs)[rows, first]
    assert np.all(np.abs(final[:, 1]) < 0.01), final[:, 1]
    assert np.all(final[:, 6] == 1.0) and np.all(final[:, 7] == 1.0)
    assert np.all(np.asarray(traj.sleep_steps)[rows, first] >= 25)
    vel = np.asarray(traj.vel)[rows, first]
    assert np.all(np.abs(vel) < 0.01)


def test_leg_angles_stay_within_limits_in_random_play(reset_states):
    actions = jax.random.randint(jax.random.PRNGKey(4), (B, T), 0, 4)
    _, traj, _, term, _ = _trajectory(jax.random.split(jax.random.PRNGKey(5), B), reset_states, actions)
    term = np.asarray(term)
    # Steps strictly before each episode's terminal step. The terminal (crash) step itself can
    # violate the limits by ~0.2 rad: the legs are slammed into the ground as the hull hits it, and
    # the hull has no contact response here (any hull touch ends the episode).
    before = np.cumsum(term, axis=1) == 0
    leg = np.asarray(traj.leg_angle)[before]  # [N, 2]
    assert leg.shape[0] > 100
    assert np.all(np.isfinite(leg))
    excess = np.maximum(C.LEG_PHI_LOWER - leg, leg - C.LEG_PHI_UPPER).max(axis=1)  # [N]
    # A leg struck at speed is stopped and spun alone in Box2D's TOI sub-step, which can leave it
    # well beyond its limit for a step or two (Box2D's own legs reach ~0.9 rad beyond; see
    # test_toi_parity.py); everywhere else the limits hold to the solver's slop.
    assert np.mean(excess <= 0.1) >= 0.99, np.sort(excess)[-5:]
    assert excess.max() <= 1.0, excess.max()


def test_batched_step_gathers_contact_sweeps_and_equals_the_single_env_step(reset_states):
    """On a CPU the contact rows of the velocity solve run only for the envs of a batch that touch
    (``physics._reduced_solve``); the others sweep their joints alone. A batch of states from random
    play, some touching, some in flight, steps as each state does alone."""
    actions = jax.random.randint(jax.random.PRNGKey(6), (B, T), 0, 4)
    _, traj, _, _, _ = _trajectory(jax.random.split(jax.random.PRNGKey(7), B), reset_states, actions)
    flat = jax.tree.map(lambda x: np.asarray(x).reshape((B * T,) + x.shape[2:]), traj)
    touching = flat.leg_contact.any(axis=1) & ~flat.game_over
    unwarmed = np.abs(flat.contact_impulse).sum(axis=(1, 2)) == 0
    flying = ~flat.leg_contact.any(axis=1) & ~flat.game_over & unwarmed
    assert touching.sum() >= 20 and flying.sum() >= 200
    # 20 touching among 236 states: more than the small buffer (8 rows), fewer than the large (32).
    pick = np.concatenate([np.flatnonzero(touching)[:20], np.flatnonzero(flying)[:216]])
    states = jax.tree.map(lambda x: jnp.asarray(x[pick]), flat)
    zero = jnp.zeros(2, jnp.float32)
    forces = physics.Forces(force=zero, torque=jnp.float32(0.0), impulses=jnp.zeros((2, 2), jnp.float32),
                            points=jnp.zeros((2, 2), jnp.float32))
    step = lambda s: physics.world_step(s, forces, C.GRAVITY, PARAMS.velocity_iterations,
                                        PARAMS.position_iterations)[0]
    batched = jax.jit(jax.vmap(step))(states)
    single = jax.jit(step)
    for i in range(len(pick)):
        one = single(jax.tree.map(lambda x, i=i: x[i], states))
        for name in ("pos", "vel", "ang_vel", "leg_ang_vel", "contact_impulse"):
            np.testing.assert_allclose(np.asarray(getattr(batched, name)[i]), np.asarray(getattr(one, name)),
                                       rtol=1e-5, atol=1e-5, err_msg=f"{name}, state {i}")
