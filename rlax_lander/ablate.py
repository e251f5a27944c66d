"""`ablate` command: seeds x a hyperparameter grid, sharded over all devices (and hosts).

    python -m rlax_lander ablate --env CartPole-v1 --seeds 8 \
        --grid learning_rate=1e-3,3e-4 tau=0.1,1.0 --total-timesteps 100000 --out runs/NAME

Every `DQNConfig` field is a flag (as for `train`; `--preset {cartpole,course_lab}`). `--grid`
takes NAME=V1,V2,... items over the vmappable hyperparameters (`Hparams` fields); the cells are
their product times `--seeds` seeds (`parallel.make_grid`), trained in one compile by
`parallel.run_cells` and then evaluated greedily (`--eval-episodes` episodes per cell, the
same evaluation key for every cell, as in `train`).

Devices: `--devices all` (default) shards the cells over every device of every process;
`--devices K` uses the first K (one process). `--cpu-devices K` splits a CPU host into K JAX
devices (e.g. one per core). Several hosts: `--coordinator HOST:PORT --num-processes N
--process-id I` on each (HOST:PORT is process 0's), or `--distributed-auto True` under SLURM /
Open MPI / Cloud TPU; `--init-timeout` bounds the wait for the others. Only process 0 writes.

Writes to `--out`: config.json, cells.csv (one row per cell: cell, grid_index, seed_index,
every hyperparameter, final greedy return mean/std, mean return of the training episodes
that ended in the last 10% of env steps, episodes), metrics.csv (cell, env_step,
episode_return of every finished training episode), summary.json (per grid point statistics
and timing), learning_curve.png (mean over seeds per grid point), params_cells.msgpack (the
online params of every cell, leading axis = cell; flax msgpack).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from rlax_lander.dqn.config import PRESETS, DQNConfig, Hparams

HPARAM_COLUMNS = tuple(Hparams.__dataclass_fields__)  # every vmappable hyperparameter


@dataclasses.dataclass(frozen=True)
class AblateArgs:
    """Seeds x hyperparameter grid, sharded over devices/hosts; writes a run directory."""

    config: DQNConfig
    seeds: int = 8
    """Seeds per grid point (>= 1); seed i uses jax.random.split(key(seed), seeds)[i]."""
    seed: int = 0
    """Base PRNG seed."""
    grid: tuple[str, ...] = ()
    """NAME=V1,V2,... items over `Hparams` fields (learning_rate, tau, gamma, epsilon_*,
    target_update_period...); cells = product x seeds."""
    out: str = "runs/ablate"
    eval_episodes: int = 100
    devices: str = "all"
    """'all' (every device of every process) or K (the first K devices; one process)."""
    cpu_devices: int = 0
    """If > 0, split the CPU into this many JAX devices (jax_num_cpu_devices) at start-up."""
    coordinator: str | None = None
    """HOST:PORT of process 0 (multi-host); needs --num-processes and --process-id."""
    num_processes: int | None = None
    process_id: int | None = None
    distributed_auto: bool = False
    """jax.distributed.initialize() with JAX's cluster auto-detection (SLURM, MPI, TPU)."""
    init_timeout: float = 120.0
    """Seconds to wait for the coordinator / the other processes."""
    progress: bool = True


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


def check_args(args: AblateArgs) -> None:
    """Flag checks that need no JAX computation (ValueError naming the flag)."""
    from rlax_lander.parallel import check_distributed_flags

    if args.seeds < 1:
        raise ValueError(f"--seeds={args.seeds} is out of range; allowed: >= 1")
    if args.eval_episodes < 1:
        raise ValueError(f"--eval-episodes={args.eval_episodes} is out of range; allowed: >= 1")
    if args.cpu_devices < 0:
        raise ValueError(f"--cpu-devices={args.cpu_devices} is out of range; allowed: >= 0")
    if args.devices != "all" and not (args.devices.isdigit() and int(args.devices) >= 1):
        raise ValueError(f"--devices={args.devices!r} is invalid; allowed: 'all' or an int >= 1")
    if not args.init_timeout > 0:
        raise ValueError(f"--init-timeout={args.init_timeout} is out of range; allowed: > 0")
    check_distributed_flags(args.coordinator, args.num_processes, args.process_id)
    if args.distributed_auto and args.coordinator is not None:
        raise ValueError("--distributed-auto and --coordinator exclude each other")
    parse_grid(args.grid)


