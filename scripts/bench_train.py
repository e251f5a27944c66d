"""Benchmark the DQN training loop: env steps/s for 1 and 8 seeds, compile time separate.

CartPole-v1 (gymnax), one env per seed, an update every 4 env steps, batch 64, 64-64 MLP.
Layouts (each in a fresh subprocess, since XLA flags are read at start-up):
  plain      : default process, all seeds vmapped on one CPU device;
  pinned     : `taskset -c 0` (one core);
  2-devices  : XLA_FLAGS=--xla_force_host_platform_device_count=2, seeds sharded over the two
               CPU devices (8 seeds only).
Writes experiments/results/bench_train.json and appends a line per run to BENCHMARKS.md.
Usage: python scripts/bench_train.py [--steps 50000]

`--env LunarLander-v3`: wall time to solve with `DQNConfig.lunar_lander()` for 1 and 8 seeds
(each in a fresh process: compile + training of the preset budget; solved = every seed's
greedy mean over 100 Box2D episodes >= 200, evaluated afterwards and timed separately), next
to the same agent driven through Gymnasium's Box2D env in a Python loop
(`scripts/bench_lander_loop.py`: its env steps/s over a fixed number of steps, extrapolated
to the preset's env steps per seed, times the number of seeds for 8 seeds run one after the
other). Writes experiments/results/bench_train_lander.json and appends to BENCHMARKS.md.
Usage: python scripts/bench_train.py --env LunarLander-v3 [--loop-steps 300]

`--make-train`: the `make train` command itself (`python -m rlax_lander train --env
LunarLander-v3 --seeds 8`), once sharded over every core (the default) and once with
`--cpu-devices 1`, each timed from the outside (whole command) and split from its summary.json
(compile, training, evaluation + GIF), with the Box2D seeds solved. Writes
experiments/results/bench_make_train.json and appends to BENCHMARKS.md.
Usage: python scripts/bench_train.py --make-train [--algo dqn|pqn]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rlax_lander.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
import jax, jax.numpy as jnp
from rlax_lander import dqn
from rlax_lander.env.registry import make as make_env
seeds, steps, shard = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
cfg = dqn.DQNConfig.cartpole(total_timesteps=steps, train_frequency=4, batch_size=64,
                             hidden_sizes=(64, 64), num_envs=1)
env, env_params = make_env(cfg.env_id)
train = jax.vmap(dqn.make_train(cfg, env, env_params))
keys = jax.random.split(jax.random.key(0), seeds)
hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), cfg.hparams())
if shard:
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    mesh = Mesh(jax.devices(), ("s",))
    sh = NamedSharding(mesh, P("s"))
    keys, hp = jax.device_put(keys, sh), jax.device_put(hp, sh)
t0 = time.perf_counter()
fn = jax.jit(train).lower(keys, hp).compile()
t1 = time.perf_counter()
jax.block_until_ready(fn(keys, hp))  # warm-up
t2 = time.perf_counter()
r = jax.block_until_ready(fn(keys, hp))
t3 = time.perf_counter()
env_steps = seeds * int(r.metrics["env_step"][0, -1])
print(json.dumps({"seeds": seeds, "devices": len(jax.devices()), "compile_s": t1 - t0,
                  "run_s": t3 - t2, "env_steps": env_steps,
                  "env_steps_per_s": env_steps / (t3 - t2),
                  "per_seed_env_steps_per_s": env_steps / (t3 - t2) / seeds}))
"""


def run_layout(name, seeds, steps):
    env = dict(os.environ)
    cmd = [sys.executable, "-c", WORKER, str(seeds), str(steps), "0"]
    if name == "pinned":
        cmd = ["taskset", "-c", "0"] + cmd
    if name == "2-devices":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_force_host_platform_device_count=2").strip()
        cmd[-1] = "1"
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["layout"] = name
    return res




