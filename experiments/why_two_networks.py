"""Why does DQN need two networks? The course lab's DQN with and without its target network,
then one stabiliser at a time in its place, all of them, and PQN; scored in Box2D.

Arms (all from `DQNConfig.course_lab()`: 64-64 ReLU MLP, L2 loss, Adam 1e-3, gamma 0.995,
batch 64, an update every 4 env steps, 100k replay buffer, epsilon 0.995 ** episodes, and a
Polyak target with tau 1e-3 after every update; same budget, same seeds):
  course lab                   : as the learner ran it
  no target                    : the targets bootstrap from the online net (tau = 1)
  no target + double Q         : online net picks a', the Polyak-free target is still online
  no target + grad clip 10     : gradient global norm <= 10
  no target + LayerNorm        : LayerNorm after each hidden layer
  no target + lr anneal        : Adam's step size annealed linearly to 0
  no target + 16 envs          : 16 parallel envs feed the buffer (same env steps, updates)
  no target + 3-step returns   : n-step targets from the replay buffer
  all stabilisers w/o target  : all six of the above together
  all stabilisers + target     : the same with the course lab's target (tau 1e-3)
  PQN                          : `PQNConfig.lunar_lander()` (no target, no replay buffer,
                                 LayerNorm, lambda-returns, 32 envs) at its own default budget
The two course-lab arms differ only in tau (an `Hparams` input), so they are one vmapped
compile, as are the two all-stabiliser arms; every other arm is a compile of its own.
`--separate-compiles` runs every arm alone instead: the same cells in another batch layout.

Usage: python experiments/why_two_networks.py [--seeds 16] [--total-timesteps 1000000]
       [--episodes 50] [--seed 0] [--only ARM,ARM] [--separate-compiles] [--stem NAME]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

STEM = "why_two_networks"
TITLE = "Why two networks? The course lab's DQN on LunarLander-v3, scored in Box2D"
NUM_CHUNKS = 40  # resolution of the Q trajectories: 25k env steps per chunk at 1M steps
COURSE, NO_TARGET = "course lab", "no target"
ALL_NO, ALL_TARGET = "all stabilisers without target", "all stabilisers + target"
NO_TARGET_HP = (("tau", 1.0), ("target_update_period", 1))
STABILISERS = {
    "double Q": dict(double_q=True),
    "grad clip 10": dict(max_grad_norm=10.0),
    "LayerNorm": dict(layer_norm=True),
    "lr anneal": dict(lr_anneal=True),
    "16 envs": dict(num_envs=16),
    "3-step returns": dict(n_step=3),
}
DIVERGED_Q = 1_000.0  # |Q| above this is divergence: lander returns lie within a few hundred


def variants(total_timesteps: int, pqn_total_timesteps: int | None = None):
    """The study's arms as `common.Variant`s, in the order of the module docstring."""
    from rlax_lander.dqn.config import DQNConfig
    from rlax_lander.pqn.config import PQNConfig

    lab = DQNConfig.course_lab(total_timesteps=total_timesteps)
    vs = [common.Variant(COURSE, lab), common.Variant(NO_TARGET, lab, NO_TARGET_HP)]
    vs += [common.Variant(f"no target + {name}", lab.replace(**change), NO_TARGET_HP)
           for name, change in STABILISERS.items()]
    every = lab.replace(**{k: v for change in STABILISERS.values() for k, v in change.items()})
    vs += [common.Variant(ALL_NO, every, NO_TARGET_HP), common.Variant(ALL_TARGET, every)]
    pqn = PQNConfig.lunar_lander()
    if pqn_total_timesteps is not None:
        pqn = pqn.replace(total_timesteps=pqn_total_timesteps)
    vs.append(common.Variant("PQN", pqn))
    return vs


