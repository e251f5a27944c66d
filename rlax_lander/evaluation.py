"""Greedy evaluation of a run directory's seeds in the JAX env or in Gymnasium's Box2D env.

`python -m rlax_lander evaluate RUN_DIR --backend jax|box2d --episodes N --seed S [--json]`
prints a per-seed table (or JSON). `write_lander_report` is what `train` calls for
LunarLander-v3 runs: both backends, `summary.json`, and a GIF of one greedy landing.

Statistics per seed (`seed_stats`): mean and std (ddof 0) of the undiscounted returns,
`success_rate` = fraction of episodes with return >= `SUCCESS_RETURN` (200, the env's
"solved" bar). Episode seeding: JAX episode k of a call uses
`jax.random.split(jax.random.key(seed), 2)` then one key per episode (`make_evaluate`);
Box2D episode k uses `reset(seed=seed + k)`, as `interop.box2d.evaluate_box2d` does (`box2d_paired`
steps all seeds x episodes in lockstep with one batched Q-network call per step). The two
backends therefore see different start states; with 100 episodes each the means are
comparable within their standard errors.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SUCCESS_RETURN = 200.0
BACKENDS = ("jax", "box2d")
SUMMARY_FILE = "summary.json"
GIF_FILE = "greedy_landing.gif"


def seed_stats(returns) -> list[dict]:
    """returns [S, E] -> per seed {"mean", "std", "success_rate", "episodes"} (floats)."""
    r = np.asarray(returns, np.float64)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"returns must be [seeds, episodes] with episodes >= 1, got {r.shape}")
    return [{"mean": float(x.mean()), "std": float(x.std()),
             "success_rate": float(np.mean(x >= SUCCESS_RETURN)), "episodes": int(x.size)}
            for x in r]


def stack_params(params_list):
    """Stack per-seed param pytrees along a new leading axis [S, ...]."""
    import jax

    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *params_list)


def load_run(run_dir):
    """(network, stacked params [S, ...], config, meta) of every seed in a run dir."""
    from rlax_lander.policy import load_params, read_run_config

    config, meta = read_run_config(run_dir)
    nets, plist = [], []
    for i in range(int(meta.get("num_seeds", 0))):
        net, p, _ = load_params(run_dir, i)
        nets.append(net)
        plist.append(p)
    if not plist:
        raise ValueError(f"{run_dir!s} has no seeds (num_seeds is 0)")
    return nets[0], stack_params(plist), config, meta


def evaluate_jax(network, params, env_id: str, episodes: int, seed: int) -> np.ndarray:
    """Greedy returns [S, episodes] of stacked `params` [S, ...] in our JAX env."""
    import jax

    from rlax_lander.dqn.evaluate import make_evaluate
    from rlax_lander.envs import make_env

    env, env_params = make_env(env_id)
    evaluate = jax.jit(jax.vmap(make_evaluate(env, env_params, network.apply, episodes),
                                in_axes=(None, 0)))
    returns, _ = evaluate(jax.random.key(seed), params)
    return np.asarray(returns, np.float64)


def box2d_paired(network, params, episodes: int, seed: int = 0, max_steps: int = 1000):
    """Greedy Box2D LunarLander-v3 episodes for every policy in stacked `params` [C, ...].

    All C x `episodes` envs step in lockstep with one jitted, vmapped Q-network call per step
    (the Python loop over `env.step` is the cost). Policy c's episode j is reset with
    `seed + j`, so every policy plays the same start states (paired comparisons).
    Returns (returns float64 [C, E], lengths int64 [C, E], outcomes int64 [C, E]) with
    outcome codes from `rlax_lander.episode_stats`, classified as in `interop.box2d`.
    """
    import jax
    import jax.numpy as jnp

    from rlax_lander.interop.box2d import OBS_DIM, _classify, _make_env

    num_pol = jax.tree.leaves(params)[0].shape[0]
    E = int(episodes)
    act = jax.jit(jax.vmap(lambda p, o: jnp.argmax(network.apply(p, o), -1)))
    envs = [[_make_env(False, False, max_steps) for _ in range(E)] for _ in range(num_pol)]
    obs = np.zeros((num_pol, E, OBS_DIM), np.float32)
    ret = np.zeros((num_pol, E))
    length = np.zeros((num_pol, E), np.int64)
    outcome = np.zeros((num_pol, E), np.int64)
    alive = np.ones((num_pol, E), bool)
    try:
        for c in range(num_pol):
            for j in range(E):
                obs[c, j], _ = envs[c][j].reset(seed=seed + j)
        while alive.any():
            actions = np.asarray(act(params, obs))
            for c, j in zip(*np.nonzero(alive)):
                o, r, term, trunc, _ = envs[c][j].step(int(actions[c, j]))
                obs[c, j] = o
                ret[c, j] += r
                length[c, j] += 1
                if term or trunc:
                    alive[c, j] = False
                    outcome[c, j] = _classify(envs[c][j], bool(term))
    finally:
        for row in envs:
            for env in row:
                env.close()
    return ret, length, outcome


def evaluate_backend(network, params, env_id: str, backend: str, episodes: int,
                     seed: int) -> tuple[np.ndarray, dict | None]:
    """(returns [S, E], {"lengths", "outcomes"} [S, E] for Box2D else None) for `backend`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is unknown; allowed: {', '.join(BACKENDS)}")
    if episodes < 1:
        raise ValueError(f"episodes={episodes!r} is out of range; allowed: >= 1")
    if backend == "jax":
        return evaluate_jax(network, params, env_id, episodes, seed), None
    if env_id != "LunarLander-v3":
        raise ValueError(f"backend 'box2d' needs a LunarLander-v3 run, this one is {env_id}")
    returns, lengths, outcomes = box2d_paired(network, params, episodes, seed)
    return returns, {"lengths": lengths, "outcomes": outcomes}


