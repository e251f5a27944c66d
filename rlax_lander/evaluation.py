"""Greedy evaluation of a run directory's seeds in the JAX env or in Gymnasium's Box2D env.

`evaluate_backend` scores stacked params in our JAX env or in the real Gymnasium twin (Box2D
for the lander); `twin_report` is what `train` runs: both, and for the lander a GIF of one
greedy episode.

Statistics per seed (`seed_stats`): mean and std (ddof 0) of the undiscounted returns,
`success_rate` = fraction of episodes with return >= the env's own success mark
(`env.ids.SUCCESS_RETURNS`: 200 for the lander, 475 for CartPole-v1).
Episode seeding: JAX episode k of a call uses
`fold_in(key(seed), EVAL_STREAM)`, split once per episode (`make_evaluate`);
Box2D episode k uses `reset(seed=seed + k)`, as `interop.box2d.evaluate_box2d` does (`box2d_paired`
steps all seeds x episodes in lockstep with one batched Q-network call per step). The two
backends therefore see different start states; with 100 episodes each the means are
comparable within their standard errors.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

from rlax_lander import rundir
from rlax_lander.dqn.evaluate import make_evaluate
from rlax_lander.env.ids import LANDER_IDS, success_return
from rlax_lander.env.registry import make
from rlax_lander.env.render import render_frame, save_gif
from rlax_lander.episode_stats import LANDED, OUTCOMES
from rlax_lander.interop.box2d import _classify, _make_env
from rlax_lander.policy import load_params

BACKENDS = ("jax", "box2d", "gymnasium")
EVAL_STREAM = 1_000_003
"""JAX evaluation keys are `fold_in(key(seed), EVAL_STREAM)`: a stream that training, whose
keys are `split(key(seed), S)`, never draws from."""


def seed_stats(returns, success: float | None = 200.0) -> list[dict]:
    """returns [S, E] -> per seed {"mean", "std", "success_rate", "episodes"} (floats;
    success_rate is None where the env has no success mark `success`)."""
    r = np.asarray(returns, np.float64)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"returns must be [seeds, episodes] with episodes >= 1, got {r.shape}")
    return [{"mean": float(x.mean()), "std": float(x.std()),
             "success_rate": None if success is None else float(np.mean(x >= success)),
             "episodes": int(x.size)} for x in r]


def backend_rows(returns, box2d_episodes: dict | None, env_id: str) -> list[dict]:
    """`seed_stats` rows with the env's success mark, plus landed rate and mean length for
    Box2D episodes."""
    rows = seed_stats(returns, success_return(env_id))
    if box2d_episodes is not None:
        for i, r in enumerate(rows):
            if env_id in LANDER_IDS:
                r["landed_rate"] = float(np.mean(box2d_episodes["outcomes"][i] == LANDED))
            r["mean_length"] = float(np.mean(box2d_episodes["lengths"][i]))
    return rows


def stack_params(params_list):
    """Stack per-seed param pytrees along a new leading axis [S, ...]."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *params_list)


def load_run(run_dir):
    """(network, stacked params [S, ...], config, meta) of every seed in a run dir."""
    config, meta = rundir.read_config(run_dir)
    nets, plist = [], []
    for i in range(int(meta.get("num_cells", meta.get("num_seeds", 0)))):
        net, p, _ = load_params(run_dir, i)
        nets.append(net)
        plist.append(p)
    if not plist:
        raise ValueError(f"{run_dir!s} has no seeds (num_seeds is 0)")
    return nets[0], stack_params(plist), config, meta


def evaluate_jax(network, params, env_id: str, episodes: int, seed: int) -> np.ndarray:
    """Greedy returns [S, episodes] of stacked `params` [S, ...] in our JAX env: one compiled
    evaluation vmapped over seeds (every seed plays the same episode keys)."""
    env, env_params = make(env_id)
    evaluate = jax.jit(jax.vmap(make_evaluate(env, env_params, network.apply, episodes),
                                in_axes=(None, 0)))
    returns, _ = evaluate(jax.random.fold_in(jax.random.key(seed), EVAL_STREAM), params)
    return np.asarray(returns, np.float64)


TWINS: dict[str, str] = {"LunarLander-v3": "box2d", "CartPole-v1": "gymnasium",
                         "Acrobot-v1": "gymnasium", "MountainCar-v0": "gymnasium"}
"""Envs with a real Gymnasium twin to score policies in, and the backend name used for it."""


def _gymnasium_env(env_id: str, max_steps: int | None):
    if env_id in LANDER_IDS:
        return _make_env(False, False, max_steps or 1000)
    import gymnasium  # optional: the 'gym' extra

    return gymnasium.make(env_id) if max_steps is None else gymnasium.make(
        env_id, max_episode_steps=max_steps)


