"""Env-step throughput of the JAX LunarLander (random actions, gymnax auto-reset) vs Box2D.

For each batch size: one jitted ``lax.scan`` of T vmapped ``env.step`` calls; compile time is
reported separately and steps/s is the median of 3 timed calls after a warm-up call. Layouts:
``plain`` (this process), ``taskset`` (a subprocess pinned with ``taskset -c 0``) and ``sharded``
(a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` and the batch sharded
over the two CPU devices with a 1-D ``NamedSharding``). Also Gymnasium's single-process Box2D
steps/s in the same run, bytes of env state per env, and a 10^6-step NaN / foot-penetration check.
Writes experiments/results/bench_env.json and appends a table to BENCHMARKS.md.

    python scripts/bench_env.py [--batches 1,64,1024,8192] [--steps-total 400000] [--box2d-seconds 10]
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np


def bench_jax(batches, steps_total, sharded, continuous=False):
    import jax
    import jax.numpy as jnp

    import rlax_lander

    env, params = rlax_lander.make("LunarLander-v3", continuous=continuous)
    if sharded:
        from jax.sharding import Mesh, NamedSharding
        from jax.sharding import PartitionSpec as P

        mesh = Mesh(np.array(jax.devices()), ("b",))
        shard = NamedSharding(mesh, P("b"))
    rows = []
    for n in batches:
        T = int(min(2000, max(50, steps_total // n)))

        def roll(key, n=n, T=T):
            keys = jax.random.split(key, n)
            if sharded:
                keys = jax.lax.with_sharding_constraint(keys, shard)
            _, state = jax.vmap(env.reset, (0, None))(keys, params)

            def f(st, k):
                ka, ks = jax.random.split(k)
                ks = jax.random.split(ks, n)
                a = jax.random.randint(ka, (n,), 0, 4)
                if sharded:
                    ks, a = jax.lax.with_sharding_constraint((ks, a), (shard, shard))
                _, st, r, *_ = jax.vmap(env.step, (0, 0, 0, None))(ks, st, a, params)
                return st, jnp.sum(r)

            return jax.lax.scan(f, state, jax.random.split(key, T))[1].sum()

        t = time.perf_counter()
        fn = jax.jit(roll).lower(jax.random.PRNGKey(0)).compile()
        compile_s = time.perf_counter() - t
        jax.block_until_ready(fn(jax.random.PRNGKey(1)))  # warm-up
        times = []
        for i in range(3):
            t = time.perf_counter()
            jax.block_until_ready(fn(jax.random.PRNGKey(2 + i)))
            times.append(time.perf_counter() - t)
        rows.append(dict(batch=n, T=T, compile_s=compile_s, steps_per_s=n * T / float(np.median(times)),
                         times_s=times, devices=len(jax.devices())))
        print(f"  batch {n:5d} x T {T}: {rows[-1]['steps_per_s']:,.0f} steps/s "
              f"(compile {compile_s:.1f} s)", file=sys.stderr, flush=True)
    return rows


def bench_box2d(seconds):
    import gymnasium as gym

    env = gym.make("LunarLander-v3")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            _, _, term, trunc, _ = env.step(int(rng.integers(0, 4)))
            steps += 1
            if term or trunc:
                env.reset()
    return steps / (time.perf_counter() - t0)


def nan_check(num_envs=1024, steps=1000):
    """10^6 random-action steps with auto-reset: NaN/inf count and deepest foot separation."""
    import jax
    import jax.numpy as jnp

    import rlax_lander
    from rlax_lander.env import rollout
    from rlax_lander.env.state import state_nbytes

    env, params = rlax_lander.make("LunarLander-v3")

    @jax.jit
    def run(key):
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), params)

        def f(st, k):
            ka, ks = jax.random.split(k)
            a = jax.random.randint(ka, (num_envs,), 0, 4)
            obs, st2, r, term, trunc, info = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(ks, num_envs), st, a, params)
            sep = jax.vmap(rollout.foot_separation)(st2)
            bad = ~(jnp.all(jnp.isfinite(info["final_observation"]), 1) & jnp.isfinite(r))
            return st2, (jnp.sum(bad), jnp.min(sep))

        _, (bad, sep) = jax.lax.scan(f, state, jax.random.split(key, steps))
        return bad.sum(), sep.min(), state

    bad, sep, state = run(jax.random.PRNGKey(7))
    one = jax.tree_util.tree_map(lambda x: x[0], state)
    return dict(steps=num_envs * steps, nonfinite_steps=int(bad), min_foot_separation_m=float(sep),
                state_bytes_per_env=state_nbytes(one))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,64,1024,8192")
    ap.add_argument("--steps-total", type=int, default=400_000, help="env steps per timed call")
    ap.add_argument("--box2d-seconds", type=float, default=10.0)
    ap.add_argument("--layouts", default="plain,taskset,sharded")
    ap.add_argument("--worker", choices=["plain", "sharded"], help=argparse.SUPPRESS)
    ap.add_argument("--no-nan-check", action="store_true")
    ap.add_argument("--out", default="experiments/results")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    if args.worker:  # subprocess variant: print JSON rows
        print(json.dumps(bench_jax(batches, args.steps_total, args.worker == "sharded")))
        return

    def sub(prefix, worker, env_extra=None):
        env = dict(os.environ, **(env_extra or {}))
        cmd = prefix + [sys.executable, __file__, "--worker", worker, "--batches", args.batches,
                        "--steps-total", str(args.steps_total)]
        return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=False,
                                         stdout=subprocess.PIPE, text=True).stdout)

    result = dict(layouts={})
    layouts = args.layouts.split(",")
    for layout in layouts:
        print(f"layout {layout}:", file=sys.stderr, flush=True)
        if layout == "plain":
            result["layouts"]["plain"] = bench_jax(batches, args.steps_total, False)
        elif layout == "taskset":
            result["layouts"]["taskset -c 0"] = sub(["taskset", "-c", "0"], "plain")
        elif layout == "sharded":
            flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
            result["layouts"]["2 devices sharded"] = sub([], "sharded", {"XLA_FLAGS": flags})
    result["box2d_steps_per_s"] = bench_box2d(args.box2d_seconds)
    print(f"Box2D single env: {result['box2d_steps_per_s']:,.0f} steps/s", file=sys.stderr)
    if not args.no_nan_check:
        result["nan_check"] = nan_check()
        print(f"NaN check: {result['nan_check']}", file=sys.stderr)
    import jax
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    result["machine"] = f"{model}, {os.cpu_count()} cores (affinity {len(os.sched_getaffinity(0))})"
    result["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["command"] = " ".join(["python", "scripts/bench_env.py"] + sys.argv[1:])
    result["jax"] = jax.__version__
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_env.json").write_text(json.dumps(result, indent=1))

    best = max((r["steps_per_s"], name, r["batch"]) for name, rows in result["layouts"].items() for r in rows)
    lines = [f"\n### Env steps/s (`{result['command']}`), {result['date']}, {result['machine']}, "
             f"jax {jax.__version__}\n",
             "| layout | " + " | ".join(f"batch {b}" for b in batches) + " | compile s (per batch) |",
             "|---|" + "---|" * (len(batches) + 1)]
    for name, rows in result["layouts"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r['steps_per_s']:,.0f}" for r in rows) + " | "
                     + ", ".join(f"{r['compile_s']:.0f}" for r in rows) + " |")
    lines.append(f"| Box2D gym.make, 1 env, same run | {result['box2d_steps_per_s']:,.0f} | | | | |")
    nc = result.get("nan_check")
    lines.append(f"\nBest: {best[0]:,.0f} steps/s ({best[1]}, batch {best[2]}); goal 300,000."
                 + (f" State {nc['state_bytes_per_env']} B/env. {nc['steps']:,} random steps: "
                    f"{nc['nonfinite_steps']} non-finite, deepest foot separation "
                    f"{nc['min_foot_separation_m']:.4f} m." if nc else "") + "\n")
    with open("BENCHMARKS.md", "a") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
