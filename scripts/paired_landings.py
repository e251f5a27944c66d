"""Paired touchdowns: the JAX lander and Box2D from the *same* pre-touchdown states and actions.

Why: under the random policy our episodes run longer than Box2D's and reach the 1000-step limit
more often (experiments/results/fidelity.md). This script isolates where: it plays
random episodes in Box2D until the step before a leg first touches, snapshots all three bodies
``--lead`` steps earlier, loads that snapshot into both engines, and continues both with the same
random action sequence. (Only the engines' per-step dispersion draws differ.) Outcomes are
tabulated jointly, and binned by the hull's vertical speed at the snapshot.

It also records, for Box2D alone, how far each revolute joint is pulled apart at the first contact
step: Box2D's continuous collision rewinds the *leg alone* to its time of impact (joints are not
part of the TOI sub-step), so a fast leg stops while the hull moves on (the JAX lander keeps that
gap as ``EnvState.joint_gap``).

With ``--box2d-converged N`` Box2D runs the same cases again with N velocity sweeps per step
instead of LunarLander's 180. At a hard touchdown with a leg held past its joint limit, 180 sweeps
do not converge (the 0.071 kg leg passes the hull's impulse on a sliver per sweep), while the JAX
lander's reduced-coordinate solve converges; the converged Box2D run shows how much of the
difference in survivors that accounts for.

    python scripts/paired_landings.py [--episodes 8000] [--lead 3] [--box2d-converged 1000]
                                      [--out experiments/results]

Writes ``paired_landings.{json,md}``. Needs ``gymnasium[box2d]``; about 2 minutes on 2 cores.
"""

import argparse
import datetime
import json
import pathlib
import sys

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

import rlax_lander
from rlax_lander.env import constants as C
from rlax_lander.env import observation, terrain
from rlax_lander.env.state import blank_state
from rlax_lander.machine import cpu_model

OUTCOMES = ("crash", "rest", "out", "survived")  # "survived": reached the step limit
SPEED_BINS = ((-99.0, -12.0), (-12.0, -10.0), (-10.0, -8.0), (-8.0, 0.0))  # hull v_y at snapshot, m/s


def _snapshot(env) -> list:
    """Pose and velocities of hull, legs[0], legs[1]: 18 floats (x, y, angle, vx, vy, w each)."""
    bodies = [env.lander] + list(env.legs)
    return [v for b in bodies for v in (*b.position, b.angle, *b.linearVelocity, b.angularVelocity)]


def _load(env, seed: int, snap) -> None:
    env.reset(seed=seed)
    for i, body in enumerate([env.lander] + list(env.legs)):
        x, y, a, vx, vy, w = (float(v) for v in snap[6 * i: 6 * i + 6])
        body.position, body.angle = (x, y), a
        body.linearVelocity, body.angularVelocity = (vx, vy), w


def _max_joint_error(env) -> float:
    joints = (leg.joints[0].joint for leg in env.legs)
    gaps = (np.asarray(j.anchorB) - np.asarray(j.anchorA) for j in joints)
    return max(float(np.hypot(*g)) for g in gaps)


def collect_cases(episodes: int, lead: int, rng):
    """Box2D random episodes -> list of (seed, snapshot ``lead`` steps before first leg contact,
    joint error at the first contact step)."""
    env = gym.make("LunarLander-v3").unwrapped
    cases = []
    for seed in range(episodes):
        env.reset(seed=seed)
        hist = [_snapshot(env)]
        touched = False
        for _ in range(1000):
            _, _, terminated, _, _ = env.step(int(rng.integers(4)))
            touched = env.legs[0].ground_contact or env.legs[1].ground_contact
            if touched or terminated:
                break
            hist.append(_snapshot(env))
        if touched and len(hist) > lead:
            cases.append((seed, hist[-lead], _max_joint_error(env)))
    env.close()
    return cases


class _WorldWithIterations:
    """Box2D's world with ``Step``'s velocity-iteration count replaced (LunarLander passes 180)."""

    def __init__(self, world, velocity_iterations: int):
        object.__setattr__(self, "_world", world)
        object.__setattr__(self, "_iterations", velocity_iterations)

    def __getattr__(self, name):
        return getattr(self._world, name)

    def __setattr__(self, name, value):
        setattr(self._world, name, value)

    def Step(self, dt, velocity_iterations, position_iterations):  # noqa: N802 (Box2D's name)
        return self._world.Step(dt, self._iterations, position_iterations)


