"""Do the defaults hold for every base seed? Runs the path a newcomer runs,
`python -m rlax_lander train --env ENV --seeds 8 --seed B`, for each base seed B, and tabulates
each seed's greedy mean over 100 episodes in the real Gymnasium env (Box2D for the lander;
reset seeds 0..99, which training, done entirely in our JAX env, never touches).

    python scripts/robust_defaults.py --env CartPole-v1 --base-seeds 0 1 2
    python scripts/robust_defaults.py --env LunarLander-v3 --base-seeds 0 1 2 [--algo pqn]

Writes experiments/results/robust_defaults_<algo>_<env>.{json,md} and prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlax_lander.env.ids import success_return  # noqa: E402
from rlax_lander.machine import cpu_model  # noqa: E402


def run_one(algo: str, env_id: str, base_seed: int, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "rlax_lander", "train", "--env", env_id, "--seeds", "8",
           "--seed", str(base_seed), "--out", str(out), "--overwrite", "--progress", "false",
           *(["--algo", algo] if algo != "dqn" else []), *extra]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    twin = summary["evaluation"]["twin_backend"]
    return {"base_seed": base_seed, "command": "python -m rlax_lander " + " ".join(cmd[3:]),
            "wall_s": wall, "twin": twin,
            "means": [row[twin]["mean"] for row in summary["evaluation"]["per_seed"]],
            "jax_means": [row["jax"]["mean"] for row in summary["evaluation"]["per_seed"]],
            "timing": summary["timing"], "layout": summary["layout"]}


def markdown(algo: str, env_id: str, rows: list[dict], need: int) -> str:
    mark = success_return(env_id)
    twin = rows[0]["twin"]
    lines = [f"# Robust defaults: `train --env {env_id}`" + (f" `--algo {algo}`" if algo != "dqn"
                                                              else ""), "",
             f"Greedy mean return per seed over 100 episodes in the real env ({twin}; reset "
             f"seeds 0..99), 8 seeds per base seed; the bar is >= {need}/8 seeds with mean "
             f">= {mark:g}. Machine: {cpu_model()}, {date.today().isoformat()}.", "",
             "| base seed | " + " | ".join(f"seed {i}" for i in range(8))
             + f" | seeds >= {mark:g} | wall |",
             "|---|" + "---|" * 10]
    for r in rows:
        solved = sum(m >= mark for m in r["means"])
        lines.append(f"| {r['base_seed']} | " + " | ".join(f"{m:.1f}" for m in r["means"])
                     + f" | **{solved}/8** | {r['wall_s']:.0f} s |")
    lines += ["", "Commands:", ""] + [f"    {r['command']}" for r in rows] + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--algo", default="dqn")
    ap.add_argument("--base-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--need", type=int, default=7, help="seeds of 8 that must pass")
    ap.add_argument("--runs-dir", default=str(ROOT / "runs" / "robust"))
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    ap.add_argument("extra", nargs="*", help="more train flags (after --)")
    args = ap.parse_args(argv)
    rows = []
    for b in args.base_seeds:
        out = Path(args.runs_dir) / f"{args.algo}-{args.env}-seed{b}"
        rows.append(run_one(args.algo, args.env, b, out, args.extra))
        print(f"base seed {b}: " + ", ".join(f"{m:.1f}" for m in rows[-1]["means"]), flush=True)
    stem = f"robust_defaults_{args.algo}_{args.env}"
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = markdown(args.algo, args.env, rows, args.need)
    (out_dir / f"{stem}.md").write_text(md)
    (out_dir / f"{stem}.json").write_text(json.dumps(
        {"env_id": args.env, "algo": args.algo, "machine": cpu_model(),
         "date": date.today().isoformat(), "rows": rows}, indent=1))
    print(md)
    mark = success_return(args.env)
    ok = all(sum(m >= mark for m in r["means"]) >= args.need for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
