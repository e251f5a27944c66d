"""Benchmark scale-out: aggregate DQN env steps/s of `parallel.run_cells` on 1 vs 2 devices.

CartPole-v1 (gymnax), `DQNConfig.cartpole()` (64-64 LayerNorm MLP, batch 64, an update every
4 env steps, one env per seed), S seeds as S cells. Each layout runs in a fresh subprocess
(the device count is fixed when JAX starts):
  1-device : the default CPU device, all seeds vmapped on it;
  2-devices: XLA_FLAGS=--xla_force_host_platform_device_count=2, seeds sharded over two
             CPU devices (one per core on a 2-core machine) by `run_cells`.
Each layout calls `run_cells` `--repeats` times and keeps the fastest run (compile excluded).
Writes experiments/results/bench_scale.json and appends one line to BENCHMARKS.md.
Usage: python scripts/bench_scale.py [--steps 30000] [--seeds 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from rlax_lander.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys
import jax
from rlax_lander import dqn, parallel
from rlax_lander.env.registry import make as make_env
seeds, steps, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cfg = dqn.DQNConfig.cartpole(total_timesteps=steps)
env, env_params = make_env(cfg.env_id)
train = dqn.make_train(cfg, env, env_params)
grid = parallel.make_grid(cfg, {}, num_seeds=seeds, seed=0)
runs = []
for _ in range(repeats):
    st = {}
    r = parallel.run_cells(train, grid.keys, grid.hparams, stats=st)
    runs.append(st)
best = min(runs, key=lambda s: s["run_s"])
env_steps = seeds * int(r.metrics["env_step"][0, -1])
print(json.dumps({"seeds": seeds, "devices": len(jax.devices()),
                  "compile_s": runs[0]["compile_s"], "run_s": best["run_s"],
                  "run_s_all": [s["run_s"] for s in runs], "env_steps": env_steps,
                  "env_steps_per_s": env_steps / best["run_s"],
                  "seeds_per_hour_at_100k": 3600 * env_steps / best["run_s"] / 100_000}))
"""


def run_layout(devices: int, seeds: int, steps: int, repeats: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, "-c", WORKER, str(seeds), str(steps), str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"worker ({devices} devices) failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["layout"] = f"{devices}-device" + ("s" if devices > 1 else "")
    return res




def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30_000, help="env steps per seed")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per layout (best kept)")
    args = ap.parse_args()
    if min(args.steps, args.seeds, args.repeats) < 1:
        raise SystemExit("--steps, --seeds and --repeats must be >= 1")
    load_before = os.getloadavg()
    runs = []
    for devices in (1, 2):
        res = run_layout(devices, args.seeds, args.steps, args.repeats)
        print(f"{res['layout']:>9} x{args.seeds} seeds: {res['env_steps_per_s']:>9,.0f} env "
              f"steps/s aggregate ({res['seeds_per_hour_at_100k']:,.0f} seeds/h at 100k "
              f"steps), compile {res['compile_s']:.1f}s", flush=True)
        runs.append(res)
    speedup = runs[1]["env_steps_per_s"] / runs[0]["env_steps_per_s"]
    load = ", ".join(f"{x:.1f}" for x in load_before)
    machine = f"{cpu_model()}, {os.cpu_count()} cores, CPU only, load avg {load} at start"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python scripts/bench_scale.py " + " ".join(sys.argv[1:])
    out = ROOT / "experiments" / "results" / "bench_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "date": date, "command": command.strip(),
                               "steps_per_seed": args.steps, "seeds": args.seeds,
                               "speedup_2_vs_1": speedup, "runs": runs}, indent=2))
    summary = "; ".join(f"{r['layout']}: {r['env_steps_per_s']:,.0f}/s "
                        f"({r['seeds_per_hour_at_100k']:,.0f} seeds/h at 100k steps, "
                        f"compile {r['compile_s']:.0f}s)" for r in runs)
    bench = ROOT / "BENCHMARKS.md"
    if not bench.exists():
        bench.write_text("# Benchmarks\n\nOne line per run; newest last.\n\n")
    with open(bench, "a") as f:
        f.write(f"- **bench_scale** ({date}; {machine}; `{command.strip()}`): "
                f"`parallel.run_cells`, DQN CartPole-v1 cartpole preset, {args.seeds} seeds x "
                f"{args.steps:,} env steps, aggregate env steps/s: {summary}; "
                f"2 vs 1 devices x{speedup:.2f}\n")
    print(f"2 vs 1 devices: x{speedup:.2f}; wrote {out} and appended to {bench}")


if __name__ == "__main__":
    main()
