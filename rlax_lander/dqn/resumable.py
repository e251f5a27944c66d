"""Segmented training over S vmapped seeds with atomic checkpoints and exact resume.

`train_segmented(config, seeds, seed, out, checkpoint_every=K)` runs `make_train_segments`'
schedule (unit 0 = prefill, then chunk units) in segments of K chunk units; after each
segment it writes `out/checkpoint.msgpack` (`rlax_lander.checkpoint`: the whole vmapped
`TrainState` - params, target params, optimizer state, replay buffer, env states, obs, keys,
counters - plus the metrics gathered so far) atomically, so a run killed at any moment loses
at most the segment in progress. `resume=True` reloads that file (checking that it was
written for the same config, seeds and seed) and continues; on CPU the result is
bit-identical to an uninterrupted run (any segment lengths: see `make_train_segments`).

Metrics are kept compact on the host: finished episodes as rows (seed, env_step, env_index,
return) in the order of `metrics.csv`, and per-iteration loss / q_mean. After each chunk
unit, a summary (mean episode return, episodes, epsilon, loss, q_mean) goes to `loggers`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlax_lander import checkpoint as ckpt
from rlax_lander.dqn.config import DQNConfig

CHECKPOINT_FILE = "checkpoint.msgpack"
_EP_FIELDS = {"ep_seed": np.int32, "ep_env_step": np.int64, "ep_env_index": np.int32,
              "ep_return": np.float32}


@dataclasses.dataclass
class SegmentedResult:
    """params: [S, ...] numpy pytree; episodes: {"seed", "env_step", "env_index", "return"}
    rows of finished episodes (seed-major, then time, then env); iterations: {"loss",
    "q_mean": [S, I], "update_env_step": [I]}; env_steps: env steps run per seed;
    resumed_at: the unit a resumed run started from (None if fresh)."""

    params: Any
    episodes: dict
    iterations: dict
    env_steps: int
    compile_s: float
    train_s: float
    resumed_at: int | None


def segment_bounds(num_units: int, checkpoint_every: int, start: int = 0) -> list:
    """[(a, b), ...] covering [start, num_units): the first segment holds the prefill and
    `checkpoint_every` chunk units, later ones `checkpoint_every` units; 0 = one segment."""
    if checkpoint_every <= 0:
        stops = [num_units]
    else:
        stops = list(range(1 + checkpoint_every, num_units, checkpoint_every)) + [num_units]
    stops = [s for s in stops if s > start]
    return list(zip([start] + stops[:-1], stops))


@functools.lru_cache(maxsize=8)
def _engine(config: DQNConfig, seeds: int, num_chunks: int, progress: bool):
    """Segments and jitted pieces for a config (cached: repeated runs reuse compiles)."""
    import jax

    from rlax_lander.dqn.train import make_train_segments
    from rlax_lander.envs import make_env

    env, env_params = make_env(config.env_id)
    seg = make_train_segments(config, env, env_params, progress=progress,
                              num_chunks=num_chunks)
    return seg, jax.jit(jax.vmap(seg.init)), {}


def _segment_fn(seg, cache: dict, a: int, b: int, ts, hp):
    """The compiled vmapped segment [a, b) (reused across positions with the same program)."""
    import jax

    # the traced program depends only on whether the prefill is in and the units' sizes
    kind = (a == 0, tuple(seg.unit_sizes[max(a, 1):b]))
    if kind not in cache:
        fn = jax.jit(jax.vmap(functools.partial(seg.run_segment, start=a, stop=b)))
        cache[kind] = fn.lower(ts, hp).compile()
    return cache[kind]


def _episode_rows(m: dict) -> dict:
    done = m["episode_done"]  # [S, T, n]
    s_idx, t_idx, e_idx = np.nonzero(done)
    return {"ep_seed": s_idx.astype(np.int32),
            "ep_env_step": m["env_step"][s_idx, t_idx].astype(np.int64),
            "ep_env_index": e_idx.astype(np.int32),
            "ep_return": m["episode_return"][s_idx, t_idx, e_idx].astype(np.float32)}


def unit_summaries(m: dict, unit_sizes, start: int, stop: int) -> list:
    """[(env_step, {tag: value})] per unit of a segment's host metrics `m` (leading [S])."""
    out, off, ioff = [], 0, 0
    for u in range(start, stop):
        vs, it = unit_sizes[u]
        if vs == 0:
            continue
        done = m["episode_done"][:, off:off + vs]
        rets = m["episode_return"][:, off:off + vs]
        scalars = {"train/episodes": float(done.sum()),
                   "train/epsilon": float(m["epsilon"][:, off + vs - 1].mean())}
        if done.any():
            scalars["train/episode_return"] = float(rets[done].mean())
        if it:
            scalars["train/loss"] = float(m["loss"][:, ioff:ioff + it].mean())
            scalars["train/q_mean"] = float(m["q_mean"][:, ioff:ioff + it].mean())
        out.append((int(m["env_step"][0, off + vs - 1]), scalars))
        off, ioff = off + vs, ioff + it
    return out


def run_meta(config: DQNConfig, seeds: int, seed: int, num_units: int) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    return {"config": config.to_dict(), "num_seeds": seeds, "seed": seed,
            "num_units": num_units}