def run_box2d(cases, actions, max_steps: int, velocity_iterations: int | None = None):
    """Box2D from each case's snapshot with the case's actions; ``velocity_iterations`` replaces the
    180 sweeps LunarLander asks of each ``world.Step`` (None: unchanged)."""
    env = gym.make("LunarLander-v3").unwrapped
    steps, outcome = np.zeros(len(cases), np.int64), np.zeros(len(cases), np.int64)
    for i, (seed, snap, _) in enumerate(cases):
        _load(env, seed, snap)
        if velocity_iterations is not None:
            env.world = _WorldWithIterations(env.world, velocity_iterations)
        steps[i], outcome[i] = max_steps, 3
        for t in range(max_steps):
            _, r, terminated, _, _ = env.step(int(actions[i, t]))
            if terminated:
                out = abs(env.lander.position[0] - C.W / 2) >= C.W / 2
                steps[i] = t + 1
                outcome[i] = 2 if out else (1 if r > 0 and not env.game_over else 0)
                break
        if velocity_iterations is not None:
            env.world = env.world._world
    env.close()
    return steps, outcome


def run_jax(cases, actions, max_steps: int, key):
    env, params = rlax_lander.make("LunarLander-v3")
    terrain_y = np.stack([
        np.asarray(terrain.terrain_from_raw(jnp.asarray(
            np.random.default_rng(seed).uniform(0, C.H / 2, size=(C.CHUNKS + 1,)).astype(np.float32))))
        for seed, _, _ in cases])
    snaps = np.array([c[1] for c in cases], np.float32)

    def one(ty, s, acts, k):
        state = blank_state(
            pos=s[0:2], angle=s[2], vel=s[3:5], ang_vel=s[5],  # Box2D's linearVelocity is the COM's
            leg_angle=jnp.stack([s[8] - s[2], s[14] - s[2]]),
            leg_ang_vel=jnp.stack([s[11] - s[5], s[17] - s[5]]),
            terrain_y=ty, wind_idx=0, torque_idx=0)
        state = state.replace(prev_shaping=observation.shaping(observation.observation(state)))

        def body(carry, t):
            state, done, steps, outcome = carry
            _, state, _, terminated, info = env.step_env(jax.random.fold_in(k, t), state, acts[t], params)
            o = jnp.where(info["out_of_bounds"], 2, jnp.where(info["crashed"], 0, 1))
            new = terminated & ~done
            return (state, done | terminated, jnp.where(new, t + 1, steps), jnp.where(new, o, outcome)), None

        init = (state, jnp.bool_(False), jnp.int32(max_steps), jnp.int32(3))
        return jax.lax.scan(body, init, jnp.arange(max_steps))[0][2:]

    keys = jax.random.split(key, len(cases))
    steps, outcome = jax.jit(jax.vmap(one))(jnp.asarray(terrain_y), jnp.asarray(snaps), jnp.asarray(actions),
                                            keys)
    return np.asarray(steps), np.asarray(outcome)


def summarise(cases, b_steps, b_out, j_steps, j_out) -> dict:
    table = np.zeros((4, 4), np.int64)
    np.add.at(table, (b_out, j_out), 1)
    vy = np.array([c[1][4] for c in cases])
    joint_err = np.array([c[2] for c in cases])
    bins = []
    for lo, hi in SPEED_BINS:
        k = (vy >= lo) & (vy < hi)
        if k.any():
            bins.append(dict(vy_lo=lo, vy_hi=hi, n=int(k.sum()),
                             box2d_mean_steps=float(b_steps[k].mean()),
                             jax_mean_steps=float(j_steps[k].mean()),
                             box2d_ge50=float((b_steps[k] >= 50).mean()),
                             jax_ge50=float((j_steps[k] >= 50).mean())))
    return dict(
        cases=len(cases), joint_table_rows_box2d_cols_jax=table.tolist(), outcomes=OUTCOMES,
        box2d_survived=int((b_out == 3).sum()), jax_survived=int((j_out == 3).sum()),
        box2d_mean_steps=float(b_steps.mean()), jax_mean_steps=float(j_steps.mean()),
        box2d_joint_error_at_contact_m=dict(
            median=float(np.median(joint_err)), p90=float(np.percentile(joint_err, 90)),
            max=float(joint_err.max()), share_over_5cm=float((joint_err > 0.05).mean())),
        by_speed=bins)


