"""After training: write the run directory's results, evaluate, and print what happened."""

from __future__ import annotations

import sys

import jax
import numpy as np

from rlax_lander import evaluation, plots, rundir
from rlax_lander.env.ids import LANDER_IDS, success_return


def diverged_cells(diverged_at: np.ndarray, label: str = "seed") -> list[int]:
    """Indices of the cells that went non-finite, each reported on stderr."""
    bad = [int(i) for i in np.nonzero(np.asarray(diverged_at) >= 0)[0]]
    for i in bad:
        print(f"  {label} {i} DIVERGED: a loss or parameter went non-finite by env step "
              f"{int(diverged_at[i]):,}; its params are not saved as a result", file=sys.stderr)
    return bad


def write_training(out, res, num_cells: int, good: list[int], title: str, env_id: str) -> None:
    """Params of the finite cells, metrics.csv, chunks.csv and the learning curve."""
    for i in good:
        rundir.write_params_one(out, i, jax.tree.map(lambda x, i=i: np.asarray(x[i]), res.params))
    rundir.write_metrics(out, res.episodes)
    rundir.write_chunks(out, res.chunks)
    x, curves = plots.bin_episodes(res.episodes, num_cells, res.env_steps)
    plots.plot_run_curves({"mean": curves}, x, out / rundir.CURVE_FILE, title,
                          success_return(env_id))


def timing(res, num_cells: int) -> dict:
    """This session's compile and run time and its throughput (over the work it did)."""
    steps = res.session_env_steps * num_cells
    return {"compile_s": res.compile_s, "train_s": res.train_s,
            "session_env_steps": steps,
            "env_steps_per_s": steps / res.train_s if res.train_s > 0 else None}


def _remap(report: dict, good: list[int]) -> dict:
    for row in report["per_seed"]:
        row["seed_index"] = good[row["seed_index"]]
    if "gif" in report:
        report["gif"]["seed_index"] = good[report["gif"]["seed_index"]]
    return report


def evaluate_cells(network, params, config, good: list[int], episodes: int, seed: int,
                   gif_path=None) -> dict:
    """Greedy evaluation of the finite cells (both backends for the lander)."""
    subset = jax.tree.map(lambda x: np.asarray(x)[good], params)
    if config.env_id in evaluation.TWINS:
        report = evaluation.twin_report(network, subset, config, episodes, seed, gif_path)
    else:
        report = evaluation.jax_report(network, subset, config, episodes, seed)
    return _remap(report, good)


def print_evaluation(report: dict) -> None:
    """One line per seed, the backends side by side, then the aggregates."""
    backends = [b for b in ("box2d", "gymnasium", "jax") if b in report]
    mark = report[backends[0]]["success_return"]
    mark_txt = f"success = return >= {mark:g}" if mark is not None else "no success mark"
    print(f"greedy evaluation, {report['episodes_per_seed']} episodes per seed ({mark_txt}):")
    for row in report["per_seed"]:
        parts = []
        for b in backends:
            r = row[b]
            txt = f"{b} {r['mean']:8.1f} +- {r['std']:5.1f}"
            if r.get("success_rate") is not None:
                txt += f"  success {r['success_rate']:4.0%}"
            if "landed_rate" in r:
                txt += f"  landed {r['landed_rate']:4.0%}"
            parts.append(txt)
        print(f"  seed {row['seed_index']:>3}: " + "   ".join(parts))
    for b in backends:
        s = report[b]
        solved = (f", seeds with mean >= {mark:g}: {s['seeds_solved']}/{s['num_seeds']}"
                  if mark is not None else "")
        print(f"  {b}: mean of seed means {s['mean_of_means']:.1f}{solved}")
    if "gif" in report:
        g = report["gif"]
        print(f"  {g['file']}: {g['chosen_as']}: seed {g['seed_index']}, episode "
              f"{g['episode_seed']}, return {g['return']:.1f}, {g['outcome']}")


def finish_run(plan, res, env, env_params, layout: dict) -> int:
    """Write results, evaluate the finite seeds, write summary.json; the exit code."""
    out, opts, config = plan.out, plan.opts, plan.config
    num_cells = opts.seeds
    bad = diverged_cells(res.diverged_at)
    good = [i for i in range(num_cells) if i not in bad]
    summary = {"algo": plan.algo.name, "env_id": config.env_id,
               "config_source": plan.source, "env_steps_per_seed": res.env_steps,
               "layout": {**res.layout, **layout}, "timing": timing(res, num_cells),
               "resumed_at_chunk": res.resumed_at,
               "diverged": [{"seed_index": i, "env_step": int(res.diverged_at[i])} for i in bad],
               "evaluation": None}
    write_training(out, res, num_cells, good, f"{plan.algo.name.upper()} on {config.env_id}",
                   config.env_id)
    rundir.write_json(out / rundir.SUMMARY_FILE, summary)
    t = summary["timing"]
    rate = f"{t['env_steps_per_s']:,.0f} env steps/s" if t["env_steps_per_s"] else "no new steps"
    print(f"trained in {t['train_s']:.1f}s ({rate}; compile {t['compile_s']:.1f}s); wrote "
          f"{out}/", flush=True)
    if not good:
        print(f"error: every seed diverged; nothing saved as a result (see {out}/summary.json)",
              file=sys.stderr)
        return 1
    network = plan.algo.build_network(config, env.action_space(env_params).n)
    gif = out / rundir.GIF_FILE if config.env_id in LANDER_IDS else None
    report = evaluate_cells(network, res.params, config, good, opts.eval_episodes,
                            opts.seed, gif)
    summary["evaluation"] = report
    rundir.write_json(out / rundir.SUMMARY_FILE, summary)
    print_evaluation(report)
    return 0
