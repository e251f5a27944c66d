"""Benchmark the DQN training loop: env steps/s for 1 and 8 seeds, compile time separate.

CartPole-v1 (gymnax), one env per seed, an update every 4 env steps, batch 64, 64-64 MLP.
Layouts (each in a fresh subprocess, since XLA flags are read at start-up):
  plain      : default process, all seeds vmapped on one CPU device;
  pinned     : `taskset -c 0` (one core);
  2-devices  : XLA_FLAGS=--xla_force_host_platform_device_count=2, seeds sharded over the two
               CPU devices (8 seeds only).
Writes experiments/results/bench_train.json and appends a line per run to BENCHMARKS.md.
Usage: python scripts/bench_train.py [--steps 50000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
import jax, jax.numpy as jnp
from rlax_lander import dqn
from rlax_lander.envs import make_env
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


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50_000, help="env steps per seed")
    args = ap.parse_args()
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
