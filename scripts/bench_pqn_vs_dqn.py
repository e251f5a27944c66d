"""PQN vs DQN on LunarLander-v3, side by side in one run: wall time and env steps until the
greedy policies score 200 in Box2D.

Both algorithms run their LunarLander-v3 default (`--env LunarLander-v3`, what the train
command uses) for 8 seeds (`parallel.seed_keys(seed, 8)`), sharded over every XLA CPU device
through `runner.run_chunks`, one after the other in this process. After each of `--chunks`
chunks the policy params are kept; once both runs are over, every snapshot is scored in Box2D
(greedy, `--episodes` episodes per seed, reset seeds 0..). The clock stops at chunk ends and
includes compilation; Box2D scoring is not timed.

time to 200: the wall time (compile included) at the end of the first chunk at which the mean
over seeds of the Box2D score is >= 200; env steps to 200: the env steps per seed there.

Writes experiments/results/bench_pqn_vs_dqn.json and appends a line to BENCHMARKS.md.
Usage: python scripts/bench_pqn_vs_dqn.py [--seeds 8] [--chunks 20] [--episodes 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "LunarLander-v3"


def train_with_snapshots(algo: str, seeds: int, seed: int, chunks: int,
                         total_timesteps: int | None) -> dict:
    """Train `algo`'s default; {"times": wall s at each chunk end (from before compiling),
    "env_steps", "snapshots": params per chunk, ...}."""
    import jax
    import numpy as np

    from rlax_lander import algos, parallel, runner
    from rlax_lander.env.registry import make

    a = algos.get(algo)
    config, _ = a.default_config(ENV_ID)
    if total_timesteps is not None:
        config = config.replace(total_timesteps=total_timesteps)
    hp = jax.tree.map(lambda x: np.full((seeds,), x, np.float32), config.hparams())
    times, steps, snaps = [], [], []
    t0 = time.perf_counter()

    def on_chunk(report):
        times.append(time.perf_counter() - t0)
        steps.append(int(report.metrics["env_step"][0]))
        snaps.append(report.policy_params())

    stages = a.make_stages(config, *make(config.env_id), chunks)
    res = runner.run_chunks(stages, parallel.seed_keys(seed, seeds), hp, on_chunk=on_chunk)
    return {"config": config, "times": times, "env_steps": steps, "snapshots": snaps,
            "compile_s": res.compile_s, "train_s": res.train_s,
            "devices": res.layout["devices"]}


def score_snapshots(run: dict, episodes: int) -> list[list[float]]:
    """Box2D score of every snapshot: [chunks][seeds] mean greedy return."""
    from rlax_lander import algos
    from rlax_lander.evaluation import box2d_paired

    net = algos.algo_of(run["config"]).build_network(run["config"], 4)
    return [box2d_paired(net, p, episodes, 0)[0].mean(1).tolist() for p in run["snapshots"]]


def first_reach(run: dict, scores: list, target: float = 200.0) -> dict:
    """Wall time and env steps at the first chunk whose seed-mean score is >= `target`."""
    import numpy as np

    for k, s in enumerate(scores):
        if np.mean(s) >= target:
            return {"chunk": k + 1, "wall_s": run["times"][k], "env_steps": run["env_steps"][k],
                    "seeds_at_200": int(np.sum(np.array(s) >= target))}
    return {"chunk": None, "wall_s": None, "env_steps": None, "seeds_at_200": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--episodes", type=int, default=20, help="Box2D episodes per seed")
    ap.add_argument("--total-timesteps", type=int, default=None,
                    help="override both defaults' budget (smoke tests)")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results"
                                         / "bench_pqn_vs_dqn.json"))
    ap.add_argument("--no-benchmarks-line", action="store_true")
    args = ap.parse_args(argv)
    from rlax_lander.commands import startup
    from rlax_lander.machine import cpu_model

    startup.configure_cpu_devices(None)
    load_start = os.getloadavg()
    runs = {algo: train_with_snapshots(algo, args.seeds, args.seed, args.chunks,
                                       args.total_timesteps) for algo in ("dqn", "pqn")}
    load_end = os.getloadavg()
    result = {"machine": f"{cpu_model()}, {os.cpu_count()} cores, CPU only",
              "load_avg_start": load_start, "load_avg_end_of_training": load_end,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python scripts/bench_pqn_vs_dqn.py " + shlex.join(
                  sys.argv[1:] if argv is None else argv),
              "seeds": args.seeds, "episodes": args.episodes, "algos": {}}
    for algo, run in runs.items():
        scores = score_snapshots(run, args.episodes)
        c = run["config"]
        result["algos"][algo] = {
            "config": c.to_dict(), "devices": run["devices"], "compile_s": run["compile_s"],
            "train_s": run["train_s"], "wall_s_at_chunk": run["times"],
            "env_steps_at_chunk": run["env_steps"], "box2d_score_at_chunk": scores,
            "reach_200": first_reach(run, scores),
            "final_seeds_at_200": sum(s >= 200 for s in scores[-1]),
            "total_env_steps": run["env_steps"][-1]}
        print(algo, json.dumps(result["algos"][algo]["reach_200"]), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    if not args.no_benchmarks_line:
        with open(ROOT / "BENCHMARKS.md", "a") as f:
            f.write(benchmarks_line(result) + "\n")
    print(benchmarks_line(result))
    return 0


def benchmarks_line(r: dict) -> str:
    parts = []
    for algo, a in r["algos"].items():
        reach = a["reach_200"]
        got = (f"seed-mean Box2D score >= 200 after {reach['wall_s']:.0f}s wall "
               f"(compile {a['compile_s']:.0f}s included) and {reach['env_steps']:,} env steps "
               f"per seed ({reach['seeds_at_200']}/{r['seeds']} seeds >= 200 there)"
               if reach["wall_s"] is not None else "seed-mean Box2D score never reached 200")
        parts.append(f"{algo.upper()}: {got}; whole run {a['wall_s_at_chunk'][-1]:.0f}s for "
                     f"{a['total_env_steps']:,} env steps per seed, "
                     f"{a['final_seeds_at_200']}/{r['seeds']} seeds >= 200 at the end")
    d, p = (r["algos"][k]["reach_200"]["wall_s"] for k in ("dqn", "pqn"))
    ratio = f"; PQN {d / p:.1f}x faster to 200" if d and p else ""
    load = ", ".join(f"{x:.1f}" for x in r["load_avg_start"])
    return (f"- **PQN vs DQN** ({r['date']}; {r['machine']}, load avg {load} at start; "
            f"`{r['command'].strip()}`; {r['seeds']} seeds, {r['episodes']} Box2D episodes "
            f"per seed per chunk): " + "; ".join(parts) + ratio)


if __name__ == "__main__":
    raise SystemExit(main())
