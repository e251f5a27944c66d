"""Golden trajectories: the env's step must stay bit-identical across refactors of the physics.

Three settings (discrete, discrete with wind, continuous with wind), 4 envs each (2 random, 2
heuristic policies), 400 auto-resetting steps from a fixed key: random episodes crash through
touchdowns (TOI events, contact flags, hull hits) and reset several times; heuristic ones land and
go to sleep. Observations, rewards, dones and a few solver states are compared bit for bit against
``data/golden_trajectory.npz``.

A deliberate physics change regenerates the file, in its own commit that says so:
``PYTHONPATH=. python tests/env/test_trajectory_golden.py --regenerate``.
"""

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

import rlax_lander
from rlax_lander.env.heuristic import heuristic_action

DATA = pathlib.Path(__file__).resolve().parent / "data" / "golden_trajectory.npz"
SETTINGS = {"discrete": (False, False), "discrete_wind": (False, True), "continuous_wind": (True, True)}
ENVS, STEPS = 4, 400


def trajectory(continuous: bool, wind: bool) -> dict[str, np.ndarray]:
    """Per-step arrays [STEPS, ENVS, ...] of one setting: obs, reward, done and solver state."""
    env, params = rlax_lander.make("LunarLander-v3", continuous=continuous)
    params = params.replace(enable_wind=wind)
    heuristic = jnp.arange(ENVS) >= ENVS // 2

    def act(key, obs, use_heuristic):
        rand = (jax.random.uniform(key, (2,), jnp.float32, -1.0, 1.0) if continuous
                else jax.random.randint(key, (), 0, 4, jnp.int32))
        return jnp.where(use_heuristic, heuristic_action(obs, continuous), rand)

    def one(key, use_heuristic):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def f(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            obs, state, reward, terminated, truncated, info = env.step(
                k_step, state, act(k_act, obs, use_heuristic), params)
            out = dict(obs=obs, final_obs=info["final_observation"], reward=reward,
                       done=terminated | truncated, leg_angle=state.leg_angle,
                       leg_ang_vel=state.leg_ang_vel, contact_impulse=state.contact_impulse,
                       leg_contact=state.leg_contact)
            return (obs, state), out

        return jax.lax.scan(f, (obs, state), jax.random.split(k_run, STEPS))[1]

    keys = jax.random.split(jax.random.PRNGKey(20261202), ENVS)
    out = jax.jit(jax.vmap(one))(keys, heuristic)
    return {k: np.swapaxes(np.asarray(v), 0, 1) for k, v in out.items()}


def all_trajectories() -> dict[str, np.ndarray]:
    return {f"{name}/{k}": v for name, setting in SETTINGS.items() for k, v in trajectory(*setting).items()}


def test_trajectories_are_bit_identical_to_golden():
    golden = np.load(DATA)
    now = all_trajectories()
    assert sorted(golden.files) == sorted(now)
    # The file exercises what it should: resets, touchdowns and landings (sleep) in every setting.
    for name in SETTINGS:
        assert golden[f"{name}/done"].sum() >= 6, name  # 7 to 10 episode ends per setting
        assert golden[f"{name}/leg_contact"].any(), name
    for k in sorted(now):
        np.testing.assert_array_equal(now[k], golden[k], err_msg=k)


if __name__ == "__main__":
    if "--regenerate" not in sys.argv:
        sys.exit("usage: python tests/env/test_trajectory_golden.py --regenerate")
    DATA.parent.mkdir(exist_ok=True)
    np.savez_compressed(DATA, **all_trajectories())
    print(f"wrote {DATA} ({DATA.stat().st_size} bytes)")
