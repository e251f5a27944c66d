"""`ablate`: seeds x a hyperparameter grid in one compiled program, sharded over every device,
with the same run flags as `train` (checkpoints, resume, TensorBoard, --overwrite).

    python -m rlax_lander ablate --env CartPole-v1 --seeds 8 \\
        --grid learning_rate=1e-3,3e-4 tau=0.1,1.0 --total-timesteps 100000 --out runs/NAME

`--grid` takes NAME=V1,V2,... items over the algorithm's vmappable hyperparameters; the cells
are their product times `--seeds` seeds (`parallel.make_grid`), then every cell's greedy policy
is evaluated in the JAX env. Several hosts: `--coordinator HOST:PORT --num-processes N
--process-id I` on each, or `--distributed-auto`; only process 0 writes.

Writes: config.json, cells.csv (one row per cell: grid point, seed, hyperparameters, greedy
return, late training return), metrics.csv and chunks.csv (seed column = cell), summary.json
(per grid point IQM and mean), learning_curve.png (one curve per grid point) and one params
file per cell (`load_policy(out, seed_index=cell)`).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import jax
import numpy as np

from rlax_lander import algos, parallel, plots, rundir, runner, stats
from rlax_lander.commands import common, reports
from rlax_lander.commands import train as train_command
from rlax_lander.env.ids import success_return
from rlax_lander.env.registry import make


def parse_grid(items) -> dict[str, list[float]]:
    """['learning_rate=1e-3,3e-4', ...] -> {'learning_rate': [0.001, 0.0003]} (ValueError
    naming --grid on a malformed item or a repeated name)."""
    grid: dict[str, list[float]] = {}
    for item in items:
        name, sep, values = str(item).partition("=")
        name = name.strip().replace("-", "_")
        try:
            parsed = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            parsed = []
        if not sep or not name or not parsed:
            raise ValueError(f"--grid item {item!r} is malformed; expected NAME=V1,V2,... "
                             "(e.g. learning_rate=1e-3,3e-4)")
        if name in grid:
            raise ValueError(f"--grid names {name!r} twice")
        grid[name] = parsed
    return grid


def build_parser():
    parser = train_command.build_parser("python -m rlax_lander ablate", "runs/ablate")
    parser.description = __doc__ + "\n" + train_command.DESCRIPTION
    parser.add_argument("--grid", nargs="*", default=[], metavar="NAME=V1,V2",
                        help="hyperparameter values to cross (vmappable fields only)")
    dist = parser.add_argument_group("several processes")
    dist.add_argument("--coordinator", default=None, help="HOST:PORT of process 0")
    dist.add_argument("--num-processes", type=int, default=None)
    dist.add_argument("--process-id", type=int, default=None)
    dist.add_argument("--distributed-auto", action="store_true",
                      help="jax.distributed.initialize() with cluster auto-detection")
    dist.add_argument("--init-timeout", type=float, default=120.0,
                      help="seconds to wait for the other processes")
    return parser


def late_train_return(episodes: dict, num_cells: int, total_env_steps: int,
                      frac: float = 0.1) -> np.ndarray:
    """Mean return of each cell's training episodes that ended in the last `frac` of the run
    [C] (NaN where none did)."""
    late = episodes["env_step"] >= total_env_steps * (1.0 - frac)
    tot = np.bincount(episodes["seed"][late], episodes["return"][late], minlength=num_cells)
    cnt = np.bincount(episodes["seed"][late], minlength=num_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def write_cells(out: Path, cells, columns, greedy, late, episodes_per_cell) -> None:
    lines = ["cell,grid_index,seed_index," + ",".join(columns)
             + ",greedy_return,final_train_return,episodes"]
    for c in cells:
        i = c["cell"]
        hp = ",".join(f"{c[k]:.8g}" for k in columns)
        lines.append(f"{i},{c['grid_index']},{c['seed_index']},{hp},{greedy[i]:.4f},"
                     f"{late[i]:.4f},{int(episodes_per_cell[i])}")
    rundir.write_bytes(out / "cells.csv", ("\n".join(lines) + "\n").encode())


def grid_points(cells, grid_spec, greedy) -> list[dict]:
    points = []
    for g in range(max(c["grid_index"] for c in cells) + 1):
        idx = [c["cell"] for c in cells if c["grid_index"] == g]
        r = greedy[idx]
        r = r[np.isfinite(r)]
        points.append({"grid_index": g, **{k: cells[idx[0]][k] for k in grid_spec},
                       "cells": idx,
                       "greedy_return_mean": float(r.mean()) if r.size else None,
                       "greedy_return_iqm": stats.iqm(r) if r.size else None})
    return points


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander ablate`."""
    opts = build_parser().parse_args(argv)
    common.check_run_options(opts)
    dist_flags = ("coordinator", "num_processes", "process_id", "timeout_s", "auto")
    try:
        parallel.check_distributed_flags(opts.coordinator, opts.num_processes, opts.process_id)
    except ValueError as err:
        raise common.with_flags(err, dist_flags) from None
    if opts.distributed_auto and opts.coordinator is not None:
        raise ValueError("--distributed-auto and --coordinator exclude each other")
    grid_spec = parse_grid(opts.grid)
    resume = opts.resume is not None
    if resume:
        config, meta = rundir.read_config(opts.resume)
        grid_spec, opts.seeds, opts.seed = meta["grid"], meta["num_seeds"], meta["seed"]
        out, algo, source = Path(opts.resume), algos.algo_of(config), "resumed run"
        rundir.check(out, resume=True)
        rundir.remove_orphan_temps(out)
    else:
        overrides = {k: v for k, v in vars(opts).items() if k not in common.RUN_FLAGS + (
            "algo", "env", "preset", "resume", "grid", "coordinator", "num_processes",
            "process_id", "distributed_auto", "init_timeout")}
        algo = algos.get(opts.algo)
        config, source = common.resolve_config(algo, opts.env, opts.preset, overrides)
        out = Path(opts.out)
        parallel.make_grid(config, grid_spec, opts.seeds, opts.seed)  # validates the grid
        rundir.check(out, overwrite=opts.overwrite)
    common.start_up(opts.cpu_devices)
    main_process = parallel.is_main_process()
    devices = parallel.resolve_devices(opts.devices)
    grid = parallel.make_grid(config, grid_spec, opts.seeds, opts.seed)
    n = len(grid.cells)
    env, env_params = make(config.env_id)
    stages = algo.make_stages(config, env, env_params)
    common.check_memory(runner.estimate_bytes(stages, grid.keys, grid.hparams),
                        opts.max_memory_gb)
    meta = {"algo": algo.name, "config": config.to_dict(), "config_source": source,
            "grid": grid_spec, "num_seeds": opts.seeds, "num_cells": n, "seed": opts.seed,
            "eval_episodes": opts.eval_episodes, "command": "python -m rlax_lander ablate "
            + shlex.join(argv), "layout": {"devices": len(devices), "processes":
                                           jax.process_count()}}
    if main_process and not resume:
        rundir.create(out, overwrite=opts.overwrite)
        rundir.write_config(out, meta)
    if main_process:
        print(f"ablate {algo.name} on {config.env_id} ({source}): {n} cells "
              f"({n // opts.seeds} grid points x {opts.seeds} seeds) x "
              f"{config.total_timesteps:,} env steps on {len(devices)} device(s)\n"
              f"{common.format_config(config)}", flush=True)
    res, stop = common.run_cells_with_reporting(
        stages, grid.keys, grid.hparams, devices=devices, out=out, opts=opts,
        total_env_steps=config.total_timesteps, resume=resume, log_meta=meta, label="cells",
        main_process=main_process,
        checkpoint_meta={k: meta[k] for k in ("algo", "config", "grid", "num_seeds", "seed")})
    if not main_process:
        return 0
    if res.stopped_at is not None:
        print(f"stopped after chunk {res.stopped_at}; continue with: python -m rlax_lander "
              f"ablate --resume {out}", file=sys.stderr)
        return stop.exit_code
    bad = reports.diverged_cells(res.diverged_at, "cell")
    good = [i for i in range(n) if i not in bad]
    x, curves = plots.bin_episodes(res.episodes, n, res.env_steps)
    groups = {}
    for c in grid.cells:
        label = ", ".join(f"{k}={c[k]:g}" for k in grid_spec) or "base"
        groups.setdefault(label, []).append(curves[c["cell"]])
    for i in good:
        rundir.write_params_one(out, i, jax.tree.map(lambda x, i=i: np.asarray(x[i]),
                                                     res.params))
    rundir.write_metrics(out, res.episodes)
    rundir.write_chunks(out, res.chunks)
    plots.plot_run_curves({k: np.stack(v) for k, v in groups.items()}, x,
                          out / rundir.CURVE_FILE, f"{algo.name.upper()} ablation on "
                          f"{config.env_id}", success_return(config.env_id))
    greedy = np.full(n, np.nan)
    if good:
        network = algo.build_network(config, env.action_space(env_params).n)
        report = reports.evaluate_cells(network, res.params, config, good, opts.eval_episodes,
                                        opts.seed)
        for row in report["per_seed"]:
            greedy[row["seed_index"]] = row["jax"]["mean"]
    columns = list(type(config.hparams()).__dataclass_fields__)
    late = late_train_return(res.episodes, n, res.env_steps)
    write_cells(out, grid.cells, columns, greedy, late, res.chunks["episodes"].sum(1))
    points = grid_points(grid.cells, grid_spec, greedy)
    summary = {"algo": algo.name, "env_id": config.env_id, "points": points,
               "layout": res.layout, "timing": reports.timing(res, n),
               "diverged": [{"cell": i, "env_step": int(res.diverged_at[i])} for i in bad]}
    rundir.write_json(out / rundir.SUMMARY_FILE, summary)
    print(f"greedy JAX-env return per grid point ({opts.eval_episodes} episodes per cell):")
    for p in points:
        label = ", ".join(f"{k}={p[k]:g}" for k in grid_spec) or "base"
        mean = "n/a" if p["greedy_return_mean"] is None else f"{p['greedy_return_mean']:8.1f}"
        iqm = "n/a" if p["greedy_return_iqm"] is None else f"{p['greedy_return_iqm']:8.1f}"
        print(f"  {label:<40} mean {mean}  IQM {iqm}")
    print(f"wrote {out}/")
    if not good:
        print("error: every cell diverged; nothing saved as a result", file=sys.stderr)
        return 1
    return 0