def steps_to_200(runs: dict) -> dict:
    """{arm: env steps at which the seed-mean training return (epsilon-greedy, binned as in the
    plot) first reached 200, or None}."""
    out = {}
    for name, (x, c) in common.curves(runs).items():
        hit = np.nonzero(c.mean(0) >= 200.0)[0]
        out[name] = int(x[hit[0]]) if hit.size else None
    return out


def add_q_growth(table: dict, runs: dict) -> None:
    """Adds each arm's Q trajectory (per-chunk env step and |Q| peak per seed), its median peak
    |Q| and the seeds whose |Q| passed `DIVERGED_Q` to `table`."""
    for name, r in runs.items():
        peak = np.asarray(r["metrics"]["q_abs_max"])  # [S, K]
        t = table[name]
        t["q_trajectory"] = {"env_step": np.asarray(r["metrics"]["env_step"])[0].tolist(),
                             "q_abs_max_per_seed": peak.tolist()}
        t["median_peak_abs_q"] = float(np.median(peak.max(1)))
        t["seeds_q_diverged"] = int(np.sum(peak.max(1) > DIVERGED_Q))
        t["budget_env_steps"] = int(r["env_steps"])


def _verdict(a: dict, b: dict) -> str:
    """'>' / '<' when the IQM CIs are disjoint, '~' when they overlap."""
    if a["iqm_ci"][0] > b["iqm_ci"][1]:
        return ">"
    if a["iqm_ci"][1] < b["iqm_ci"][0]:
        return "<"
    return "~"


def finding(table: dict, meta: dict) -> str:
    """The result paragraph; every number and verdict is computed from `table`."""
    f = common.fmt
    S = meta["num_seeds"]
    words = {">": "better than", "<": "worse than", "~": "not distinguishable from"}
    parts = [f"**Finding** ({S} seeds per arm, {meta['budget']}). "]
    lab, none = table.get(COURSE), table.get(NO_TARGET)
    if lab and none:
        v = _verdict(lab, none)
        parts.append(
            f"The course lab as the learner ran it: {f(lab)}, {lab['seeds_solved']}/{S} seeds "
            f">= 200, median peak |Q| {lab['median_peak_abs_q']:.3g}. Without its target "
            f"network: {f(none)}, {none['seeds_solved']}/{S} seeds >= 200, median peak |Q| "
            f"{none['median_peak_abs_q']:.3g} ({none['seeds_q_diverged']}/{S} seeds past "
            f"|Q| {DIVERGED_Q:g}). With the target the lab is {words[v]} without it "
            f"({'CIs disjoint' if v != '~' else 'CIs overlap'}). ")
    singles = {k[len("no target + "):]: t for k, t in table.items()
               if k.startswith("no target + ")}
    if singles and none:
        rows = sorted(singles.items(), key=lambda kv: -kv[1]["iqm"])
        parts.append("One stabiliser in the target's place (IQM, seeds >= 200, seeds with "
                     "diverged Q): " + "; ".join(
                         f"{k} {t['iqm']:.1f} [{t['iqm_ci'][0]:.1f}, {t['iqm_ci'][1]:.1f}], "
                         f"{t['seeds_solved']}/{S}, {t['seeds_q_diverged']}/{S}"
                         for k, t in rows) + ". ")
        if lab:
            stand_in = [k for k, t in rows if _verdict(t, lab) != "<"]
            better = [k for k, t in rows if _verdict(t, none) == ">"]
            parts.append("Better than no target at all (CIs disjoint): "
                         + (", ".join(better) if better else "none") + ". Not worse than the "
                         "course lab with its target (CIs overlap or above): "
                         + (", ".join(stand_in) if stand_in else "none") + ". ")
    a_no, a_t = table.get(ALL_NO), table.get(ALL_TARGET)
    if a_no and a_t:
        parts.append(f"All six stabilisers without a target: {f(a_no)} ({a_no['seeds_solved']}"
                     f"/{S}); with the target as well: {f(a_t)} ({a_t['seeds_solved']}/{S}); "
                     f"the first is {words[_verdict(a_no, a_t)]} the second. ")
    pqn = table.get("PQN")
    if pqn:
        scale = meta.get("pqn_reward_scale", 1.0)
        parts.append(f"PQN (no target, no replay, {pqn['budget_env_steps']:,} env steps): "
                     f"{f(pqn)}, {pqn['seeds_solved']}/{S} seeds >= 200, median peak |Q| "
                     f"{pqn['median_peak_abs_q']:.3g}"
                     + (f" (its targets use rewards x {scale:g}, so its Q is on a scale "
                        f"{1 / scale:g}x smaller)" if scale != 1.0 else "") + ". ")
    reach = meta.get("steps_to_200", {})
    if reach:
        parts.append("Env steps until the seed-mean training return first reached 200: "
                     + "; ".join(f"{k} {'never' if v is None else f'{v:,}'}"
                                 for k, v in reach.items()) + ".")
    return "".join(parts)