LANDER_WORKER = r"""
import json, sys, time
t_start = time.perf_counter()
import jax, jax.numpy as jnp, numpy as np
from rlax_lander import dqn
from rlax_lander.env.registry import make as make_env
from rlax_lander.evaluation import box2d_paired
seeds = int(sys.argv[1])
cfg = dqn.DQNConfig.lunar_lander()
env, env_params = make_env(cfg.env_id)
train = jax.vmap(dqn.make_train(cfg, env, env_params))
keys = jax.random.split(jax.random.key(0), seeds)
hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), cfg.hparams())
t0 = time.perf_counter()
fn = jax.jit(train).lower(keys, hp).compile()
t1 = time.perf_counter()
r = jax.block_until_ready(fn(keys, hp))
t2 = time.perf_counter()
env_steps = seeds * int(r.metrics["env_step"][0, -1])  # per seed: prefill + whole chunks
net = dqn.build_network(cfg, 4)
ret, _, _ = box2d_paired(net, r.params, 100, 0)
t3 = time.perf_counter()
means = ret.mean(1)
print(json.dumps({"seeds": seeds, "compile_s": t1 - t0, "train_s": t2 - t1,
                  "startup_s": t0 - t_start, "box2d_eval_s": t3 - t2,
                  "env_steps": env_steps, "env_steps_per_s": env_steps / (t2 - t1),
                  "box2d_mean_per_seed": means.tolist(),
                  "solved": bool(np.all(means >= 200)),
                  "seeds_solved": int(np.sum(means >= 200)),
                  "time_to_solve_s": (t1 - t0 + t2 - t1) if np.all(means >= 200) else None}))
"""


