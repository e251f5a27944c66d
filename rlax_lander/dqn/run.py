"""`train` command: train a config over S seeds in one compiled call and write `runs/<name>/`.

Writes config.json, metrics.csv (seed, env_step, episode_return per finished episode),
learning_curve.png (mean over seeds with a 95% t-band), params_seed{i}.msgpack, eval.json;
prints a greedy-evaluation summary per seed.
"""

from __future__ import annotations

import dataclasses
import json
import time
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
    import matplotlib.pyplot as plt

    import warnings

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


def run_training(config: DQNConfig, seeds: int, out, seed: int = 0, eval_episodes: int = 100,
                 progress: bool = True) -> dict:
    """Train `seeds` seeds of `config`, write the run dir `out`, return the summary dict."""
    import jax
    import jax.numpy as jnp
    from flax import serialization

    from rlax_lander.dqn.evaluate import make_evaluate
    from rlax_lander.dqn.train import build_network, make_train
    from rlax_lander.envs import make_env

    out = Path(out)
    env, env_params = make_env(config.env_id)
    train = make_train(config, env, env_params, progress=progress)
    keys = seed_keys(seed, seeds)
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), config.hparams())
    print(f"training {config.env_id}: {seeds} seeds x {config.total_timesteps:,} env steps; "
          "compiling...", flush=True)
    t0 = time.time()
    compiled = jax.jit(jax.vmap(train)).lower(keys, hp).compile()
    t1 = time.time()
    print(f"compiled in {t1 - t0:.1f}s; running", flush=True)
    result = jax.block_until_ready(compiled(keys, hp))
    t2 = time.time()
    network = build_network(config, env.action_space(env_params).n)
    evaluate = jax.jit(jax.vmap(make_evaluate(env, env_params, network.apply, eval_episodes),
                                in_axes=(None, 0)))
    eval_returns, _ = evaluate(jax.random.key(seed + 1), result.params)
    eval_returns = np.asarray(eval_returns)

    out.mkdir(parents=True, exist_ok=True)
    meta = {"dqn": config.to_dict(), "num_seeds": seeds, "seed": seed,
            "eval_episodes": eval_episodes}
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    for i in range(seeds):
        p_i = jax.tree.map(lambda x: np.asarray(x[i]), result.params)
        (out / params_file(i)).write_bytes(serialization.to_bytes(p_i))
    m = jax.tree.map(np.asarray, result.metrics)
    steps = m["env_step"][0]
    with open(out / "metrics.csv", "w") as f:
        f.write("seed,env_step,episode_return\n")
        for i in range(seeds):
            t_idx, e_idx = np.nonzero(m["episode_done"][i])
            for t, e in zip(t_idx, e_idx):
                f.write(f"{i},{steps[t]},{m['episode_return'][i, t, e]:.4f}\n")
    x, curves = learning_curve(steps, m["episode_return"], m["episode_done"])
    write_plot(out / "learning_curve.png", x, curves, f"DQN on {config.env_id}")
    summary = {
        "compile_s": t1 - t0, "train_s": t2 - t1,
        "env_steps_per_s": seeds * int(steps[-1]) / (t2 - t1),
        "eval_mean_return_per_seed": eval_returns.mean(1).tolist(),
    }
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"trained in {t2 - t1:.1f}s ({summary['env_steps_per_s']:,.0f} env steps/s); "
          f"greedy eval over {eval_episodes} episodes per seed:")
    for i, r in enumerate(summary["eval_mean_return_per_seed"]):
        print(f"  seed {i}: {r:8.1f}")
    print(f"  mean {np.mean(summary['eval_mean_return_per_seed']):.1f}; wrote {out}/")
    return summary


def parse_args(argv: list[str]) -> TrainArgs:
    """Flags map onto DQNConfig fields (`--total-timesteps`, `--num-envs`, ...);
    `--preset {cartpole,course_lab}` picks the defaults (cartpole if omitted)."""
    import tyro

    argv = list(argv)
    preset = "cartpole"
    if "--preset" in argv:
        i = argv.index("--preset")
        if i + 1 >= len(argv) or argv[i + 1] not in PRESETS:
            raise ValueError(f"--preset must be one of {sorted(PRESETS)}")
        preset = argv[i + 1]
        del argv[i:i + 2]
    env_flag = [a for a in argv if a.startswith("--env")]
    if preset == "course_lab" and not env_flag:
        base = DQNConfig.course_lab()
    else:
        base = PRESETS[preset]()
    # `--env X` is a short alias of `--env-id X`
    argv = ["--env-id" if a == "--env" else a for a in argv]
    default = TrainArgs(config=base)
    return tyro.cli(TrainArgs, args=argv, default=default,
                    config=(tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff),
                    prog="python -m rlax_lander train")


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander train`."""
    args = parse_args(argv)
    run_training(args.config, args.seeds, args.out, args.seed, args.eval_episodes,
                 args.progress)
    return 0
