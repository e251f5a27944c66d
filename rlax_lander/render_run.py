"""`render` command: watch a trained lander land.

`python -m rlax_lander render RUN_DIR --out landing.gif [--seed-index I] [--episode-seed S]
[--max-steps N] [--fps F]` loads seed I's greedy Q-network from a run dir written by `train`
(`policy.load_params`), plays one episode of the JAX LunarLander from reset key
`jax.random.key(S)` (`env.render.rollout_frames`) and writes it as a GIF, or as an MP4 when the
name ends in .mp4 (needs imageio-ffmpeg). Runs trained on other environments are refused with
a clear error: only the lander has a renderer here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FORMATS = (".gif", ".mp4")


def render_run(run_dir, out, seed_index: int = 0, episode_seed: int = 0,
               max_steps: int | None = None, fps: int = 50) -> int:
    """Render one greedy episode of seed `seed_index` of `run_dir` to `out` (.gif | .mp4);
    returns the number of frames. ValueError for a non-lander run, a bad suffix, a missing
    MP4 encoder, or a missing/corrupt run dir."""
    import jax

    from rlax_lander.env.render import rollout_frames, save_gif, save_mp4
    from rlax_lander.envs import LANDER_IDS, make_env
    from rlax_lander.policy import load_params, read_run_config

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--out {out}: unknown format {suffix!r}; allowed: {', '.join(FORMATS)}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError as err:
            raise ValueError("writing .mp4 needs the imageio-ffmpeg package "
                             "(pip install imageio-ffmpeg); or write a .gif") from err
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps={max_steps!r} is out of range; allowed: >= 1")
    config, _ = read_run_config(run_dir)
    if config.env_id not in LANDER_IDS:
        raise ValueError(f"{run_dir} was trained on {config.env_id}; render draws only the JAX "
                         f"lander ({', '.join(LANDER_IDS)})")
    network, params, _ = load_params(run_dir, seed_index)
    env, env_params = make_env(config.env_id)
    q_fn = jax.jit(network.apply)

    def policy(obs):
        return int(np.argmax(np.asarray(q_fn(params, obs))))

    frames = rollout_frames(env, env_params, policy, jax.random.key(episode_seed), max_steps)
    out.parent.mkdir(parents=True, exist_ok=True)
    (save_mp4 if suffix == ".mp4" else save_gif)(frames, out, fps=fps)
    return len(frames)


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander render`."""
    ap = argparse.ArgumentParser(prog="python -m rlax_lander render",
                                 description="Render a greedy episode of a trained lander.")
    ap.add_argument("run_dir", help="run directory written by `train` (e.g. runs/default)")
    ap.add_argument("--out", default="landing.gif", help="output file: .gif or .mp4")
    ap.add_argument("--seed-index", type=int, default=0, help="which trained seed to play")
    ap.add_argument("--episode-seed", type=int, default=0, help="PRNG seed of the episode")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="stop after this many steps (default: the env's episode limit)")
    ap.add_argument("--fps", type=int, default=50)
    args = ap.parse_args(argv)
    n = render_run(args.run_dir, args.out, args.seed_index, args.episode_seed, args.max_steps,
                   args.fps)
    print(f"wrote {args.out} ({n} frames)")
    return 0