def gymnasium_paired(network, params, env_id: str, episodes: int, seed: int = 0,
                     max_steps: int | None = None):
    """Greedy episodes in the real Gymnasium env `env_id` (Box2D for the lander) for every
    policy in stacked `params` [C, ...].

    All C x `episodes` envs step in lockstep with one jitted, vmapped Q-network call per step
    (the Python loop over `env.step` is the cost). Policy c's episode j is reset with
    `seed + j`, so every policy plays the same start states (paired comparisons).
    Returns (returns float64 [C, E], lengths int64 [C, E], outcomes int64 [C, E]); outcome
    codes (`rlax_lander.episode_stats`, classified as in `interop.box2d`) for the lander,
    -1 elsewhere.
    """
    if env_id not in TWINS:
        raise ValueError(f"env_id={env_id!r} has no Gymnasium twin here; allowed: "
                         f"{', '.join(TWINS)}")
    num_pol = jax.tree.leaves(params)[0].shape[0]
    E = int(episodes)
    act = jax.jit(jax.vmap(lambda p, o: jnp.argmax(network.apply(p, o), -1)))
    envs = [[_gymnasium_env(env_id, max_steps) for _ in range(E)] for _ in range(num_pol)]
    obs_dim = envs[0][0].observation_space.shape[0]
    obs = np.zeros((num_pol, E, obs_dim), np.float32)
    ret = np.zeros((num_pol, E))
    length = np.zeros((num_pol, E), np.int64)
    outcome = np.full((num_pol, E), -1, np.int64)
    alive = np.ones((num_pol, E), bool)
    lander = env_id in LANDER_IDS
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
                    if lander:
                        outcome[c, j] = _classify(envs[c][j], bool(term))
    finally:
        for row in envs:
            for env in row:
                env.close()
    return ret, length, outcome


def box2d_paired(network, params, episodes: int, seed: int = 0, max_steps: int = 1000):
    """`gymnasium_paired` for LunarLander-v3 (Box2D)."""
    return gymnasium_paired(network, params, "LunarLander-v3", episodes, seed, max_steps)