def format_table(rows: list[dict], backend: str) -> str:
    """A per-seed text table of `seed_stats` rows (plus landed rate when present)."""
    head = f"{'seed':>4}  {'mean':>8}  {'std':>7}  {'success':>7}"
    has_landed = any("landed_rate" in r for r in rows)
    if has_landed:
        head += f"  {'landed':>6}"
    lines = [f"backend {backend}, {rows[0]['episodes']} episodes per seed", head]
    for i, r in enumerate(rows):
        line = f"{i:>4}  {r['mean']:8.1f}  {r['std']:7.1f}  {r['success_rate']:7.0%}"
        if has_landed:
            line += f"  {r.get('landed_rate', float('nan')):6.0%}"
        lines.append(line)
    means = np.array([r["mean"] for r in rows])
    lines.append(f"mean of seed means {means.mean():.1f}; seeds with mean >= "
                 f"{SUCCESS_RETURN:.0f}: {int(np.sum(means >= SUCCESS_RETURN))}/{len(rows)}")
    return "\n".join(lines)


def _rows(returns, evs) -> list[dict]:
    from rlax_lander.episode_stats import LANDED

    rows = seed_stats(returns)
    if evs is not None:
        for i, r in enumerate(rows):
            r["landed_rate"] = float(np.mean(evs["outcomes"][i] == LANDED))
            r["mean_length"] = float(np.mean(evs["lengths"][i]))
    return rows


