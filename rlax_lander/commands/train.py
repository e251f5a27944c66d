"""`train`: several seeds of one config in one compiled program, sharded over every core,
then greedy evaluation; writes a run directory (`rlax_lander.rundir`).

    python -m rlax_lander train --env LunarLander-v3 --seeds 8 --out runs/lander
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

from rlax_lander import algos, parallel, rundir, runner
from rlax_lander.commands import common, reports
from rlax_lander.env.registry import make

DESCRIPTION = """\
Train an agent over several seeds (vmapped, one compile, sharded over the CPU cores or
accelerators), evaluate every seed's greedy policy and write a run directory.

Config: --env X starts from X's default (a tuned preset for CartPole-v1 and LunarLander-v3,
generic defaults otherwise); --preset NAME starts from a named config instead (it must be tuned
for --env when both are given); any config-field flag then overrides single values.
Presets (dqn): cartpole (CartPole-v1), lunar_lander (LunarLander-v3), course_lab (the course
lab's DQN on LunarLander-v3).

Ctrl-C or SIGTERM stops after the current chunk and saves a checkpoint; --resume RUN_DIR goes on.
"""


@dataclasses.dataclass
class TrainPlan:
    """A validated train invocation: what to run and where (nothing touched yet)."""

    algo: algos.Algorithm
    config: object
    source: str
    opts: object
    out: Path
    resume: bool
    meta: dict


def build_parser(prog: str = "python -m rlax_lander train", default_out: str = "runs/default"):
    parser = common.Parser(prog=prog, description=DESCRIPTION)
    common.add_run_flags(parser, default_out)
    common.add_config_flags(parser, [a.config_type for a in algos.ALGORITHMS.values()])
    return parser


def _resume_plan(opts, overrides: dict, argv: list[str]) -> TrainPlan:
    given = [a.split("=")[0] for a in argv if a.startswith("--")]
    allowed = {"--resume", "--checkpoint-every", "--tensorboard", "--wandb-project",
               "--cpu-devices", "--devices", "--progress", "--max-memory-gb", "--out"}
    rejected = sorted(set(given) - allowed)
    if rejected:
        raise ValueError(f"{', '.join(rejected)} cannot change a resumed run (its config.json "
                         "decides); resume with only --resume RUN_DIR and run flags")
    out = Path(opts.resume)
    if "--out" in given and Path(opts.out) != out:
        raise ValueError(f"--out {opts.out} differs from --resume {opts.resume}; a run resumes "
                         "in its own directory")
    rundir.check(out, resume=True)
    rundir.remove_orphan_temps(out)
    config, meta = rundir.read_config(out)
    opts.seeds, opts.seed = int(meta["num_seeds"]), int(meta["seed"])
    opts.eval_episodes = int(meta.get("eval_episodes", opts.eval_episodes))
    if "--checkpoint-every" not in given:
        opts.checkpoint_every = int(meta.get("checkpoint_every", 0))
    return TrainPlan(algo=algos.algo_of(config), config=config, source="resumed run",
                     opts=opts, out=out, resume=True, meta=meta)


def plan(argv: list[str]) -> TrainPlan:
    """Parse and check every flag, and the run directory, before anything is compiled."""
    parser = build_parser()
    opts = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(opts).items()
                 if k not in common.RUN_FLAGS + ("algo", "env", "preset", "resume")}
    common.check_run_options(opts)
    if opts.resume is not None:
        return _resume_plan(opts, overrides, argv)
    algo = algos.get(opts.algo)
    config, source = common.resolve_config(algo, opts.env, opts.preset, overrides)
    out = Path(opts.out)
    rundir.check(out, overwrite=opts.overwrite)
    meta = {"algo": algo.name, "config": config.to_dict(), "config_source": source,
            "num_seeds": opts.seeds, "seed": opts.seed, "eval_episodes": opts.eval_episodes,
            "checkpoint_every": opts.checkpoint_every,
            "command": "python -m rlax_lander train " + shlex.join(argv)}
    return TrainPlan(algo=algo, config=config, source=source, opts=opts, out=out,
                     resume=False, meta=meta)


def train(p: TrainPlan) -> int:
    """Run a planned training; returns the exit code."""
    opts, config = p.opts, p.config
    common.start_up(opts.cpu_devices)
    devices = parallel.resolve_devices(opts.devices)
    env, env_params = make(config.env_id)
    stages = p.algo.make_stages(config, env, env_params)
    keys = parallel.seed_keys(opts.seed, opts.seeds)
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (opts.seeds,)), config.hparams())
    common.check_memory(runner.estimate_bytes(stages, keys, hp), opts.max_memory_gb)
    layout = {"devices": len(devices), "platform": devices[0].platform,
              "cpu_devices_flag": opts.cpu_devices}
    if not p.resume:
        rundir.create(p.out, overwrite=opts.overwrite)
        rundir.write_config(p.out, {**p.meta, "layout": layout})
    print(f"{'resuming' if p.resume else 'training'} {p.algo.name} on {config.env_id} "
          f"({p.source}): {opts.seeds} seeds x {config.total_timesteps:,} env steps, sharded "
          f"over {len(devices)} {devices[0].platform} device(s)\n{common.format_config(config)}",
          flush=True)
    res, stop = common.run_cells_with_reporting(
        stages, keys, hp, devices=devices, out=p.out, opts=opts,
        total_env_steps=config.total_timesteps, resume=p.resume, log_meta=p.meta,
        checkpoint_meta={"algo": p.algo.name, "config": config.to_dict(),
                         "num_seeds": opts.seeds, "seed": opts.seed})
    if res.stopped_at is not None:
        print(f"stopped after chunk {res.stopped_at}/{stages.num_chunks}; the training state is "
              f"in {p.out / rundir.CHECKPOINT_FILE}; continue with: python -m rlax_lander train "
              f"--resume {p.out}", file=sys.stderr)
        return stop.exit_code
    return reports.finish_run(p, res, env, env_params, layout)


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander train`."""
    return train(plan(argv))
