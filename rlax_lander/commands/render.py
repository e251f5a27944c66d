"""`render`: one greedy episode of a trained lander as a GIF (or MP4).

    python -m rlax_lander render RUN_DIR --out landing.gif [--seed-index I] [--episode-seed S]
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from rlax_lander import rundir
from rlax_lander.commands.common import Parser
from rlax_lander.env.ids import LANDER_IDS
from rlax_lander.env.registry import make
from rlax_lander.env.render import rollout_frames, save_gif, save_mp4
from rlax_lander.policy import load_params

FORMATS = (".gif", ".mp4")


def parse_args(argv: list[str]):
    ap = Parser(prog="python -m rlax_lander render",
                description="Render one greedy episode of a trained lander (episode "
                            "--episode-seed of seed --seed-index: chosen by you, not for its "
                            "outcome) and print its return and outcome.")
    ap.add_argument("run_dir", help="run directory written by `train` (e.g. runs/lander)")
    ap.add_argument("--out", default="landing.gif", help="output file: .gif or .mp4")
    ap.add_argument("--seed-index", type=int, default=0, help="which trained seed to play")
    ap.add_argument("--episode-seed", type=int, default=0, help="PRNG seed of the episode")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="stop after this many steps (default: the env's episode limit)")
    ap.add_argument("--fps", type=int, default=50)
    args = ap.parse_args(argv)
    suffix = Path(args.out).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--out {args.out}: unknown format {suffix!r}; allowed: "
                         f"{', '.join(FORMATS)}")
    if args.fps < 1:
        raise ValueError(f"--fps={args.fps} is out of range; allowed: >= 1")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps={args.max_steps} is out of range; allowed: >= 1")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401  (optional: only MP4 output needs it)
        except ImportError as err:
            raise ValueError("writing .mp4 needs the imageio-ffmpeg package "
                             "(pip install imageio-ffmpeg); or write a .gif") from err
    return args


def episode_outcome(env, env_params, policy, key, max_steps):
    """(return, steps, outcome) of the episode `rollout_frames` draws for the same key."""
    step = jax.jit(env.step_env)
    key, k_reset = jax.random.split(key)  # the order `rollout_frames` splits in
    obs, state = jax.jit(env.reset_env)(k_reset, env_params)
    total, reward = 0.0, 0.0
    limit = max_steps or int(env_params.max_steps_in_episode)
    for t in range(1, limit + 1):
        key, k = jax.random.split(key)
        obs, state, reward, terminated, _ = step(k, state, policy(obs), env_params)
        total += float(reward)
        if bool(terminated):
            return total, t, "landed" if float(reward) >= 100 else "crashed or flew off"
    return total, limit, "stopped at the step limit"


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander render`."""
    args = parse_args(argv)
    config, _ = rundir.read_config(args.run_dir)
    if config.env_id not in LANDER_IDS:
        raise ValueError(f"{args.run_dir} was trained on {config.env_id}; render draws only the "
                         f"JAX lander ({', '.join(LANDER_IDS)})")
    network, params, _ = load_params(args.run_dir, args.seed_index)
    env, env_params = make(config.env_id)
    q_fn = jax.jit(network.apply)

    def policy(obs):
        return int(np.argmax(np.asarray(q_fn(params, obs))))

    key = jax.random.key(args.episode_seed)
    frames = rollout_frames(env, env_params, policy, key, args.max_steps)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        (save_mp4 if out.suffix.lower() == ".mp4" else save_gif)(frames, out, fps=args.fps)
    except OSError as err:
        raise ValueError(f"cannot write {out}: {err.strerror or err}") from None
    total, steps, outcome = episode_outcome(env, env_params, policy, key, args.max_steps)
    print(f"wrote {out} ({len(frames)} frames): seed {args.seed_index}, episode seed "
          f"{args.episode_seed}, return {total:.1f} over {steps} steps, {outcome}")
    return 0
