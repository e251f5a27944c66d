"""`evaluate`: greedy per-seed evaluation of a run directory in the JAX env or in Box2D.

    python -m rlax_lander evaluate RUN_DIR --backend jax|box2d --episodes N --seed S [--json]
"""

from __future__ import annotations

import json

import numpy as np

from rlax_lander import evaluation
from rlax_lander.commands.common import Parser
from rlax_lander.env.ids import LANDER_IDS, success_return


def parse_args(argv: list[str]):
    ap = Parser(prog="python -m rlax_lander evaluate",
                description="Greedy per-seed evaluation of a run directory. Success counts "
                            "episodes with return >= the env's own mark (CartPole-v1 475, "
                            "the lander 200).")
    ap.add_argument("run_dir")
    ap.add_argument("--backend", default=None, choices=evaluation.BACKENDS,
                    help="jax (our env) | box2d (the real lander) | gymnasium (the real "
                         "Gymnasium env: Box2D for the lander, classic control for CartPole-v1, "
                         "Acrobot-v1, MountainCar-v0); default box2d for lander runs, else "
                         "gymnasium")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    if args.episodes < 1:
        raise ValueError(f"--episodes={args.episodes} is out of range; allowed: >= 1")
    return args


def format_table(rows: list[dict], backend: str, env_id: str) -> str:
    """A per-seed text table of `evaluation.backend_rows` rows."""
    mark = success_return(env_id)
    has_landed = any("landed_rate" in r for r in rows)
    head = f"{'seed':>4}  {'mean':>8}  {'std':>7}  {'success':>7}" + (
        f"  {'landed':>6}" if has_landed else "")
    lines = [f"backend {backend}, {rows[0]['episodes']} episodes per seed", head]
    for i, r in enumerate(rows):
        succ = "n/a" if r["success_rate"] is None else f"{r['success_rate']:.0%}"
        line = f"{i:>4}  {r['mean']:8.1f}  {r['std']:7.1f}  {succ:>7}"
        if has_landed:
            line += f"  {r.get('landed_rate', float('nan')):6.0%}"
        lines.append(line)
    means = np.array([r["mean"] for r in rows])
    tail = f"mean of seed means {means.mean():.1f}"
    if mark is not None:
        tail += f"; seeds with mean >= {mark:g}: {int(np.sum(means >= mark))}/{len(rows)}"
    lines.append(tail)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander evaluate`."""
    args = parse_args(argv)
    network, params, config, _ = evaluation.load_run(args.run_dir)
    if args.backend is None:
        args.backend = "box2d" if config.env_id in LANDER_IDS else "gymnasium"
    returns, evs = evaluation.evaluate_backend(network, params, config.env_id, args.backend,
                                               args.episodes, args.seed)
    rows = evaluation.backend_rows(returns, evs, config.env_id)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "backend": args.backend,
                          "episodes": args.episodes, "seed": args.seed,
                          "success_return": success_return(config.env_id), "per_seed": rows},
                         indent=2))
    else:
        print(format_table(rows, args.backend, config.env_id))
    return 0
