"""One-core env steps/s of two checkouts side by side, interleaved (A/B on a noisy machine).

Starts one worker per checkout, each pinned to CPU 0 (``taskset -c 0``) with its own checkout on
PYTHONPATH; each compiles ``bench_env``'s program (random actions, gymnax auto-reset, one jitted
``lax.scan`` of vmapped ``env.step``) at one batch size, then the two take turns timing it, so
background load hits both alike. Prints each round and the medians, and the ratio B / A.

    python scripts/bench_env_ab.py --a /tmp/base_checkout --b . [--batch 1024] [--rounds 7]

Writes experiments/results/bench_env_ab.json (every round, the medians, the machine and date).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlax_lander.machine import cpu_model  # noqa: E402

WORKER = r"""
import sys, time
import jax, jax.numpy as jnp
import rlax_lander
from rlax_lander.env.heuristic import heuristic_action
n, T, policy = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
env, params = rlax_lander.make("LunarLander-v3")

def roll(key):
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, n), params)

    def f(carry, k):
        obs, st = carry
        ka, ks = jax.random.split(k)
        if policy == "heuristic":
            a = jax.vmap(lambda o: heuristic_action(o, False))(obs)
        else:
            a = jax.random.randint(ka, (n,), 0, 4)
        obs, st, r, *_ = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(ks, n), st, a, params)
        return (obs, st), jnp.sum(r)

    return jax.lax.scan(f, (obs, state), jax.random.split(key, T))[1].sum()

fn = jax.jit(roll).lower(jax.random.PRNGKey(0)).compile()
jax.block_until_ready(fn(jax.random.PRNGKey(1)))
print("ready", rlax_lander.__file__, flush=True)
for i, _ in enumerate(sys.stdin):
    t = time.perf_counter()
    jax.block_until_ready(fn(jax.random.PRNGKey(2 + i)))
    print(n * T / (time.perf_counter() - t), flush=True)
"""


def start(path: str, batch: int, steps: int, policy: str) -> subprocess.Popen:
    root = str(pathlib.Path(path).resolve())
    env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cmd = ["taskset", "-c", "0", sys.executable, "-c", WORKER, str(batch), str(steps), policy]
    proc = subprocess.Popen(cmd,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    line = proc.stdout.readline()
    if not line.startswith("ready") or not line.split()[1].startswith(root):
        raise RuntimeError(f"worker for {path} failed to start or imported another checkout: {line!r}")
    print(f"{path}: {line.strip()}", file=sys.stderr)
    return proc


def timed(proc: subprocess.Popen) -> float:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="checkout A (the baseline)")
    ap.add_argument("--b", required=True, help="checkout B (the change)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=200, help="scan length T per timed call")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--policy", choices=("random", "heuristic"), default="random",
                    help="random actions, or the heuristic lander (envs that land and rest on their legs)")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "bench_env_ab.json"))
    args = ap.parse_args(argv)
    a, b = (start(path, args.batch, args.steps, args.policy) for path in (args.a, args.b))
    ra, rb = [], []
    for i in range(args.rounds):
        pair = [(a, ra), (b, rb)] if i % 2 == 0 else [(b, rb), (a, ra)]
        for proc, out in pair:
            out.append(timed(proc))
        print(f"round {i}: A {ra[-1]:,.0f}  B {rb[-1]:,.0f} steps/s", file=sys.stderr, flush=True)
    for proc in (a, b):
        proc.stdin.close()
        proc.wait()
    ma, mb = statistics.median(ra), statistics.median(rb)
    # A burst of load slows one call; each round's ratio compares calls made back to back.
    paired = statistics.median(y / x for x, y in zip(ra, rb))
    print(f"median A {ma:,.0f}  B {mb:,.0f} steps/s  B/A {mb / ma:.3f}  median of rounds' B/A {paired:.3f}  "
          f"(batch {args.batch}, T {args.steps}, {args.rounds} rounds, {args.policy} policy, "
          "pinned to CPU 0)")
    result = {"a": str(pathlib.Path(args.a).resolve()), "b": str(pathlib.Path(args.b).resolve()),
              "batch": args.batch, "steps": args.steps, "rounds_a": ra, "rounds_b": rb,
              "median_a": ma, "median_b": mb, "ratio_of_medians": mb / ma, "median_of_ratios": paired,
              "policy": args.policy, "machine": cpu_model(), "load_avg": os.getloadavg(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1))
    return ma, mb


if __name__ == "__main__":
    main()