def markdown(s: dict, header: dict) -> str:
    lines = ["# Paired touchdowns: JAX lander vs Box2D from the same states and actions", ""]
    lines += [f"- {k}: {v}" for k, v in header.items()] + [""]
    lines += [f"{s['cases']} touchdowns. Rows: Box2D outcome; columns: JAX outcome "
              "(\"survived\" = still running at the step limit).", "",
              "| Box2D \\ JAX | " + " | ".join(OUTCOMES) + " |", "|---" * 5 + "|"]
    for name, row in zip(OUTCOMES, s["joint_table_rows_box2d_cols_jax"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    e = s["box2d_joint_error_at_contact_m"]
    lines += ["", f"- Survived to the step limit: Box2D {s['box2d_survived']}, JAX {s['jax_survived']}.",
              f"- Mean steps from the snapshot to the end: Box2D {s['box2d_mean_steps']:.1f}, "
              f"JAX {s['jax_mean_steps']:.1f}.",
              *([f"- Box2D with {c['velocity_iterations']} velocity sweeps per step instead of 180 "
                 f"(near convergence), same states and actions: {c['survived']} survived, mean steps "
                 f"{c['mean_steps']:.1f} (crash {c['crash']}, out {c['out']})."]
                if (c := s.get("box2d_converged")) else []),
              f"- Box2D's revolute joints at the first contact step are pulled apart by a median "
              f"{100 * e['median']:.1f} cm (90th percentile {100 * e['p90']:.1f} cm, "
              f"max {100 * e['max']:.0f} cm; "
              f"{100 * e['share_over_5cm']:.0f}% over 5 cm): its TOI sub-step moves a leg alone.", "",
              "| hull v_y at snapshot (m/s) | n | mean steps Box2D | mean steps JAX "
              "| ≥ 50 steps Box2D | ≥ 50 steps JAX |",
              "|---|---|---|---|---|---|"]
    for b in s["by_speed"]:
        lines.append(f"| [{b['vy_lo']:g}, {b['vy_hi']:g}) | {b['n']} | {b['box2d_mean_steps']:.1f} | "
                     f"{b['jax_mean_steps']:.1f} | {100 * b['box2d_ge50']:.2f}% | "
                     f"{100 * b['jax_ge50']:.2f}% |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8000,
                    help="Box2D random episodes to draw touchdowns from")
    ap.add_argument("--lead", type=int, default=3,
                    help="snapshot this many steps before the first leg contact")
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="experiments/results")
    ap.add_argument("--box2d-converged", type=int, default=0, metavar="SWEEPS",
                    help="also run Box2D with this many velocity sweeps per step (e.g. 1000, near "
                         "convergence; LunarLander uses 180) and report its outcomes (0: skip)")
    args = ap.parse_args(argv)
    if args.episodes < 1 or args.lead < 1 or args.max_steps < 1 or args.box2d_converged < 0:
        raise ValueError("--episodes, --lead and --max-steps must be >= 1, --box2d-converged >= 0")
    rng = np.random.default_rng(args.seed)
    cases = collect_cases(args.episodes, args.lead, rng)
    actions = rng.integers(0, 4, (len(cases), args.max_steps)).astype(np.int32)
    j_steps, j_out = run_jax(cases, actions, args.max_steps, jax.random.PRNGKey(args.seed))
    b_steps, b_out = run_box2d(cases, actions, args.max_steps)
    summary = summarise(cases, b_steps, b_out, j_steps, j_out)
    if args.box2d_converged:
        c_steps, c_out = run_box2d(cases, actions, args.max_steps, args.box2d_converged)
        summary["box2d_converged"] = dict(
            velocity_iterations=args.box2d_converged, survived=int((c_out == 3).sum()),
            mean_steps=float(c_steps.mean()), crash=int((c_out == 0).sum()), out=int((c_out == 2).sum()))
    header = {"machine": cpu_model(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python " + " ".join([pathlib.Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
              "policy": f"uniform random discrete actions, default_rng({args.seed})",
              "snapshot": f"{args.lead} steps before the first leg contact of a Box2D random episode"}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "paired_landings.json").write_text(json.dumps(dict(header=header, **summary), indent=2))
    (out / "paired_landings.md").write_text(markdown(summary, header))
    print(markdown(summary, header))


if __name__ == "__main__":
    main()
