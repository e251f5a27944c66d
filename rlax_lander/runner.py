"""The chunk loop: a training program's stages, compiled once, run chunk by chunk from Python.

`run_chunks(stages, keys, hparams)` trains C cells (a cell is one seed, or one seed x
hyperparameter setting) together: `init`, `prefill` and `train_chunk` are each compiled once as
`jax.jit(jax.vmap(stage))`, sharded along the cell axis over `devices` (`parallel.cell_mesh`;
the cells are padded to a multiple of the device count with copies of the last cell, and the
padding is dropped from everything returned). Between chunks, and only there, it

- hands each chunk's `metrics.CHUNK_METRICS` to `on_chunk` (progress, loggers),
- keeps the finished episodes as host rows (`metrics.episode_rows`),
- writes a checkpoint every `checkpoint_every` chunks and when `should_stop()` turns true:
  the whole unpadded training state plus the metrics gathered so far, atomically
  (`rlax_lander.checkpoint`), so a killed run loses at most the chunk in progress.

`resume=True` continues from that checkpoint; on the same device layout the result is
bit-identical to an uninterrupted run (the same compiled chunk runs on the same inputs).
A different layout (device count) changes the per-device batch, and XLA's floating-point
reassociation, which training amplifies, then changes per-cell outcomes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlax_lander import checkpoint as ckpt
from rlax_lander import metrics as M
from rlax_lander import parallel
from rlax_lander.stages import Stages

ROW_FIELDS = {"seed": np.int32, "env_step": np.int64, "env_index": np.int32,
              "return": np.float32}


@dataclasses.dataclass(frozen=True)
class ChunkReport:
    """What `on_chunk` receives after each chunk.

    chunk: 1-based index of the chunk just finished; num_chunks: in the whole run;
    metrics: {name: [C] numpy} of `metrics.CHUNK_METRICS`; compile_s: compile time spent
    before this chunk in this session (0 once compiled); chunk_s: wall time of this chunk;
    chunks_this_session: chunks run since this process started (for rates and ETAs);
    policy_params: () -> the policy params after this chunk, [C, ...] numpy (fetched from the
    devices only when called, and only inside `on_chunk`: the next chunk reuses the state's
    buffers).
    """

    chunk: int
    num_chunks: int
    metrics: dict
    compile_s: float
    chunk_s: float
    chunks_this_session: int
    policy_params: Callable[[], Any] = lambda: None


@dataclasses.dataclass
class RunResult:
    """params: [C, ...] numpy, the policy (the state's `policy_params` where it has them);
    chunks: {name: [C, K]} per-chunk metrics of the K chunks run
    (all of them when resumed); episodes: finished-episode rows (`ROW_FIELDS`, cell-major,
    time order within a cell); env_steps: env steps per cell; diverged_at: [C] env step at
    which each cell first went non-finite (-1: never); compile_s / train_s: this session's
    compile and run time; session_env_steps: env steps per cell run in this session;
    resumed_at: chunks already done when this session started (None if fresh);
    stopped_at: chunks done if `should_stop` ended the run early (None if it finished);
    layout: {"devices", "device_kind", "padded_cells", "processes"}. `diverged_at` comes from
    the state's own `diverged_at` where it keeps one, else from the first chunk whose
    `nonfinite` metric is set (that chunk's end)."""

    params: Any
    chunks: dict
    episodes: dict
    env_steps: int
    diverged_at: np.ndarray
    compile_s: float
    train_s: float
    session_env_steps: int
    resumed_at: int | None
    stopped_at: int | None
    layout: dict


class _Accumulator:
    """Host copies of the episode rows and chunk metrics gathered so far."""

    def __init__(self, num_cells: int, stored: dict | None = None):
        self.rows = {k: [np.zeros((0,), t)] for k, t in ROW_FIELDS.items()}
        self.chunks = {m.name: [np.zeros((num_cells, 0), m.dtype)] for m in M.CHUNK_METRICS}
        if stored is not None:
            for k, t in ROW_FIELDS.items():
                self.rows[k] = [np.asarray(stored[f"row_{k}"]).astype(t)]
            for m in M.CHUNK_METRICS:
                self.chunks[m.name] = [np.asarray(stored[f"chunk_{m.name}"]).astype(m.dtype)]

    def add_trace(self, trace: dict) -> None:
        for k, v in M.episode_rows(trace).items():
            self.rows[k].append(v.astype(ROW_FIELDS[k]))

    def add_chunk(self, metrics: dict) -> None:
        for m in M.CHUNK_METRICS:
            self.chunks[m.name].append(np.asarray(metrics[m.name]).astype(m.dtype)[:, None])

    def arrays(self) -> dict:
        out = {f"row_{k}": np.concatenate(v) for k, v in self.rows.items()}
        out.update({f"chunk_{k}": np.concatenate(v, axis=1) for k, v in self.chunks.items()})
        return out

    def episodes(self) -> dict:
        rows = {k: np.concatenate(v) for k, v in self.rows.items()}
        order = np.argsort(rows["seed"], kind="stable")  # cell-major, time order within
        return {k: v[order] for k, v in rows.items()}


def _pad_cells(tree, num_cells: int, pad: int):
    def pad_leaf(x):
        if pad == 0:
            return x
        cat = jnp.concatenate if parallel.is_key(x) else np.concatenate
        return cat([x, jnp.repeat(x[-1:], pad, axis=0) if parallel.is_key(x) else
                    np.repeat(x[-1:], pad, axis=0)])

    return jax.tree.map(pad_leaf, tree)


def _unpad(tree, num_cells: int):
    return jax.tree.map(lambda x: x[:num_cells], tree)


def _policy_params(state, num_cells: int):
    """The policy params of a training state (its `policy_params` where it keeps them, else
    `params`) as host numpy [C, ...], padding removed."""
    return _unpad(_host(getattr(state, "policy_params", state.params)), num_cells)


def _host(tree):
    return parallel.to_host(tree)


def run_chunks(stages: Stages, keys, hparams, *, devices=None, checkpoint_path=None,
               checkpoint_every: int = 0, checkpoint_meta: dict | None = None,
               resume: bool = False, on_chunk: Callable[[ChunkReport], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Train every cell of `keys` [C] / `hparams` (leaves [C]) through `stages`.

    devices: as `parallel.resolve_devices` (None: every device). checkpoint_path: where the
    checkpoint goes (needed for `checkpoint_every`, `resume` and `should_stop`);
    checkpoint_every: chunks between checkpoints (0: only when stopped early);
    checkpoint_meta: JSON-able dict stored in the checkpoint and, on resume, required to
    match the stored one (config, seeds...); resume: continue from the checkpoint
    (ValueError if it is missing, corrupt or written for another run); on_chunk: progress
    callback; should_stop: polled after each chunk; when it returns True the run writes its
    checkpoint and returns with `stopped_at` set.
    """
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={checkpoint_every!r} is out of range; allowed: >= 0")
    if (checkpoint_every or resume) and checkpoint_path is None:
        raise ValueError("checkpoint_path is needed for checkpoint_every > 0 or resume")
    devices = parallel.resolve_devices(devices)
    num_cells = parallel.num_cells(hparams)
    keys_raw, wrap = parallel.raw_keys(keys, num_cells)
    pad = (-num_cells) % len(devices)
    sharding = parallel.cell_sharding(devices)
    put = lambda tree: jax.tree.map(lambda x: parallel.global_array(x, sharding), tree)
    g_keys = put(_pad_cells(keys_raw, num_cells, pad))
    g_hp = put(_pad_cells(jax.tree.map(np.asarray, hparams), num_cells, pad))
    meta = {"num_chunks": stages.num_chunks, "num_cells": num_cells, **(checkpoint_meta or {})}

    def compiled(fn, *args, donate=False):
        jitted = jax.jit(jax.vmap(fn), out_shardings=sharding,
                         donate_argnums=(0,) if donate else ())
        return jitted.lower(*args).compile()

    init_cells = lambda k, h: stages.init(wrap(k), h)
    t0 = time.perf_counter()
    init_fn = compiled(init_cells, g_keys, g_hp)
    compile_s = time.perf_counter() - t0
    acc = _Accumulator(num_cells)
    if resume:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise ValueError(f"cannot resume: {path} is missing (checkpoints are written every "
                             "checkpoint_every chunks and when a run is stopped)")
        template = jax.eval_shape(jax.vmap(init_cells), keys_raw, hparams)
        state, stored_meta, extra = ckpt.load_checkpoint(path, template, expected_meta=meta)
        missing = sorted(set(acc.arrays()) - set(extra))
        if missing:
            raise ValueError(f"checkpoint {path} is corrupt: metrics {missing} are missing")
        start = int(stored_meta["next_chunk"])
        if not 0 <= start <= stages.num_chunks:
            raise ValueError(f"checkpoint {path} is corrupt: next_chunk={start}")
        acc = _Accumulator(num_cells, extra)
        state = put(_pad_cells(state, num_cells, pad))
        resumed_at = start
    else:
        state = init_fn(g_keys, g_hp)
        start, resumed_at = 0, None
        if stages.prefill is not None:
            t0 = time.perf_counter()
            prefill_fn = compiled(lambda s, h: stages.prefill(s, h), state, g_hp, donate=True)
            compile_s += time.perf_counter() - t0
            state, trace = prefill_fn(state, g_hp)
            acc.add_trace(_unpad(_host(trace), num_cells))

    def save(next_chunk: int) -> None:
        host_state = _unpad(_host(state), num_cells)
        env_steps = int(np.asarray(host_state.env_steps)[0])
        ckpt.save_checkpoint(checkpoint_path, host_state,
                             {**meta, "next_chunk": next_chunk, "env_steps": env_steps},
                             acc.arrays())

    t0 = time.perf_counter()
    chunk_fn = compiled(lambda s, h: stages.train_chunk(s, h), state, g_hp, donate=True)
    compile_s += time.perf_counter() - t0
    train_s, stopped_at, first_compile = 0.0, None, compile_s
    session_start_steps = int(np.asarray(_host(state.env_steps))[0])
    for done, chunk in enumerate(range(start, stages.num_chunks), start=1):
        t0 = time.perf_counter()
        state, metrics = chunk_fn(state, g_hp)
        metrics = _unpad(_host(metrics), num_cells)
        chunk_s = time.perf_counter() - t0
        train_s += chunk_s
        acc.add_trace({k: metrics[k] for k in M.TRACE_NAMES})
        acc.add_chunk(metrics)
        if on_chunk is not None:
            on_chunk(ChunkReport(chunk=chunk + 1, num_chunks=stages.num_chunks,
                                 metrics={k: metrics[k] for k in M.CHUNK_NAMES},
                                 compile_s=first_compile if done == 1 else 0.0,
                                 chunk_s=chunk_s, chunks_this_session=done,
                                 policy_params=lambda state=state: _policy_params(state,
                                                                                  num_cells)))
        last = chunk + 1 == stages.num_chunks
        stop = not last and should_stop is not None and should_stop()
        if checkpoint_path is not None and (stop or (checkpoint_every and (
                (chunk + 1) % checkpoint_every == 0 or last))):
            save(chunk + 1)
        if stop:
            stopped_at = chunk + 1
            break

    host_state = _unpad(_host(state), num_cells)
    env_steps = int(np.asarray(host_state.env_steps)[0])
    chunks = {k: np.concatenate(v, axis=1) for k, v in acc.chunks.items()}
    diverged_at = getattr(host_state, "diverged_at", None)
    if diverged_at is None:  # a state without its own record: the first non-finite chunk
        bad = chunks["nonfinite"].astype(bool)
        first = np.argmax(bad, axis=1)
        diverged_at = np.where(bad.any(axis=1),
                               chunks["env_step"][np.arange(num_cells), first], -1)
    return RunResult(
        params=getattr(host_state, "policy_params", host_state.params), chunks=chunks,
        episodes=acc.episodes(), env_steps=env_steps,
        diverged_at=np.asarray(diverged_at), compile_s=compile_s, train_s=train_s,
        session_env_steps=env_steps - session_start_steps, resumed_at=resumed_at,
        stopped_at=stopped_at,
        layout={"devices": len(devices), "device_kind": devices[0].device_kind,
                "platform": devices[0].platform, "padded_cells": num_cells + pad,
                "processes": jax.process_count()})


def estimate_bytes(stages: Stages, keys, hparams) -> int:
    """Rough peak host/device memory of `run_chunks` for these cells, in bytes: twice the
    training state (replay buffers, env states, params; input and output of a chunk) plus
    one chunk's episode trace, from shapes alone (nothing is compiled or allocated)."""
    num_cells = parallel.num_cells(hparams)
    raw, wrap = parallel.raw_keys(keys, num_cells)
    state = jax.eval_shape(jax.vmap(lambda k, h: stages.init(wrap(k), h)), raw, hparams)
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
    num_envs = jax.tree.leaves(state.obs)[0].shape[1] if hasattr(state, "obs") else 1
    trace_bytes = num_cells * (stages.chunk_env_steps // max(1, num_envs)) * (4 + 5 * num_envs)
    return 2 * state_bytes + 2 * trace_bytes
