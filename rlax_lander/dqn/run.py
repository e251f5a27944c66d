"""`train` command: train a config over S seeds in one compiled call and write `runs/<name>/`.

Writes config.json, metrics.csv (seed, env_step, episode_return per finished episode),
learning_curve.png (mean over seeds with a 95% t-band), params_seed{i}.msgpack, eval.json;
prints a greedy-evaluation summary per seed. `--checkpoint-every K` also keeps
checkpoint.msgpack (the full training state, every K chunks); `--resume DIR` continues it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from rlax_lander.dqn.config import PRESETS, DQNConfig
from rlax_lander.policy import CONFIG_FILE, params_file


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    """Train DQN over several seeds (vmapped, one compile) and write a run directory."""

    config: DQNConfig
    seeds: int = 8
    """Number of seeds (>= 1), trained together under jax.vmap."""
    seed: int = 0
    """Base PRNG seed; seed i uses jax.random.split(key(seed), seeds)[i]."""
    out: str = "runs/default"
    eval_episodes: int = 100
    progress: bool = True
    checkpoint_every: int = 0
    """Save the full training state to OUT/checkpoint.msgpack every this many chunks (a run
    has 20 chunks, one progress line each); 0 = no checkpoints."""
    resume: str | None = None
    """Continue the run dir RESUME from its checkpoint (its config is the default)."""
    overwrite: bool = False
    """Allow writing into a non-empty --out directory (its old checkpoint is deleted)."""
    tensorboard: bool = False
    """Also write TensorBoard events to OUT/tensorboard (needs the 'log' extra)."""
    wandb_project: str | None = None
    """Also log to this Weights & Biases project (needs wandb; off by default)."""

    def __post_init__(self):
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds!r} is out of range; allowed: >= 1")
        if self.eval_episodes < 1:
            raise ValueError(f"eval_episodes={self.eval_episodes!r} is out of range; "
                             "allowed: >= 1")


def seed_keys(seed: int, num_seeds: int):
    """[num_seeds] keys; key i is what a single run with seed index i uses."""
    import jax

    return jax.random.split(jax.random.key(seed), num_seeds)


def learning_curve(steps, returns, dones, num_bins: int = 50):
    """Binned mean episode return per seed: (bin centres [B], curves [S, B]) (NaN if empty).
    steps [T] env steps; returns, dones [S, T, n]."""
    edges = np.linspace(0, steps[-1], num_bins + 1)
    idx = np.clip(np.searchsorted(edges, steps, side="left") - 1, 0, num_bins - 1)
    s = returns.sum(-1)
    c = dones.sum(-1)
    tot = np.stack([np.bincount(idx, w, num_bins) for w in s])
    cnt = np.stack([np.bincount(idx, w, num_bins) for w in c])
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * (edges[1:] + edges[:-1]), tot / cnt


def write_plot(path, x, curves, title):
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty bins are NaN
        mean = np.nanmean(curves, 0)
        n = np.sum(~np.isnan(curves), 0)
        sem = np.nanstd(curves, 0, ddof=1) / np.sqrt(np.maximum(n, 1)) if len(curves) > 1 else 0
    half = 1.96 * sem
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, mean, label=f"mean of {len(curves)} seeds")
    ax.fill_between(x, mean - half, mean + half, alpha=0.3, label="95% CI")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def check_run_dir(out, resume: bool = False, overwrite: bool = False) -> None:
    """Refuse to start a fresh run in a non-empty `out` unless `overwrite` (which deletes the
    old checkpoint); `resume` needs `out` to exist."""
    from rlax_lander.dqn.resumable import CHECKPOINT_FILE

    out = Path(out)
    if resume:
        if not out.is_dir():
            raise ValueError(f"cannot resume {out}: no such run directory")
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"--out {out} is not empty (a previous run?); pass --resume {out} "
                             "to continue its checkpoint or --overwrite to replace it")
        (out / CHECKPOINT_FILE).unlink(missing_ok=True)


def run_training(config: DQNConfig, seeds: int, out, seed: int = 0, eval_episodes: int = 100,
                 progress: bool = True, *, checkpoint_every: int = 0, resume: bool = False,
                 overwrite: bool = True, tensorboard: bool = False,
                 wandb_project: str | None = None) -> dict:
    """Train `seeds` seeds of `config`, write the run dir `out`, return the summary dict.

    checkpoint_every: chunks between checkpoints (`out/checkpoint.msgpack`; 0 = none);
    resume: continue from that checkpoint (bit-identical on CPU to an uninterrupted run);
    overwrite: if False, a non-empty `out` raises ValueError (the CLI's default);
    tensorboard / wandb_project: optional metric sinks (`rlax_lander.loggers`)."""
    import jax
    from flax import serialization

    from rlax_lander.dqn.evaluate import make_evaluate
    from rlax_lander.dqn.resumable import learning_curve_from_episodes, train_segmented
    from rlax_lander.dqn.train import build_network
    from rlax_lander.envs import make_env
    from rlax_lander.loggers import make_loggers

    out = Path(out)
    check_run_dir(out, resume, overwrite)
    env, env_params = make_env(config.env_id)
    meta = {"dqn": config.to_dict(), "num_seeds": seeds, "seed": seed,
            "eval_episodes": eval_episodes}
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    loggers = make_loggers(out, tensorboard, wandb_project, run_name=out.name,
                           config={**meta, "checkpoint_every": checkpoint_every})
    print(f"training {config.env_id}: {seeds} seeds x {config.total_timesteps:,} env steps; "
          "compiling...", flush=True)
    try:
        res = train_segmented(config, seeds, seed, out, checkpoint_every=checkpoint_every,
                              resume=resume, progress=progress, loggers=loggers,
                              extra_meta={"eval_episodes": eval_episodes,
                                          "checkpoint_every": checkpoint_every})
    finally:
        for lg in loggers:
            lg.close()
    network = build_network(config, env.action_space(env_params).n)
    report = None
    if config.env_id == "LunarLander-v3":  # JAX + Box2D greedy eval, summary.json, GIF
        from rlax_lander.evaluation import write_lander_report

        report = write_lander_report(out, network, res.params, config, eval_episodes, seed,
                                     timing={"compile": res.compile_s, "train": res.train_s})
        eval_returns = np.array([[row["jax"]["mean"]] for row in report["per_seed"]])
    else:
        evaluate = jax.jit(jax.vmap(make_evaluate(env, env_params, network.apply,
                                                  eval_episodes), in_axes=(None, 0)))
        eval_returns, _ = evaluate(jax.random.key(seed + 1), res.params)
        eval_returns = np.asarray(eval_returns)

    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    for i in range(seeds):
        p_i = jax.tree.map(lambda x: np.asarray(x[i]), res.params)
        (out / params_file(i)).write_bytes(serialization.to_bytes(p_i))
    ep = res.episodes
    with open(out / "metrics.csv", "w") as f:
        f.write("seed,env_step,episode_return\n")
        for i, t, r in zip(ep["seed"], ep["env_step"], ep["return"]):
            f.write(f"{i},{t},{r:.4f}\n")
    x, curves = learning_curve_from_episodes(ep, seeds, res.env_steps)
    write_plot(out / "learning_curve.png", x, curves, f"DQN on {config.env_id}")
    summary = {
        "compile_s": res.compile_s, "train_s": res.train_s,
        "env_steps_per_s": seeds * res.env_steps / max(res.train_s, 1e-9),
        "eval_mean_return_per_seed": eval_returns.mean(1).tolist(),
    }
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"trained in {res.train_s:.1f}s ({summary['env_steps_per_s']:,.0f} env steps/s); "
          f"greedy eval over {eval_episodes} episodes per seed:")
    for i, r in enumerate(summary["eval_mean_return_per_seed"]):
        print(f"  seed {i}: {r:8.1f}")
    print(f"  mean {np.mean(summary['eval_mean_return_per_seed']):.1f}; wrote {out}/")
    if report is not None:
        from rlax_lander.evaluation import print_report

        print_report(report)
        summary["lander_report"] = report
    return summary


def pop_preset(argv: list[str], default: str = "cartpole") -> tuple[str, list[str]]:
    """Takes `--preset NAME` out of `argv`; returns the preset name and the remaining flags."""
    argv = list(argv)
    if "--preset" not in argv:
        return default, argv
    i = argv.index("--preset")
    if i + 1 >= len(argv) or argv[i + 1] not in PRESETS:
        raise ValueError(f"--preset must be one of {sorted(PRESETS)}")
    preset = argv[i + 1]
    del argv[i:i + 2]
    return preset, argv


def parse_args(argv: list[str]) -> TrainArgs:
    """Flags map onto DQNConfig fields (`--total-timesteps`, `--num-envs`, ...);
    `--preset {cartpole,course_lab}` picks the defaults (cartpole if omitted)."""
    import tyro

    preset, argv = pop_preset(argv)
    env_flag = [a for a in argv if a.startswith("--env")]
    if preset == "course_lab" and not env_flag:
        base = DQNConfig.course_lab()
    else:
        base = PRESETS[preset]()
    # `--env X` is a short alias of `--env-id X`
    argv = ["--env-id" if a == "--env" else a for a in argv]
    argv = _bare_bool_flags(argv, ("--overwrite", "--tensorboard"))
    default = TrainArgs(config=base)
    if "--resume" in argv:
        i = argv.index("--resume")
        if i + 1 >= len(argv):
            raise ValueError("--resume needs a run directory")
        default = resume_defaults(argv[i + 1])
    return tyro.cli(TrainArgs, args=argv, default=default,
                    config=(tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff),
                    prog="python -m rlax_lander train")


def _bare_bool_flags(argv: list[str], flags) -> list[str]:
    """`--flag` alone means `--flag True` (the other flags take explicit values)."""
    out = []
    for i, a in enumerate(argv):
        out.append(a)
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if a in flags and nxt not in ("True", "False", "true", "false"):
            out.append("True")
    return out


def resume_defaults(run_dir) -> TrainArgs:
    """TrainArgs of the run whose checkpoint is in `run_dir` (what `--resume` starts from);
    ValueError if the checkpoint is missing or unreadable."""
    from rlax_lander import checkpoint
    from rlax_lander.dqn.resumable import CHECKPOINT_FILE

    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"cannot resume {run_dir}: {path} is missing (was the run started "
                         "with --checkpoint-every?)")
    meta = checkpoint.read_meta(path)
    try:
        run = meta.get("run", {})
        return TrainArgs(config=DQNConfig.from_dict(meta["config"]), seeds=int(meta["num_seeds"]),
                         seed=int(meta["seed"]), out=str(run_dir),
                         eval_episodes=int(run.get("eval_episodes", 100)),
                         checkpoint_every=int(run.get("checkpoint_every", 0)),
                         resume=str(run_dir))
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"checkpoint {path} is corrupt: {err!r}") from err


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander train`."""
    args = parse_args(argv)
    run_training(args.config, args.seeds, args.resume or args.out, args.seed,
                 args.eval_episodes, args.progress, checkpoint_every=args.checkpoint_every,
                 resume=args.resume is not None, overwrite=args.overwrite,
                 tensorboard=args.tensorboard, wandb_project=args.wandb_project)
    return 0