def greedy_landing_gif(network, params_one, path, key_seed: int = 0, tries: int = 5,
                       frame_step: int = 2) -> dict:
    """Render one greedy episode of `params_one` from the JAX state and save a GIF.

    Tries episode keys `fold_in(key(key_seed), t)` for t < `tries` and keeps the first that
    ends in a landing (final reward +100), else the last tried. Every `frame_step`-th frame is
    kept (played at 50 / frame_step fps, i.e. real time). Returns {"return", "steps",
    "landed", "try"}.
    """
    import jax
    import jax.numpy as jnp

    from rlax_lander.env.render import render_frame, save_gif
    from rlax_lander.envs import make_env

    env, env_params = make_env("LunarLander-v3")
    reset = jax.jit(env.reset_env)
    step = jax.jit(env.step_env)
    act = jax.jit(lambda o: jnp.argmax(network.apply(params_one, o), -1).astype(jnp.int32))
    best = None
    for t in range(tries):
        key = jax.random.fold_in(jax.random.key(key_seed), t)
        key, k_reset = jax.random.split(key)
        obs, state = reset(k_reset, env_params)
        states, actions, total, last_r = [state], [None], 0.0, 0.0
        for _ in range(int(env_params.max_steps_in_episode)):
            a = act(obs)
            key, k = jax.random.split(key)
            obs, state, r, terminated, _ = step(k, state, a, env_params)
            states.append(state)
            actions.append(np.asarray(a))
            total += float(r)
            last_r = float(r)
            if bool(terminated):
                break
        best = (states, actions, total, last_r >= 100.0, t)
        if best[3]:
            break
    states, actions, total, landed, t = best
    keep = list(range(0, len(states), frame_step))
    if keep[-1] != len(states) - 1:
        keep.append(len(states) - 1)
    frames = [render_frame(states[i], actions[i]) for i in keep]
    frames += [frames[-1]] * (25 // frame_step)  # hold the final pose for half a second
    save_gif(frames, path, fps=max(1, 50 // frame_step))
    return {"return": total, "steps": len(states) - 1, "landed": bool(landed), "try": t}


def write_lander_report(out, network, params, config, episodes: int = 100, seed: int = 0,
                        gif: bool = True, timing: dict | None = None) -> dict:
    """Evaluate stacked `params` [S, ...] greedily in both backends over `episodes` episodes
    per seed, write `out/summary.json` (+ the GIF of the seed with the best JAX mean) and
    return the summary dict. The JAX evaluation and GIF run in a worker thread while the
    Box2D loop runs in this one (their `timing_s` entries overlap)."""
    out = Path(out)
    summary = {"env_id": config.env_id, "episodes_per_seed": episodes, "eval_seed": seed,
               "success_return": SUCCESS_RETURN, "timing_s": dict(timing or {})}
    import jax

    timing = summary["timing_s"]

    def timed(name, fn, *args, **kwargs):
        t0 = time.time()
        result = fn(*args, **kwargs)
        timing[name] = time.time() - t0
        return result

    def jax_then_gif():
        # JAX evaluation, then the GIF of the seed with the best JAX mean; compiled JAX code
        # releases the GIL, so this overlaps with the Python-bound Box2D loop below.
        ret, _ = timed("eval_jax", evaluate_backend, network, params, config.env_id, "jax",
                       episodes, seed)
        info = None
        if gif:
            best = int(np.argmax(ret.mean(1)))
            info = timed("gif", greedy_landing_gif, network,
                         jax.tree.map(lambda x: x[best], params), out / GIF_FILE,
                         key_seed=seed)
            info = {"file": GIF_FILE, "seed_index": best, **info}
        return ret, info

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(jax_then_gif)
        b_ret, b_evs = timed("eval_box2d", evaluate_backend, network, params, config.env_id,
                             "box2d", episodes, seed)
        j_ret, gif_info = fut.result()
    timing["eval_and_gif_wall"] = time.time() - t0
    per_backend = {"jax": _rows(j_ret, None), "box2d": _rows(b_ret, b_evs)}
    summary["per_seed"] = [{"seed_index": i, "jax": j, "box2d": b}
                           for i, (j, b) in enumerate(zip(per_backend["jax"],
                                                          per_backend["box2d"]))]
    for backend, rows in per_backend.items():
        means = np.array([r["mean"] for r in rows])
        summary[backend] = {
            "mean_of_means": float(means.mean()),
            "seeds_solved": int(np.sum(means >= SUCCESS_RETURN)),
            "num_seeds": len(rows),
            "mean_success_rate": float(np.mean([r["success_rate"] for r in rows])),
        }
    summary["transfer_gap"] = summary["jax"]["mean_of_means"] - summary["box2d"]["mean_of_means"]
    if gif_info is not None:
        summary["gif"] = gif_info
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def print_report(summary: dict) -> None:
    """Both backends side by side, one line per seed."""
    print(f"greedy evaluation, {summary['episodes_per_seed']} episodes per seed "
          f"(success = return >= {SUCCESS_RETURN:.0f}):")
    print(f"{'seed':>4}  {'box2d mean':>10} {'std':>6} {'succ':>5} {'landed':>6}   "
          f"{'jax mean':>8} {'std':>6} {'succ':>5}")
    for row in summary["per_seed"]:
        b, j = row["box2d"], row["jax"]
        print(f"{row['seed_index']:>4}  {b['mean']:10.1f} {b['std']:6.1f} "
              f"{b['success_rate']:5.0%} {b.get('landed_rate', 0):6.0%}   "
              f"{j['mean']:8.1f} {j['std']:6.1f} {j['success_rate']:5.0%}")
    for k in ("box2d", "jax"):
        s = summary[k]
        print(f"  {k}: mean {s['mean_of_means']:.1f}, seeds solved (mean >= 200) "
              f"{s['seeds_solved']}/{s['num_seeds']}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m rlax_lander evaluate",
                                 description="Greedy per-seed evaluation of a run directory.")
    ap.add_argument("run_dir")
    ap.add_argument("--backend", default="box2d", help="jax | box2d (default box2d)")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    try:
        args = ap.parse_args(argv)
    except SystemExit as err:
        if err.code:
            raise ValueError("bad arguments to evaluate (see --help)") from None
        raise
    if args.backend not in BACKENDS:
        raise ValueError(f"--backend={args.backend!r} is unknown; allowed: "
                         f"{', '.join(BACKENDS)}")
    if args.episodes < 1:
        raise ValueError(f"--episodes={args.episodes} is out of range; allowed: >= 1")
    return args


def main(argv: list[str]) -> int:
    """Entry of `python -m rlax_lander evaluate`."""
    args = parse_args(argv)
    network, params, config, _ = load_run(args.run_dir)
    returns, evs = evaluate_backend(network, params, config.env_id, args.backend,
                                    args.episodes, args.seed)
    rows = _rows(returns, evs)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "backend": args.backend,
                          "episodes": args.episodes, "seed": args.seed, "per_seed": rows},
                         indent=2))
    else:
        print(format_table(rows, args.backend))
    return 0