def train_segmented(config: DQNConfig, seeds: int, seed: int, out, *,
                    checkpoint_every: int = 0, resume: bool = False, progress: bool = True,
                    loggers=(), num_chunks: int = 20, extra_meta: dict | None = None,
                    ) -> SegmentedResult:
    """Train `seeds` seeds of `config` (keys `seed_keys(seed, seeds)`), checkpointing into
    `out/checkpoint.msgpack` every `checkpoint_every` chunk units (0: never).

    resume: continue from `out/checkpoint.msgpack` (ValueError if it is missing, corrupt or
    written for another config / seeds / seed). extra_meta: JSON-able dict stored in each
    checkpoint (e.g. CLI options, read back by `train --resume`).
    """
    import jax
    import jax.numpy as jnp

    from rlax_lander.dqn.run import seed_keys

    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={checkpoint_every!r} is out of range; "
                         "allowed: >= 0 (0 = no checkpoints)")
    out = Path(out)
    path = out / CHECKPOINT_FILE
    seg, init_fn, cache = _engine(config, seeds, num_chunks, progress)
    keys = seed_keys(seed, seeds)
    hp = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), config.hparams())
    meta = run_meta(config, seeds, seed, seg.num_units)
    acc = {k: [np.zeros((0,), t)] for k, t in _EP_FIELDS.items()}
    iters = {"loss": [np.zeros((seeds, 0), np.float32)],
             "q_mean": [np.zeros((seeds, 0), np.float32)],
             "update_env_step": [np.zeros((0,), np.int32)]}
    if resume:
        if not path.is_file():
            raise ValueError(f"cannot resume {out}: {path} is missing (was the run started "
                             "with --checkpoint-every?)")
        template = jax.eval_shape(init_fn, keys, hp)
        ts, stored, extra = ckpt.load_checkpoint(path, template, expected_meta=meta)
        missing = [k for k in [*_EP_FIELDS, *iters] if k not in extra]
        if missing:
            raise ValueError(f"checkpoint {path} is corrupt: metrics {missing} are missing")
        start = int(stored["next_unit"])
        if not 0 <= start <= seg.num_units:
            raise ValueError(f"checkpoint {path} is corrupt: next_unit={start}")
        ts = jax.device_put(ts)
        for k in acc:
            acc[k] = [extra[k].astype(_EP_FIELDS[k])]
        for k in iters:
            iters[k] = [extra[k]]
        resumed_at = start
        print(f"resuming {out} at unit {start}/{seg.num_units} "
              f"({int(np.asarray(ts.env_steps)[0]):,} env steps done)", flush=True)
    else:
        ts = init_fn(keys, hp)
        start, resumed_at = 0, None

    compile_s = train_s = 0.0
    for a, b in segment_bounds(seg.num_units, checkpoint_every, start):
        t0 = time.time()
        fn = _segment_fn(seg, cache, a, b, ts, hp)
        t1 = time.time()
        ts, m = jax.block_until_ready(fn(ts, hp))
        t2 = time.time()
        compile_s, train_s = compile_s + t1 - t0, train_s + t2 - t1
        m = jax.tree.map(np.asarray, m)
        for k, v in _episode_rows(m).items():
            acc[k].append(v)
        iters["loss"].append(m["loss"])
        iters["q_mean"].append(m["q_mean"])
        iters["update_env_step"].append(m["update_env_step"][0])
        for step, scalars in unit_summaries(m, seg.unit_sizes, a, b):
            for lg in loggers:
                lg.log(step, scalars)
        if checkpoint_every > 0:
            extra = {k: np.concatenate(v) for k, v in acc.items()}
            extra.update({k: np.concatenate(v, axis=-1) for k, v in iters.items()})
            ckpt.save_checkpoint(path, ts, {**meta, "next_unit": b,
                                            "env_steps": int(np.asarray(ts.env_steps)[0]),
                                            "run": extra_meta or {}}, extra)

    eps = {k: np.concatenate(v) for k, v in acc.items()}
    order = np.argsort(eps["ep_seed"], kind="stable")  # seed-major; time order within
    episodes = {k[3:]: v[order] for k, v in eps.items()}
    iterations = {k: np.concatenate(v, axis=-1) for k, v in iters.items()}
    return SegmentedResult(
        params=jax.tree.map(np.asarray, ts.params), episodes=episodes, iterations=iterations,
        env_steps=int(np.asarray(ts.env_steps)[0]), compile_s=compile_s, train_s=train_s,
        resumed_at=resumed_at)


def learning_curve_from_episodes(episodes: dict, num_seeds: int, total_env_steps: int,
                                 num_bins: int = 50):
    """Binned mean episode return per seed from episode rows: (bin centres [B], [S, B])
    (NaN where a bin has no episode); the binning of `run.learning_curve`."""
    edges = np.linspace(0, total_env_steps, num_bins + 1)
    idx = np.clip(np.searchsorted(edges, episodes["env_step"], side="left") - 1, 0,
                  num_bins - 1)
    tot = np.zeros((num_seeds, num_bins))
    cnt = np.zeros((num_seeds, num_bins))
    np.add.at(tot, (episodes["seed"], idx), episodes["return"].astype(np.float64))
    np.add.at(cnt, (episodes["seed"], idx), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * (edges[1:] + edges[:-1]), tot / cnt