def plot_q(table: dict, path: Path) -> None:
    """Peak |Q(s, a)| per chunk (median over seeds, band min..max) for every arm, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for i, (name, t) in enumerate(table.items()):
        x = np.asarray(t["q_trajectory"]["env_step"])
        q = np.asarray(t["q_trajectory"]["q_abs_max_per_seed"])
        style = "-" if i < 10 else "--"
        ax.plot(x, np.median(q, 0), style, color=f"C{i % 10}", label=name)
        ax.fill_between(x, q.min(0), q.max(0), color=f"C{i % 10}", alpha=0.08)
    ax.axhline(DIVERGED_Q, color="k", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("env steps (per seed)")
    ax.set_ylabel("peak |Q(s, a)| in the chunk's update batches")
    ax.set_title("Q-value growth (median over seeds; band: min..max)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=TITLE)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--total-timesteps", type=int, default=1_000_000,
                    help="env steps per seed of the DQN arms (PQN keeps its default budget)")
    ap.add_argument("--pqn-total-timesteps", type=int, default=None,
                    help="env steps per seed of the PQN arm (default: its preset's)")
    ap.add_argument("--episodes", type=int, default=50, help="Box2D episodes per seed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="comma-separated arm names (default: all)")
    ap.add_argument("--separate-compiles", action="store_true",
                    help="one compile per arm (another batch layout of the same cells)")
    ap.add_argument("--cpu-devices", type=int, default=None,
                    help="XLA CPU devices (default: one per core)")
    ap.add_argument("--stem", default=STEM)
    ap.add_argument("--out-dir", default=str(common.RESULTS))
    ap.add_argument("--from-json", default=None,
                    help="only rewrite the markdown and the Q plot from this results JSON")
    return ap.parse_args(argv)


def rewrite(payload: dict, stem: str, out_dir: Path) -> None:
    meta = {k: v for k, v in payload.items() if k not in ("variants", "learning_curves")}
    md = common.markdown(stem, payload["title"], payload["variants"], meta,
                         finding(payload["variants"], meta))
    md += (f"\n![Q-value growth]({stem}_q.png)\n\nPeak |Q|: the largest |Q(s, a)| of any "
           f"update sample in each of {NUM_CHUNKS} equal chunks of a run; a seed counts as "
           f"diverged once it passes {DIVERGED_Q:g}.\n")
    for replication in sorted(out_dir.glob(f"{stem}_replication*.json")):
        md += replication_section(payload, json.loads(replication.read_text()),
                                  replication.stem)
    (out_dir / f"{stem}.md").write_text(md)
    plot_q(payload["variants"], out_dir / f"{stem}_q.png")


def replication_section(first: dict, second: dict, name: str) -> str:
    """Markdown comparing the arms run twice: each run's IQM, seeds >= 200 and diverged seeds,
    and whether each verdict against the course lab and against no target repeated."""
    a, b = first["variants"], second["variants"]
    S = second["num_seeds"]
    layout = second["batch_layout"]
    lines = ["", f"## Replication: `{name}`", "",
             f"The headline arms again: base seed {second['seed']} (run 1: {first['seed']}), "
             f"{layout['devices']} XLA device(s) (run 1: {first['batch_layout']['devices']}). "
             "Cells per compile (arm: run 1, run 2): " + ", ".join(
                 f"{k}: {first['batch_layout']['cells_per_compile'][k]}, "
                 f"{second['batch_layout']['cells_per_compile'][k]}" for k in b if k in a)
             + f". Command: `{second['command']}`; results: `{name}.{{md,json}}`.",
             "",
             "| arm | run 1 IQM [95% CI] | seeds >= 200 | run 2 IQM [95% CI] | seeds >= 200 | "
             "vs course lab (run 1, run 2) | vs no target (run 1, run 2) |",
             "|---|---|---|---|---|---|---|"]
    for name in b:
        if name not in a:
            continue
        cmp = []
        for ref in (COURSE, NO_TARGET):
            # same seeds: an arm missing from the second run is compared with run 1's
            ref_b = b.get(ref, a.get(ref) if second["seed"] == first["seed"] else None)
            if name == ref or ref not in a or ref_b is None:
                cmp.append("")
            else:
                star = "" if ref in b else "*"
                cmp.append(f"{_verdict(a[name], a[ref])} {_verdict(b[name], ref_b)}{star}")
        lines.append(f"| {name} | {common.fmt(a[name])[4:]} | {a[name]['seeds_solved']}/"
                     f"{len(a[name]['per_seed_score'])} | {common.fmt(b[name])[4:]} | "
                     f"{b[name]['seeds_solved']}/{S} | {cmp[0]} | {cmp[1]} |")
    lines += ["", "Verdicts: > / < when the IQM CIs are disjoint, ~ when they overlap; * against "
              "run 1's arm (same seeds), which the second run did not repeat.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = Path(args.out_dir)
    if args.from_json:
        rewrite(json.loads(Path(args.from_json).read_text()), args.stem, out_dir)
        return 0
    from rlax_lander.commands import startup

    startup.configure_cpu_devices(args.cpu_devices)
    t0 = time.time()
    vs = variants(args.total_timesteps, args.pqn_total_timesteps)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        unknown = sorted(set(keep) - {v.name for v in vs})
        if unknown:
            raise SystemExit(f"--only: unknown arm(s) {unknown}; arms: {[v.name for v in vs]}")
        vs = [v for v in vs if v.name in keep]
    runs = common.run_variants(vs, args.seeds, args.seed, num_chunks=NUM_CHUNKS,
                               share_compiles=not args.separate_compiles)
    common.box2d_scores(runs, args.episodes)
    table = common.summarise(runs)
    add_q_growth(table, runs)
    layout = next(iter(runs.values()))["timing"]["layout"]
    meta = {"command": "python experiments/why_two_networks.py "
                       + shlex.join(sys.argv[1:] if argv is None else argv),
            "num_seeds": args.seeds, "seed": args.seed, "eval_episodes": args.episodes,
            "eval_seed": common.EVAL_SEED, "num_chunks": NUM_CHUNKS,
            "budget": f"{args.total_timesteps:,} env steps per seed for the DQN arms, final "
                      f"greedy policy scored on {args.episodes} Box2D episodes",
            "batch_layout": {"separate_compiles": args.separate_compiles,
                             "devices": layout["devices"],
                             "cells_per_compile": {n: r["timing"]["cells_in_compile"]
                                                   for n, r in runs.items()}},
            "timing": {n: r["timing"] for n, r in runs.items()},
            "steps_to_200": steps_to_200(runs), "wall_s": None}
    if "PQN" in runs:
        meta["pqn_reward_scale"] = float(runs["PQN"]["config"].reward_scale)
    meta["wall_s"] = time.time() - t0
    payload = common.write_results(args.stem, TITLE, runs, table, meta, finding(table, meta),
                                   out_dir)
    rewrite(payload, args.stem, out_dir)
    print(out_dir / f"{args.stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