def evaluate_backend(network, params, env_id: str, backend: str, episodes: int,
                     seed: int) -> tuple[np.ndarray, dict | None]:
    """(returns [S, E], {"lengths", "outcomes"} [S, E] for a real env else None).

    backend: "jax" (our env) or the env's real twin ("box2d" for the lander, "gymnasium"
    for CartPole-v1, Acrobot-v1 and MountainCar-v0; "gymnasium" also names Box2D there)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is unknown; allowed: {', '.join(BACKENDS)}")
    if episodes < 1:
        raise ValueError(f"episodes={episodes!r} is out of range; allowed: >= 1")
    if backend == "jax":
        return evaluate_jax(network, params, env_id, episodes, seed), None
    twin = TWINS.get(env_id)
    if twin is None or (backend == "box2d" and twin != "box2d"):
        allowed = [e for e, t in TWINS.items() if backend == "gymnasium" or t == backend]
        raise ValueError(f"backend {backend!r} needs a run on {', '.join(allowed)}; this one "
                         f"is {env_id}")
    returns, lengths, outcomes = gymnasium_paired(network, params, env_id, episodes, seed)
    return returns, {"lengths": lengths, "outcomes": outcomes}


def _caption(frame: np.ndarray, text: str) -> np.ndarray:
    img = Image.fromarray(frame)
    ImageDraw.Draw(img).text((6, 4), text, fill=(255, 255, 255))
    return np.asarray(img)


def greedy_episode_gif(network, params_one, path, *, seed_index: int, episode_seed: int = 0,
                       frame_step: int = 2, caption: str = "") -> dict:
    """Render greedy episode `episode_seed` of one policy from the JAX state into a GIF.

    The episode's reset key is `jax.random.key(episode_seed)`: not chosen for its outcome.
    Every `frame_step`-th frame is kept (played at 50 / frame_step fps, i.e. real time); each
    frame carries a caption (seed, episode, return so far, outcome at the end).
    Returns {"seed_index", "episode_seed", "return", "steps", "outcome"}.
    """
    env, env_params = make("LunarLander-v3")
    reset = jax.jit(env.reset_env)
    step = jax.jit(env.step_env)
    act = jax.jit(lambda o: jnp.argmax(network.apply(params_one, o), -1).astype(jnp.int32))
    key, k_reset = jax.random.split(jax.random.key(episode_seed))
    obs, state = reset(k_reset, env_params)
    states, actions, returns, total, reward, terminated = [state], [None], [0.0], 0.0, 0.0, False
    for _ in range(int(env_params.max_steps_in_episode)):
        a = act(obs)
        key, k = jax.random.split(key)
        obs, state, reward, terminated, _ = step(k, state, a, env_params)
        total += float(reward)
        states.append(state)
        actions.append(np.asarray(a))
        returns.append(total)
        if bool(terminated):
            break
    outcome = ("landed" if float(reward) >= 100.0 else "crashed or flew off") if terminated \
        else "time limit (1000 steps)"
    keep = list(range(0, len(states), frame_step))
    if keep[-1] != len(states) - 1:
        keep.append(len(states) - 1)
    label = f"{caption}seed {seed_index}, episode {episode_seed}"
    frames = [_caption(render_frame(states[i], actions[i]), f"{label}: return {returns[i]:.0f}")
              for i in keep]
    frames[-1] = _caption(render_frame(states[-1], actions[-1]),
                          f"{label}: return {total:.0f}, {outcome}")
    frames += [frames[-1]] * (25 // frame_step)  # hold the final pose for half a second
    save_gif(frames, path, fps=max(1, 50 // frame_step))
    return {"seed_index": seed_index, "episode_seed": episode_seed, "return": total,
            "steps": len(states) - 1, "outcome": outcome}


def _summarise_backend(rows: list[dict], env_id: str) -> dict:
    means = np.array([r["mean"] for r in rows])
    mark = success_return(env_id)
    out = {"mean_of_means": float(means.mean()), "num_seeds": len(rows),
           "success_return": mark}
    if mark is not None:
        out["seeds_solved"] = int(np.sum(means >= mark))
        out["mean_success_rate"] = float(np.mean([r["success_rate"] for r in rows]))
    return out


def twin_report(network, params, config, episodes: int = 100, seed: int = 0,
                gif_path=None) -> dict:
    """Greedy evaluation of stacked `params` [S, ...] over `episodes` episodes per seed in
    our JAX env and in its real Gymnasium twin (`TWINS`: Box2D for the lander), and (with
    `gif_path`, lander only) a GIF of the first evaluation episode of the typical seed (the
    one whose JAX mean is the median). The JAX evaluation and GIF run in a worker thread while
    the Python-bound Gymnasium loop runs in this one (compiled JAX code releases the GIL).
    Returns the summary dict (per seed rows, per backend aggregates, transfer gap, timing)."""
    timing: dict = {}

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timing[name] = time.perf_counter() - t0
        return result

    def jax_then_gif():
        ret = timed("eval_jax", evaluate_jax, network, params, config.env_id, episodes, seed)
        info = None
        if gif_path is not None:
            means = ret.mean(1)
            typical = int(np.argsort(means)[(len(means) - 1) // 2])
            info = timed("gif", greedy_episode_gif, network,
                         jax.tree.map(lambda x: x[typical], params), gif_path,
                         seed_index=typical, episode_seed=seed, caption="typical ")
            info = {"file": str(gif_path.name if hasattr(gif_path, "name") else gif_path),
                    "chosen_as": "median seed by JAX mean, its first evaluation episode",
                    **info}
        return ret, info

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(jax_then_gif)
        twin = TWINS[config.env_id]
        b_ret, b_len, b_out = timed(f"eval_{twin}", gymnasium_paired, network, params,
                                    config.env_id, episodes, seed)
        j_ret, gif_info = fut.result()
    timing["eval_and_gif_wall"] = time.perf_counter() - t0
    per_backend = {"jax": backend_rows(j_ret, None, config.env_id),
                   twin: backend_rows(b_ret, {"lengths": b_len, "outcomes": b_out},
                                      config.env_id)}
    summary = {"env_id": config.env_id, "episodes_per_seed": episodes, "eval_seed": seed,
               "twin_backend": twin, "timing_s": timing,
               "per_seed": [{"seed_index": i, "jax": j, twin: b} for i, (j, b) in
                            enumerate(zip(per_backend["jax"], per_backend[twin]))],
               "outcome_names": list(OUTCOMES)}
    for backend, rows in per_backend.items():
        summary[backend] = _summarise_backend(rows, config.env_id)
    summary["transfer_gap"] = summary["jax"]["mean_of_means"] - summary[twin]["mean_of_means"]
    if gif_info is not None:
        summary["gif"] = gif_info
    return summary


def jax_report(network, params, config, episodes: int = 100, seed: int = 0) -> dict:
    """Greedy evaluation in the JAX env only (envs without a Box2D twin)."""
    t0 = time.perf_counter()
    rows = backend_rows(evaluate_jax(network, params, config.env_id, episodes, seed), None,
                        config.env_id)
    return {"env_id": config.env_id, "episodes_per_seed": episodes, "eval_seed": seed,
            "timing_s": {"eval_jax": time.perf_counter() - t0},
            "per_seed": [{"seed_index": i, "jax": r} for i, r in enumerate(rows)],
            "jax": _summarise_backend(rows, config.env_id)}