def parse_args(argv: list[str]) -> AblateArgs:
    """Flags as in `train` plus the grid/device/host flags above."""
    import tyro

    from rlax_lander.dqn.run import pop_preset

    preset, argv = pop_preset(argv)
    base = PRESETS[preset]()
    argv = ["--env-id" if a == "--env" else a for a in argv]
    return tyro.cli(AblateArgs, args=argv, default=AblateArgs(config=base),
                    config=(tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff),
                    prog="python -m rlax_lander ablate")


def _final_train_return(steps, returns, dones, frac: float = 0.1):
    """Mean return of episodes ending in the last `frac` of env steps, per cell [N] (NaN if
    none). steps [T]; returns, dones [N, T, n]."""
    late = steps >= steps[-1] * (1.0 - frac)
    tot = (returns[:, late] * dones[:, late]).sum((1, 2))
    cnt = dones[:, late].sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def write_run(out, args: AblateArgs, grid_spec, cells, result, eval_returns, timing) -> dict:
    """Write the run directory (process 0 only); returns the summary dict."""
    from flax import serialization

    from rlax_lander import stats
    from rlax_lander.dqn.run import learning_curve

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = args.config
    meta = {"command": "ablate", "dqn": config.to_dict(), "grid": grid_spec,
            "num_seeds": args.seeds, "seed": args.seed, "num_cells": len(cells),
            "eval_episodes": args.eval_episodes, "num_devices": timing["num_devices"],
            "num_processes": timing["num_processes"]}
    (out / "config.json").write_text(json.dumps(meta, indent=2))
    m = result.metrics
    steps = m["env_step"][0]
    greedy = eval_returns.mean(1)
    late = _final_train_return(steps, m["episode_return"], m["episode_done"])
    episodes = m["episode_done"].sum((1, 2))
    with open(out / "cells.csv", "w") as f:
        f.write("cell,grid_index,seed_index," + ",".join(HPARAM_COLUMNS)
                + ",final_greedy_return,greedy_return_std,final_train_return,episodes\n")
        for c in cells:
            i = c["cell"]
            hp = ",".join(f"{c[k]:.8g}" for k in HPARAM_COLUMNS)
            f.write(f"{i},{c['grid_index']},{c['seed_index']},{hp},{greedy[i]:.4f},"
                    f"{eval_returns[i].std():.4f},{late[i]:.4f},{int(episodes[i])}\n")
    with open(out / "metrics.csv", "w") as f:
        f.write("cell,env_step,episode_return\n")
        for i in range(len(cells)):
            t_idx, e_idx = np.nonzero(m["episode_done"][i])
            for t, e in zip(t_idx, e_idx):
                f.write(f"{i},{steps[t]},{m['episode_return'][i, t, e]:.4f}\n")
    (out / "params_cells.msgpack").write_bytes(serialization.to_bytes(result.params))

    points = []
    num_points = max(c["grid_index"] for c in cells) + 1
    x, curves = learning_curve(steps, m["episode_return"], m["episode_done"])
    for g in range(num_points):
        idx = [c["cell"] for c in cells if c["grid_index"] == g]
        values = {k: cells[idx[0]][k] for k in grid_spec}
        r = greedy[idx]
        points.append({"grid_index": g, **values, "cells": idx,
                       "greedy_return_mean": float(r.mean()),
                       "greedy_return_std": float(r.std(ddof=1)) if len(r) > 1 else 0.0,
                       "greedy_return_iqm": stats.iqm(r)})
    env_steps = len(cells) * int(steps[-1])
    summary = {"points": points, "compile_s": timing["compile_s"], "train_s": timing["run_s"],
               "env_steps": env_steps, "env_steps_per_s": env_steps / timing["run_s"],
               "num_devices": timing["num_devices"], "num_processes": timing["num_processes"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    _plot(out / "learning_curve.png", x, curves, cells, points, grid_spec, config.env_id)
    return summary


def _plot(path, x, curves, cells, points, grid_spec, env_id):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for p in points:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty bins are NaN
            mean = np.nanmean(curves[p["cells"]], 0)
        label = ", ".join(f"{k}={p[k]:g}" for k in grid_spec) or "base"
        ax.plot(x, mean, label=label)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (mean over seeds)")
    ax.set_title(f"DQN ablation on {env_id}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def start_up(argv: list[str]) -> bool:
    """Apply the start-up flags of `argv` before anything touches a JAX backend (importing
    gymnax does, and so does building a `DQNConfig`): --cpu-devices, then the multi-process
    flags (`parallel.init_distributed`). ValueError names a bad flag. Returns True if this
    process joined a multi-process run."""
    import argparse

    from rlax_lander import parallel

    def flag_bool(v: str) -> bool:
        if v.lower() not in ("true", "false"):
            raise ValueError(f"--distributed-auto={v!r}; allowed: True, False")
        return v.lower() == "true"

    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--cpu-devices", type=int, default=0)
    p.add_argument("--coordinator", default=None)
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument("--distributed-auto", type=str, default="False")
    p.add_argument("--init-timeout", type=float, default=AblateArgs.init_timeout)
    early, _ = p.parse_known_args(argv)
    auto = flag_bool(early.distributed_auto)
    parallel.check_distributed_flags(early.coordinator, early.num_processes, early.process_id)
    if auto and early.coordinator is not None:
        raise ValueError("--distributed-auto and --coordinator exclude each other")
    if early.cpu_devices < 0:
        raise ValueError(f"--cpu-devices={early.cpu_devices} is out of range; allowed: >= 0")
    if early.cpu_devices:
        import jax

        jax.config.update("jax_num_cpu_devices", int(early.cpu_devices))
    return parallel.init_distributed(early.coordinator, early.num_processes, early.process_id,
                                     auto=auto, timeout_s=early.init_timeout)


def run_ablation(args: AblateArgs) -> dict | None:
    """Train and evaluate every cell over the devices, write `args.out` on process 0.
    Returns the summary on process 0, None elsewhere. Multi-process: `start_up` (or
    `parallel.init_distributed`) must have run first, before any JAX computation."""
    import jax

    from rlax_lander import parallel

    check_args(args)
    grid_spec = parse_grid(args.grid)
    main = parallel.is_main_process()
    devices = parallel.resolve_devices(args.devices)
    grid = parallel.make_grid(args.config, grid_spec, args.seeds, args.seed)

    from rlax_lander.dqn.evaluate import make_evaluate
    from rlax_lander.dqn.train import build_network, make_train
    from rlax_lander.envs import make_env

    config = args.config
    env, env_params = make_env(config.env_id)

    def progress_fn(chunk, env_steps, mean_return):
        if main:
            print(f"  [chunk {chunk + 1:>3}] env steps {env_steps:>9,}/"
                  f"{config.total_timesteps:,}  recent return {mean_return:8.1f}", flush=True)

    train = make_train(config, env, env_params, progress=args.progress,
                       progress_fn=progress_fn)
    n = len(grid.cells)
    if main:
        print(f"ablate {config.env_id}: {n} cells ({n // args.seeds} grid points x "
              f"{args.seeds} seeds) x {config.total_timesteps:,} env steps on "
              f"{len(devices)} devices, {jax.process_count()} processes; compiling...",
              flush=True)
    timing: dict = {}
    result = parallel.run_cells(train, grid.keys, grid.hparams, devices, stats=timing)
    if main:
        print(f"trained in {timing['run_s']:.1f}s (compile {timing['compile_s']:.1f}s); "
              "evaluating", flush=True)
    network = build_network(config, env.action_space(env_params).n)
    evaluate = make_evaluate(env, env_params, network.apply, args.eval_episodes)
    eval_key = np.asarray(jax.random.key_data(jax.random.key(args.seed + 1)))
    eval_keys = jax.random.wrap_key_data(np.tile(eval_key, (n, 1)))  # as `train` evaluates
    eval_returns, _ = parallel.run_cells(evaluate, eval_keys, result.params, devices)
    if not main:
        return None
    summary = write_run(args.out, args, grid_spec, grid.cells, result, np.asarray(eval_returns),
                        timing)
    print(f"{summary['env_steps_per_s']:,.0f} env steps/s; greedy return per grid point "
          f"({args.eval_episodes} episodes per cell):")
    for p in summary["points"]:
        label = ", ".join(f"{k}={p[k]:g}" for k in grid_spec) or "base"
        print(f"  {label:<40} mean {p['greedy_return_mean']:8.1f}  "
              f"IQM {p['greedy_return_iqm']:8.1f}")
    print(f"wrote {args.out}/")
    return summary


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander ablate`. A failed multi-process start prints
    `error: ...` and returns 1 (bad flags raise ValueError: exit code 2 via the CLI)."""
    from rlax_lander.parallel import DistributedInitError

    try:
        start_up(argv)
    except DistributedInitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    run_ablation(parse_args(argv))
    return 0
