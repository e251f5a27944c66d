"""PQN (and optionally the DQN default) on LunarLander-v3: 8 seeds trained on the JAX lander,
timed, then scored greedily in real Box2D (100 episodes per seed).

    XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python scripts/bench_pqn_lander.py --algo pqn --seeds 8 --seed 0

Seeds are `jax.random.split(jax.random.key(seed), seeds)`; cells are sharded over every XLA
device with `parallel.run_cells` (one compile, timed apart from the run). Prints one JSON line:
compile_s, run_s, env_steps, the per-seed Box2D means and how many are >= 200.
`--total-timesteps` overrides the preset's budget (e.g. a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlax_lander import dqn, parallel, pqn
from rlax_lander.env.registry import make as make_env
from rlax_lander.evaluation import SUCCESS_RETURN, box2d_paired


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algo", choices=("pqn", "dqn"), default="pqn")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--total-timesteps", type=int, default=None)
    args = ap.parse_args()

    if args.algo == "pqn":
        config = pqn.PQNConfig.lunar_lander()
    else:
        config = dqn.DQNConfig.lunar_lander()
    if args.total_timesteps is not None:
        config = config.replace(total_timesteps=args.total_timesteps)
    env, env_params = make_env(config.env_id)
    if args.algo == "pqn":
        train = pqn.make_train(config, env, env_params,
                               num_chunks=min(10, config.num_iterations))
        network = pqn.build_network(config, env.action_space(env_params).n)
    else:
        train = dqn.make_train(config, env, env_params)
        network = dqn.build_network(config, env.action_space(env_params).n)

    def cell(key, hp):  # params and metrics only: the PQN state holds a typed PRNG key
        result = train(key, hp)
        return {"params": result.params, "metrics": result.metrics}

    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    hparams = jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (args.seeds,)),
                           config.hparams())
    stats: dict = {}
    t0 = time.perf_counter()
    out = parallel.run_cells(cell, keys, hparams, stats=stats)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    returns, _, _ = box2d_paired(network, out["params"], args.episodes, seed=0)
    means = returns.mean(axis=1)
    print(json.dumps({
        "algo": args.algo, "seeds": args.seeds, "seed": args.seed,
        "env_steps_per_seed": int(np.asarray(out["metrics"]["env_step"]).max()),
        "compile_s": round(stats["compile_s"], 1), "run_s": round(stats["run_s"], 1),
        "train_wall_s": round(wall, 1), "num_devices": stats["num_devices"],
        "load1": round(os.getloadavg()[0], 1), "box2d_eval_s": round(time.perf_counter() - t1, 1),
        "box2d_means": np.round(means, 1).tolist(),
        "seeds_ge_200": int((means >= SUCCESS_RETURN).sum()),
        "mean_of_means": round(float(means.mean()), 1),
    }), flush=True)


if __name__ == "__main__":
    main()
