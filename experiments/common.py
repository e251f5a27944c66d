"""Shared machinery of the experiment scripts: run variants x seeds vmapped, score them in
Box2D, and write `experiments/results/<name>.{json,md,png}`.

A *variant* is a `DQNConfig` (its static fields decide the compiled program) plus overrides of
vmappable `Hparams`. Variants with equal configs share one compile: their cells (variant x seed)
run as one `runner.run_chunks` batch, the chunk loop of `train` (the algorithm's stages, padded
and sharded over every device). Every variant uses the same seed keys (seed i is
`parallel.seed_keys(seed, S)[i]`, as in `train`), so comparisons are paired.

Score of a run = mean undiscounted return of its final greedy policy over E Box2D
LunarLander-v3 episodes (reset seeds `eval_seed + j`, the same for every run). Aggregates over
runs: IQM with a 95% stratified-bootstrap CI (`rlax_lander.stats`), seeds solved (score >=
200), and the per-chunk Q-value traces (`metrics.CHUNK_METRICS` q_mean and q_abs_max) that show
divergence.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
EVAL_SEED = 10_000
NUM_CHUNKS = 20  # chunks per run: the resolution of the Q and loss traces
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# The base config of both studies: DQNConfig.lunar_lander() as it was when the committed
# results were made (the preset itself later moved to 320k steps, a 60k-step epsilon decay and a
# Polyak-averaged policy; the budget comes from each script's --total-timesteps).
STUDY_BASE = dict(learning_starts=6_400, epsilon_decay_steps=50_000, policy_tau=1.0)


def study_base(total_timesteps: int, **overrides):
    """`DQNConfig.lunar_lander` with `STUDY_BASE`, the study's budget and `overrides` (applied
    together: the config checks the budget against `learning_starts`)."""
    from rlax_lander.dqn.config import DQNConfig

    return DQNConfig.lunar_lander(total_timesteps=total_timesteps,
                                  **{**STUDY_BASE, **overrides})


@dataclasses.dataclass(frozen=True)
class Variant:
    """One arm of a study: a config (static) and `Hparams` overrides (vmapped)."""

    name: str
    config: object  # DQNConfig
    hparams: tuple = ()  # ((field, value), ...)


def run_variants(variants, num_seeds: int, seed: int = 0, devices=None, log=print,
                 num_chunks: int = NUM_CHUNKS, share_compiles: bool = True) -> dict:
    """Train every variant x seed through `runner.run_chunks`; one compile per distinct config
    (`share_compiles=False`: one per variant, a different batch layout of the same cells).

    Returns {name: {"params", "metrics", "episodes", "env_steps", "diverged_at", "config",
    "hparams", "timing"}}: params leaves [S, ...] (numpy); metrics {name: [S, K]} the
    `metrics.CHUNK_METRICS` of the K chunks; episodes the finished training episodes as rows
    ({"seed" 0..S-1, "env_step", "env_index", "return"}); env_steps per seed; diverged_at [S]
    (-1: never non-finite).
    """
    import jax
    import jax.numpy as jnp

    from rlax_lander import algos, parallel, runner
    from rlax_lander.env.registry import make as make_env

    groups: dict = {}
    for v in variants:
        groups.setdefault(v.config if share_compiles else v.name, []).append(v)
    keys1 = parallel.seed_keys(seed, num_seeds)
    out = {}
    for vs in groups.values():
        config = vs[0].config
        env, env_params = make_env(config.env_id)
        stages = algos.algo_of(config).make_stages(config, env, env_params, num_chunks)
        base = config.hparams()
        hps = [jax.tree.map(lambda x: np.full((num_seeds,), x, np.float32),
                            base.replace(**dict(v.hparams))) for v in vs]
        hp = jax.tree.map(lambda *xs: np.concatenate(xs), *hps)
        keys = jnp.concatenate([keys1] * len(vs))
        log(f"  compile + run {len(vs)} variant(s) x {num_seeds} seeds "
            f"({', '.join(v.name for v in vs)})", flush=True)
        res = runner.run_chunks(stages, keys, hp, devices=devices)
        log(f"    compile {res.compile_s:.0f}s, run {res.train_s:.0f}s", flush=True)
        rows = res.episodes
        for i, v in enumerate(vs):
            sl = slice(i * num_seeds, (i + 1) * num_seeds)
            mine = (rows["seed"] >= sl.start) & (rows["seed"] < sl.stop)
            episodes = {k: x[mine] for k, x in rows.items()}
            episodes["seed"] = (episodes["seed"] - sl.start).astype(rows["seed"].dtype)
            out[v.name] = {"params": jax.tree.map(lambda x, sl=sl: x[sl], res.params),
                           "metrics": {k: x[sl] for k, x in res.chunks.items()},
                           "episodes": episodes, "env_steps": res.env_steps,
                           "diverged_at": res.diverged_at[sl],
                           "config": config, "hparams": dict(v.hparams),
                           "timing": {"compile_s": res.compile_s, "run_s": res.train_s,
                                      "cells_in_compile": len(vs) * num_seeds,
                                      "layout": res.layout}}
    return out


def box2d_scores(runs: dict, episodes: int, eval_seed: int = EVAL_SEED, max_steps: int = 1000,
                 log=print) -> None:
    """Adds "returns" [S, E] and "outcomes" to each run: greedy Box2D episodes of its final
    params. One lockstep batch per distinct network shape."""
    from rlax_lander import algos
    from rlax_lander.evaluation import box2d_paired

    for name, r in runs.items():
        t0 = time.time()
        net = algos.algo_of(r["config"]).build_network(r["config"], 4)
        ret, length, outcome = box2d_paired(net, r["params"], episodes, eval_seed,
                                               max_steps)
        r.update(returns=ret, lengths=length, outcomes=outcome)
        log(f"    box2d {name}: {episodes} episodes x {ret.shape[0]} seeds in "
            f"{time.time() - t0:.0f}s, mean {ret.mean():.1f}", flush=True)


def curves(runs: dict, num_bins: int = 40) -> dict:
    """{name: (bin centres [B], training-episode return per seed [S, B])} from each run's
    episode rows (`plots.bin_episodes`; NaN-free: empty bins take the previous bin's value,
    leading empty bins -200)."""
    from rlax_lander.plots import bin_episodes

    out = {}
    for name, r in runs.items():
        num_seeds = np.shape(r["metrics"]["env_step"])[0]
        x, c = bin_episodes(r["episodes"], num_seeds, r["env_steps"], num_bins)
        for b in range(1, c.shape[1]):
            c[:, b] = np.where(np.isnan(c[:, b]), c[:, b - 1], c[:, b])
        out[name] = (x, np.nan_to_num(c, nan=-200.0))
    return out


def summarise(runs: dict, reps: int = 2000) -> dict:
    """Per variant: per-seed scores, IQM + 95% CI, mean, success rates, seeds solved, Q/loss
    traces; all computed from the runs' returns and per-chunk metrics [S, K]:
    final_q_mean / final_loss: mean over the last 10% of chunks; max_abs_q_mean_per_seed:
    largest |chunk-mean Q| of each seed; peak_abs_q_per_seed: largest |Q(s, a)| of any update
    sample of each seed."""
    from rlax_lander import stats
    from rlax_lander.episode_stats import LANDED

    table = {}
    for name, r in runs.items():
        scores = r["returns"].mean(1)  # [S] one score per run
        ci = stats.stratified_bootstrap_ci(scores, stats.iqm, reps=reps, seed=0)
        q = np.asarray(r["metrics"]["q_mean"])  # [S, K] per chunk
        q_abs = np.asarray(r["metrics"]["q_abs_max"])  # [S, K] per chunk
        loss = np.asarray(r["metrics"]["loss"])
        tail = max(1, q.shape[1] // 10)
        table[name] = {
            "hparams": r["hparams"],
            "per_seed_score": scores.tolist(),
            "iqm": float(ci.point), "iqm_ci": [float(ci.lo), float(ci.hi)],
            "mean": float(scores.mean()),
            "seeds_solved": int(np.sum(scores >= 200.0)),
            "success_rate": float(np.mean(r["returns"] >= 200.0)),
            "landed_rate": float(np.mean(r["outcomes"] == LANDED)),
            "final_q_mean": float(q[:, -tail:].mean()),
            "max_abs_q_mean_per_seed": np.abs(q).max(1).tolist(),
            "peak_abs_q_per_seed": q_abs.max(1).tolist(),
            "final_loss": float(loss[:, -tail:].mean()),
        }
    return table


def write_results(stem: str, title: str, runs: dict, table: dict, meta: dict,
                  finding: str, out_dir=RESULTS) -> dict:
    """Write `<stem>.json`, `<stem>.md` (table + finding + command) and `<stem>.png`
    (learning curves and IQM intervals)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlax_lander import stats

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cv = curves(runs)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, (name, (x, c)) in enumerate(cv.items()):
        band = stats.stratified_bootstrap_ci(c, stats.mean_per_task, reps=500, seed=0)
        ax1.plot(x, band.point, color=f"C{i % 10}", ls="-" if i < 10 else "--", label=name)
        ax1.fill_between(x, band.lo, band.hi, color=f"C{i % 10}", alpha=0.15)
    ax1.axhline(200, color="k", lw=0.8, ls=":")
    ax1.set_xlabel("env steps (per seed)")
    ax1.set_ylabel("training episode return (epsilon-greedy)")
    ax1.set_title("learning curves (mean over seeds, 95% bootstrap band)")
    ax1.legend(fontsize=7)
    names = list(table)
    for i, name in enumerate(names):
        t = table[name]
        ax2.plot([t["iqm_ci"][0], t["iqm_ci"][1]], [i, i], color=f"C{i % 10}", lw=3)
        ax2.plot(t["iqm"], i, "o", color="k")
        ax2.plot(t["per_seed_score"], [i] * len(t["per_seed_score"]), "|", color="gray")
    ax2.axvline(200, color="k", lw=0.8, ls=":")
    ax2.set_yticks(range(len(names)), names)
    ax2.set_xlabel(f"Box2D greedy return (per-seed mean of {meta['eval_episodes']} episodes)")
    ax2.set_title("IQM over seeds, 95% stratified-bootstrap CI (ticks: seeds)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_dir / f"{stem}.png", dpi=100)
    plt.close(fig)

    payload = {"title": title, **meta, "variants": table,
               "learning_curves": {n: {"env_step": x.tolist(), "mean_return":
                                       np.mean(c, 0).tolist()} for n, (x, c) in cv.items()}}
    (out_dir / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    (out_dir / f"{stem}.md").write_text(markdown(stem, title, table, meta, finding))
    return payload


def markdown(stem: str, title: str, table: dict, meta: dict, finding: str) -> str:
    """The results markdown: finding, command, budget, table, figure, definitions."""
    lines = [f"# {title}", "", finding, "",
             f"Command: `{meta['command']}`", "",
             f"Budget: {meta['budget']}. Wall time of the whole study: "
             f"{meta['wall_s'] / 60:.1f} min on this 2-core CPU (shared with other jobs).", "",
             "| variant | IQM [95% CI] | mean | seeds >= 200 | episodes >= 200 | landed | "
             "final Q mean | max abs Q (median over seeds) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, t in table.items():
        lines.append(
            f"| {name} | {t['iqm']:.1f} [{t['iqm_ci'][0]:.1f}, {t['iqm_ci'][1]:.1f}] | "
            f"{t['mean']:.1f} | {t['seeds_solved']}/{len(t['per_seed_score'])} | "
            f"{t['success_rate']:.0%} | {t['landed_rate']:.0%} | {t['final_q_mean']:.1f} | "
            f"{np.median(t['max_abs_q_mean_per_seed']):.3g} |")
    lines += ["", f"![{stem}]({stem}.png)", "",
              "Scores: each run's final greedy policy, mean return over "
              f"{meta['eval_episodes']} Box2D LunarLander-v3 episodes (reset seeds "
              f"{meta['eval_seed']}..{meta['eval_seed'] + meta['eval_episodes'] - 1}, the same "
              "for every run). IQM and CIs: `rlax_lander.stats` (2000 stratified-bootstrap "
              "resamples over seeds). " + _q_definition(meta) + " LunarLander returns lie "
              "within a few hundred, so Q values in the thousands mean the bootstrapped "
              "targets diverged.", ""]
    return "\n".join(lines)


def _chunks_per_run(runs: dict):
    """K, the chunks a run was cut into (fewer than `NUM_CHUNKS` for runs with fewer training
    iterations); a sorted list if the arms differ."""
    ks = sorted({int(np.shape(r["metrics"]["q_mean"])[1]) for r in runs.values()})
    return ks[0] if len(ks) == 1 else ks


def _q_definition(meta: dict) -> str:
    """What the Q columns mean: per-chunk traces (`meta["num_chunks"]`), or, for results saved
    before the chunked runner, per-update traces."""
    k = meta.get("num_chunks")
    if k is None:
        return ("Q mean: batch-mean Q of the online net over the last 10% of updates, and the "
                "largest |batch-mean Q| seen in a run;")
    k = k if isinstance(k, int) else "/".join(map(str, k))
    return (f"Q mean: mean Q(s, a) of the update batches per chunk ({k} equal chunks per run), "
            "averaged over the last 10% of chunks, and the largest |chunk-mean Q| seen in a run "
            "(the JSON also has each seed's largest |Q(s, a)| of any update sample, "
            "`peak_abs_q_per_seed`);")


def fmt(t: dict) -> str:
    """'IQM 231.0 [210.2, 250.3]' for a summary row."""
    return f"IQM {t['iqm']:.1f} [{t['iqm_ci'][0]:.1f}, {t['iqm_ci'][1]:.1f}]"


def study_main(argv, *, stem: str, title: str, script: str, make_variants, finding,
               arm_diffs: bool = False) -> int:
    """The command line shared by the studies: train every arm's seeds, score them in Box2D,
    write `<stem>.{json,md,png}`; `--from-json` only rewrites the markdown from saved results.

    `make_variants(base)` gives the arms; `finding(table, meta, base)` the paragraph.
    """
    import argparse
    import os
    import shlex

    from rlax_lander.dqn.config import DQNConfig

    ap = argparse.ArgumentParser(description=title)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--total-timesteps", type=int, default=256_000)
    ap.add_argument("--episodes", type=int, default=20, help="Box2D episodes per seed")
    ap.add_argument("--eval-max-steps", type=int, default=1000)
    ap.add_argument("--learning-starts", type=int, default=None,
                    help="override the preset's (for tiny smoke budgets)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=str(RESULTS))
    ap.add_argument("--only", default=None, help="comma-separated arm names to run (default: all)")
    ap.add_argument("--from-json", default=None,
                    help="only rewrite the markdown from this saved results JSON")
    args = ap.parse_args(argv)
    if args.from_json:
        payload = json.loads(Path(args.from_json).read_text())
        meta = {k: v for k, v in payload.items() if k not in ("variants", "learning_curves")}
        base = DQNConfig.from_dict(meta["base_config"])
        md = markdown(stem, payload["title"], payload["variants"], meta,
                      finding(payload["variants"], meta, base))
        (Path(args.out_dir) / f"{stem}.md").write_text(md)
        return 0
    t0 = time.time()
    overrides = {} if args.learning_starts is None else {"learning_starts": args.learning_starts}
    base = study_base(args.total_timesteps, **overrides)
    vs = make_variants(base)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        vs = [v for v in vs if v.name in keep]
        if not vs:
            raise SystemExit(f"--only matched no arm; arms: {[v.name for v in make_variants(base)]}")
    runs = run_variants(vs, args.seeds, args.seed, num_chunks=NUM_CHUNKS)
    box2d_scores(runs, args.episodes, max_steps=args.eval_max_steps)
    table = summarise(runs)
    xla = os.environ.get("XLA_FLAGS")
    cmd = (f"XLA_FLAGS={shlex.quote(xla)} " if xla else "")
    cmd += f"python {script} " + shlex.join(sys.argv[1:] if argv is None else argv)
    meta = {"command": cmd.strip(), "num_seeds": args.seeds, "seed": args.seed,
            "eval_episodes": args.episodes, "eval_seed": EVAL_SEED,
            "budget": f"{args.total_timesteps:,} env steps per seed (otherwise "
                      f"DQNConfig.lunar_lander with experiments/common.py STUDY_BASE), final "
                      f"greedy policy scored on {args.episodes} Box2D episodes",
            "base_config": base.to_dict(), "num_chunks": _chunks_per_run(runs),
            "wall_s": None}
    if arm_diffs:
        b = base.to_dict()
        meta["arms"] = {v.name: {k: x for k, x in v.config.to_dict().items() if x != b[k]}
                        for v in vs}
    meta["wall_s"] = time.time() - t0
    write_results(stem, title, runs, table, meta, finding(table, meta, base), args.out_dir)
    print(Path(args.out_dir) / f"{stem}.md")
    return 0
