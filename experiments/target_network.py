"""Why a target network? DQN on the JAX LunarLander with and without one, scored in Box2D.

Arms (all from `common.study_base`, i.e. `DQNConfig.lunar_lander()` with `STUDY_BASE`; same
budget and seeds; Box2D-scored):
  no target           : bootstrap from the online net itself (tau = 1 every update)
  hard C=100/500/2000 : copy online -> target every C gradient updates
  polyak tau=...      : target <- tau * online + (1 - tau) * target after every update
  LayerNorm, no target: LayerNorm MLP and no target network (the PQN claim: normalisation
                        can replace the target network)
  LayerNorm + polyak  : the default preset (LayerNorm and Polyak tau = 0.01), for reference
The first eight arms use the plain MLP and differ only in (tau, period), which are `Hparams`
inputs, so they are one vmapped compile (soft update with tau = 1 and period C is exactly a
hard copy every C updates, and tau = 1, period 1 makes the target equal the online net, i.e.
no target network). The two LayerNorm arms are the second compile.

Usage: python experiments/target_network.py [--seeds 8] [--total-timesteps 256000]
       [--episodes 20] [--out-dir experiments/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

STEM = "target_network"
HARD = (100, 500, 2000)
TAUS = (1e-3, 5e-3, 1e-2, 5e-2)


def variants(base):
    """The study's arms as `common.Variant`s (plain-MLP arms first)."""
    plain = base.replace(layer_norm=False, target_mode="soft", target_update_period=1)
    ln = base.replace(layer_norm=True, target_mode="soft", target_update_period=1)
    vs = [common.Variant("no target", plain, (("tau", 1.0), ("target_update_period", 1)))]
    vs += [common.Variant(f"hard C={c}", plain, (("tau", 1.0), ("target_update_period", c)))
           for c in HARD]
    vs += [common.Variant(f"polyak tau={t:g}", plain, (("tau", t), ("target_update_period", 1)))
           for t in TAUS]
    vs += [common.Variant("LayerNorm, no target", ln,
                          (("tau", 1.0), ("target_update_period", 1))),
           common.Variant("LayerNorm + polyak tau=0.01", ln,
                          (("tau", 0.01), ("target_update_period", 1)))]
    return vs


def _compare(a: dict, b: dict, b_name: str) -> str:
    """'better than B (CIs disjoint)' / 'worse than ...' / 'not distinguishable from ...'."""
    if a["iqm_ci"][0] > b["iqm_ci"][1]:
        return f"better than {b_name} (CIs disjoint)"
    if a["iqm_ci"][1] < b["iqm_ci"][0]:
        return f"worse than {b_name} (CIs disjoint)"
    return f"not distinguishable from {b_name} (CIs overlap)"


