"""The observation's jump on the terminal step, JAX LunarLander vs Box2D LunarLander-v3.

On the step where an episode terminates (mostly a crash: the hull touches the terrain), Box2D's
final observation already contains the hull's contact response. This script runs random-policy
episodes in both engines, takes ``final_obs - obs_before`` on each terminal step, and writes the
median |jump| of every observation component (and their quartiles) to
experiments/results/terminal_jump.{json,md}.

    python scripts/terminal_jump.py [--episodes 2000] [--seed 0] [--continuous] [--wind]
"""

import argparse
import datetime
import json
import os
import pathlib
import sys

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

import rlax_lander
from rlax_lander.machine import cpu_model

OBS_NAMES = ("x", "y", "vx", "vy", "angle", "angular velocity", "leg 0 contact", "leg 1 contact")


def box2d_jumps(episodes: int, seed: int, continuous: bool, wind: bool):
    """Box2D: ([E, 8] final_obs - obs before the terminal step, [E] bool game_over) over the
    terminated episodes among ``episodes`` (episode k reset with ``seed + k``)."""
    env = gym.make("LunarLander-v3", continuous=continuous, enable_wind=wind).unwrapped
    rng = np.random.default_rng(10000 + seed)
    jumps, crashed = [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        for _ in range(1000):
            action = rng.uniform(-1, 1, 2).astype(np.float32) if continuous else int(rng.integers(4))
            new_obs, _, terminated, _, _ = env.step(action)
            if terminated:
                jumps.append(new_obs - obs)
                crashed.append(bool(env.game_over))
                break
            obs = new_obs
    env.close()
    return np.asarray(jumps, np.float64), np.asarray(crashed)


def jax_jumps(episodes: int, seed: int, continuous: bool, wind: bool, max_steps: int = 1000):
    """The same from the JAX env (random actions from ``PRNGKey(seed)``)."""
    env, params = rlax_lander.make("LunarLander-v3", continuous=continuous, enable_wind=wind)

    def act(key):
        if continuous:
            return jax.random.uniform(key, (2,), jnp.float32, -1.0, 1.0)
        return jax.random.randint(key, (), 0, 4, jnp.int32)

    @jax.jit
    def run(keys):
        obs, state = jax.vmap(env.reset, (0, None))(keys, params)
        n = keys.shape[0]
        carry = dict(obs=obs, state=state, t=jnp.int32(0), done=jnp.zeros(n, bool),
                     jump=jnp.zeros((n, 8)), crashed=jnp.zeros(n, bool), term=jnp.zeros(n, bool))

        def one(key, t, obs, state):
            k_act, k_step = jax.random.split(jax.random.fold_in(key, t))
            return env.step_env(k_step, state, act(k_act), params)

        def step(c, _):
            obs2, state2, _, term, info = jax.vmap(one, (0, None, 0, 0))(keys, c["t"], c["obs"], c["state"])
            live = ~c["done"]
            ended = live & (term | (c["t"] + 1 >= max_steps))
            keep = lambda new, old: jnp.where(live.reshape(live.shape + (1,) * (new.ndim - 1)), new, old)
            return dict(
                obs=keep(obs2, c["obs"]), state=jax.tree_util.tree_map(keep, state2, c["state"]),
                t=c["t"] + 1, done=c["done"] | ended,
                jump=jnp.where(ended[:, None], obs2 - c["obs"], c["jump"]),
                crashed=jnp.where(ended, info["crashed"], c["crashed"]),
                term=jnp.where(ended, term, c["term"]),
            ), None

        c = jax.lax.while_loop(lambda c: (c["t"] < max_steps) & ~jnp.all(c["done"]),
                               lambda c: jax.lax.scan(step, c, None, length=50)[0], carry)
        return c["jump"], c["crashed"], c["term"]

    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(episodes))
    jump, crashed, term = (np.asarray(x) for x in run(keys))
    return jump[term].astype(np.float64), crashed[term]


def summarize(jumps: np.ndarray, crashed: np.ndarray) -> dict:
    a = np.abs(jumps)
    q = lambda x: [float(v) for v in np.percentile(x, [25, 50, 75])] if len(x) else [float("nan")] * 3
    return dict(terminated=int(len(a)), crashed=int(crashed.sum()),
                quartiles={n: q(a[:, i]) for i, n in enumerate(OBS_NAMES)},
                crash_quartiles={n: q(a[crashed, i]) for i, n in enumerate(OBS_NAMES)})


def markdown(result: dict) -> str:
    j, b = result["jax"], result["box2d"]
    lines = ["# The observation's jump on the terminal step: JAX vs Box2D", ""]
    lines += [f"- {k}: {v}" for k, v in result["header"].items()]
    lines += [f"- terminated episodes: JAX {j['terminated']} ({j['crashed']} crashes), "
              f"Box2D {b['terminated']} ({b['crashed']} crashes)", "",
              "Median |final_obs - obs before| on the terminal step (quartiles in brackets), "
              "observation units; the band asks vy and angular velocity within 25 % of Box2D.", "",
              "| component | JAX | Box2D | JAX / Box2D |", "|---|---|---|---|"]
    for n in OBS_NAMES:
        (jl, jm, jh), (bl, bm, bh) = j["quartiles"][n], b["quartiles"][n]
        ratio = f"{jm / bm:.2f}" if bm > 0 else "n/a"
        lines.append(f"| {n} | {jm:.3f} [{jl:.3f}, {jh:.3f}] | {bm:.3f} [{bl:.3f}, {bh:.3f}] | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--continuous", action="store_true")
    ap.add_argument("--wind", action="store_true")
    ap.add_argument("--out", default="experiments/results")
    args = ap.parse_args(argv)
    import Box2D

    header = {
        "machine": f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python " + " ".join([pathlib.Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
        "episodes per side": args.episodes,
        "setting": ("continuous" if args.continuous else "discrete") + (", wind" if args.wind else ""),
        "versions": f"Box2D {Box2D.__version__}, gymnasium {gym.__version__}, jax {jax.__version__}",
        "seeds": f"JAX: PRNGKey({args.seed}) fold_in episode; Box2D: reset(seed={args.seed}+k), "
                 f"random actions from default_rng({10000 + args.seed})",
    }
    j = summarize(*jax_jumps(args.episodes, args.seed, args.continuous, args.wind))
    b = summarize(*box2d_jumps(args.episodes, args.seed, args.continuous, args.wind))
    result = dict(header=header, jax=j, box2d=b)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "terminal_jump" + ("_continuous" if args.continuous else "") + ("_wind" if args.wind else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(markdown(result))
    return result


if __name__ == "__main__":
    main()