def lander_main(args):
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_lander_loop import measure_python_loop

    from rlax_lander.dqn.config import DQNConfig

    cfg = DQNConfig.lunar_lander()
    runs = []
    for seeds in (1, 8):
        out = subprocess.run([sys.executable, "-c", LANDER_WORKER, str(seeds)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"jax seeds={seeds}: compile {res['compile_s']:.0f}s + train {res['train_s']:.0f}s"
              f" ({res['env_steps_per_s']:,.0f} env steps/s); Box2D seeds solved "
              f"{res['seeds_solved']}/{seeds}", flush=True)
        runs.append(res)
    loop = measure_python_loop(cfg, vector_steps=args.loop_steps)
    per_seed_s = cfg.total_timesteps / loop["env_steps_per_s"]
    loop.update(extrapolated_s={"1": per_seed_s, "8": 8 * per_seed_s},
                note=f"measured over {loop['env_steps']} env steps after prefill and warm-up; "
                     f"extrapolated to {cfg.total_timesteps} env steps per seed, seeds run "
                     "one after the other")
    print(f"python loop (Gymnasium Box2D, jitted act/update): {loop['env_steps_per_s']:,.0f} "
          f"env steps/s -> {per_seed_s:,.0f}s per seed (extrapolated)", flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only, load avg {load}"
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    command = "python scripts/bench_train.py " + " ".join(sys.argv[1:])
    out = ROOT / "experiments" / "results" / "bench_train_lander.json"
    out.write_text(json.dumps({"machine": machine, "date": date, "command": command,
                               "config": cfg.to_dict(), "jax": runs, "python_loop": loop},
                              indent=2))
    parts = []
    for r in runs:
        t = r["compile_s"] + r["train_s"]
        parts.append(f"JAX x{r['seeds']}: {t:.0f}s compile+train ({r['compile_s']:.0f}s compile), "
                     f"{r['seeds_solved']}/{r['seeds']} seeds solved in Box2D")
    parts.append(f"Python loop over Gymnasium Box2D: {loop['env_steps_per_s']:,.0f} env steps/s "
                 f"-> ~{per_seed_s / 60:.0f} min for 1 seed, ~{8 * per_seed_s / 60:.0f} min for "
                 "8 (extrapolated)")
    bench = ROOT / "BENCHMARKS.md"
    with open(bench, "a") as f:
        f.write(f"- **bench_train LunarLander-v3** ({date}; {machine}; `{command.strip()}`): "
                f"DQNConfig.lunar_lander ({cfg.total_timesteps:,} env steps per seed): "
                + "; ".join(parts) + "\n")
    print(f"wrote {out} and appended to {bench}")


def make_train_main(args):
    import time

    runs = []
    for layout, extra in (("every core", []), ("one device", ["--cpu-devices", "1"])):
        out = ROOT / "runs" / f"bench_make_train_{len(extra)}"
        cmd = [sys.executable, "-m", "rlax_lander", "train", "--env", "LunarLander-v3",
               "--seeds", "8", "--out", str(out), "--overwrite", "--progress", "false",
               *(["--algo", args.algo] if args.algo != "dqn" else []), *extra]
        t0 = time.time()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
        wall = time.time() - t0
        summary = json.loads((out / "summary.json").read_text())
        ev = summary["evaluation"]
        runs.append({"layout": layout, "command": "python -m rlax_lander " + " ".join(cmd[3:]),
                     "wall_s": wall, "compile_s": summary["timing"]["compile_s"],
                     "train_s": summary["timing"]["train_s"],
                     "eval_and_gif_s": ev["timing_s"]["eval_and_gif_wall"],
                     "devices": summary["layout"]["devices"],
                     "box2d_seeds_solved": ev["box2d"]["seeds_solved"],
                     "box2d_means": [r["box2d"]["mean"] for r in ev["per_seed"]]})
        r = runs[-1]
        print(f"{layout}: {r['wall_s']:.0f}s wall (compile {r['compile_s']:.0f}s + train "
              f"{r['train_s']:.0f}s, eval+GIF {r['eval_and_gif_s']:.0f}s), "
              f"{r['box2d_seeds_solved']}/8 solved in Box2D", flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only, load avg {load}"
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    command = "python scripts/bench_train.py " + " ".join(sys.argv[1:])
    path = ROOT / "experiments" / "results" / f"bench_make_train_{args.algo}.json"
    path.write_text(json.dumps({"machine": machine, "date": date, "command": command,
                                "runs": runs}, indent=2))
    parts = [f"{r['layout']} ({r['devices']} device{'s' if r['devices'] > 1 else ''}): "
             f"{r['wall_s']:.0f}s wall = compile {r['compile_s']:.0f}s + training "
             f"{r['train_s']:.0f}s + evaluation and GIF {r['eval_and_gif_s']:.0f}s + start-up "
             f"and writing; {r['box2d_seeds_solved']}/8 seeds solved in Box2D" for r in runs]
    with open(ROOT / "BENCHMARKS.md", "a") as f:
        f.write(f"- **make train** ({args.algo}; {date}; {machine}; `{command.strip()}`): "
                + "; ".join(parts) + "\n")
    print(f"wrote {path} and appended to BENCHMARKS.md")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-train", action="store_true",
                    help="time `make train`, sharded over every core and on one device")
    ap.add_argument("--algo", default="dqn", help="with --make-train: dqn or pqn")
    ap.add_argument("--steps", type=int, default=50_000, help="env steps per seed")
    ap.add_argument("--env", default="CartPole-v1", help="CartPole-v1 or LunarLander-v3")
    ap.add_argument("--loop-steps", type=int, default=300,
                    help="LunarLander: vector steps timed in the Python-loop baseline")
    args = ap.parse_args()
    if args.make_train:
        return make_train_main(args)
    if args.env == "LunarLander-v3":
        return lander_main(args)
    if args.env != "CartPole-v1":
        raise SystemExit(f"--env must be CartPole-v1 or LunarLander-v3, got {args.env}")
    runs = []
    for layout, seeds in [("plain", 1), ("pinned", 1), ("plain", 8), ("pinned", 8),
                          ("2-devices", 8)]:
        res = run_layout(layout, seeds, args.steps)
        print(f"{layout:>9} seeds={seeds}: {res['env_steps_per_s']:>9,.0f} env steps/s "
              f"({res['per_seed_env_steps_per_s']:,.0f}/seed), compile {res['compile_s']:.1f}s",
              flush=True)
        runs.append(res)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only, load avg {load}"
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    command = "python scripts/bench_train.py " + " ".join(sys.argv[1:])
    out = ROOT / "experiments" / "results" / "bench_train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "date": date, "command": command,
                               "steps_per_seed": args.steps, "runs": runs}, indent=2))
    summary = "; ".join(f"{r['layout']} x{r['seeds']}: {r['env_steps_per_s']:,.0f}/s "
                        f"(compile {r['compile_s']:.0f}s)" for r in runs)
    bench = ROOT / "BENCHMARKS.md"
    if not bench.exists():
        bench.write_text("# Benchmarks\n\nOne line per run; newest last.\n\n")
    with open(bench, "a") as f:
        f.write(f"- **bench_train** ({date}; {machine}; `{command.strip()}`): DQN CartPole-v1 "
                f"training env steps/s, update every 4 steps, batch 64: {summary}\n")
    print(f"wrote {out} and appended to {bench}")


if __name__ == "__main__":
    main()