def finding(table: dict, meta: dict) -> str:
    """The result paragraph; every number and verdict is computed from `table`."""
    f = common.fmt
    S = meta["num_seeds"]
    none, ln_none = table.get("no target"), table.get("LayerNorm, no target")
    targets = {k: v for k, v in table.items()
               if k.startswith("hard") or k.startswith("polyak")}
    peak = {k: float(np.median(v["max_abs_q_mean_per_seed"])) for k, v in table.items()}
    parts = [f"**Finding** ({S} seeds per arm, {meta['budget']}). "]
    if targets:
        best = max(targets, key=lambda k: targets[k]["iqm"])
        worst = min(targets, key=lambda k: targets[k]["iqm"])
        parts.append(f"Plain MLP with a target network: best {best} ({f(targets[best])}, "
                     f"{targets[best]['seeds_solved']}/{S} seeds >= 200), worst {worst} "
                     f"({f(targets[worst])}). ")
    if none is not None:
        parts.append(f"Plain MLP without one: {f(none)} ({none['seeds_solved']}/{S} seeds "
                     f">= 200)")
        if targets:
            parts.append(f", {_compare(none, targets[best], 'the best target arm')}")
        diverged = max(none["max_abs_q_mean_per_seed"]) > 1000
        parts.append(f". Its median peak |batch-mean Q| was {peak['no target']:.3g} (largest "
                     f"{max(none['max_abs_q_mean_per_seed']):.3g})"
                     + (f" against {peak[best]:.3g} for {best}" if targets else "") + ": ")
        if diverged:
            parts.append("the Q-values diverged. Bootstrapping from the network being updated "
                         "lets every gradient step move its own regression target, and the "
                         "over-estimated max_a Q(s', a) feeds back into the next target; a "
                         "frozen or slowly moving copy breaks that loop. ")
        else:
            parts.append("bounded, no divergence. This agent has other stabilisers (double Q, "
                         "gradient clipping at 10, a learning rate annealed to 0, 16 parallel "
                         "envs feeding the buffer; which of them matters was not tested), and "
                         "the price of a target network, slower propagation of value through "
                         "the bootstrap, is what shows")
            slow = [k for k in ("hard C=2000", "polyak tau=0.001") if k in targets]
            ranked = sorted(targets, key=lambda k: targets[k]["iqm"])
            if slow and set(slow) == set(ranked[:len(slow)]):
                parts.append(": the slowest targets were the worst arms (" + ", ".join(
                    f"{k}: {f(table[k])}" for k in slow) + ")")
            parts.append(". ")
    if ln_none is not None:
        parts.append(f"LayerNorm without a target network: {f(ln_none)} "
                     f"({ln_none['seeds_solved']}/{S} seeds >= 200)")
        ref = table.get("LayerNorm + polyak tau=0.01")
        if ref is not None:
            parts.append(f", {_compare(ln_none, ref, 'LayerNorm with Polyak targets')} "
                         f"({f(ref)}, {ref['seeds_solved']}/{S} seeds >= 200)")
            lo, hi = ln_none["iqm_ci"]
            if hi < ref["iqm_ci"][0]:
                verdict = "does not hold here."
            else:
                verdict = ("holds here: dropping the target network cost nothing measurable.")
            parts.append("; the PQN claim (normalisation can replace the target network) "
                         + verdict)
        if none is not None:
            parts.append(f" Without targets, LayerNorm changed the IQM by "
                         f"{ln_none['iqm'] - none['iqm']:+.1f} points: "
                         f"{_compare(ln_none, none, 'the plain MLP')}.")
        parts.append(" (PQN also uses lambda-returns and no replay buffer; this is DQN with "
                     "replay.)")
    return "".join(parts)


def rerender(json_path, out_dir) -> None:
    """Rewrite `<stem>.md` from a saved `<stem>.json` (no training)."""
    payload = json.loads(Path(json_path).read_text())
    meta = {k: v for k, v in payload.items() if k not in ("variants", "learning_curves")}
    table = payload["variants"]
    md = common.markdown(STEM, payload["title"], table, meta, finding(table, meta))
    (Path(out_dir) / f"{STEM}.md").write_text(md)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--total-timesteps", type=int, default=256_000)
    ap.add_argument("--episodes", type=int, default=20, help="Box2D episodes per seed")
    ap.add_argument("--eval-max-steps", type=int, default=1000)
    ap.add_argument("--learning-starts", type=int, default=None,
                    help="override the preset's (for tiny smoke budgets)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=str(common.RESULTS))
    ap.add_argument("--only", default=None,
                    help="comma-separated arm names to run (default: all)")
    ap.add_argument("--from-json", default=None,
                    help="only rewrite the markdown from this saved results JSON")
    args = ap.parse_args(argv)
    if args.from_json:
        rerender(args.from_json, args.out_dir)
        return 0
    t0 = time.time()
    base = common.study_base(args.total_timesteps)
    if args.learning_starts is not None:
        base = base.replace(learning_starts=args.learning_starts)
    vs = variants(base)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        vs = [v for v in vs if v.name in keep]
        if not vs:
            raise SystemExit(f"--only matched no arm; arms: {[v.name for v in variants(base)]}")
    runs = common.run_variants(vs, args.seeds, args.seed)
    common.box2d_scores(runs, args.episodes, max_steps=args.eval_max_steps)
    table = common.summarise(runs)
    xla = os.environ.get("XLA_FLAGS")
    cmd = (f"XLA_FLAGS={shlex.quote(xla)} " if xla else "")
    cmd += "python experiments/target_network.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    meta = {"command": cmd.strip(), "num_seeds": args.seeds, "seed": args.seed,
            "eval_episodes": args.episodes, "eval_seed": common.EVAL_SEED,
            "budget": f"{args.total_timesteps:,} env steps per seed "
                      f"(otherwise DQNConfig.lunar_lander with experiments/common.py STUDY_BASE), final greedy policy scored on "
                      f"{args.episodes} Box2D episodes",
            "base_config": base.to_dict(), "wall_s": None}
    meta["wall_s"] = time.time() - t0
    payload = common.write_results(STEM, "Why a target network? (DQN, LunarLander-v3)", runs,
                                   table, meta, finding(table, meta), args.out_dir)
    print(payload["variants"].keys())
    print(Path(args.out_dir) / f"{STEM}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
