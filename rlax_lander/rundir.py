"""The run directory: the one on-disk format that `train` and `ablate` write and `evaluate`,
`render` and `load_policy` read.

    config.json          {"algo", "config": <config fields>, "preset", "num_seeds", "seed",
                          "eval_episodes", "layout", "command"}; `ablate` adds "grid", "cells"
    params_seed{i}.msgpack   policy params of cell i (flax msgpack behind a SHA-256 header;
                             `checkpoint.save_params`), written before any evaluation; none
                             for a cell that diverged
    metrics.csv          one row per finished training episode: seed, env_step, env_index,
                         episode_return
    chunks.csv           one row per seed and chunk: seed, chunk, then `metrics.CHUNK_METRICS`
    summary.json         evaluation, timing, layout, divergence
    checkpoint.msgpack   the whole training state (resume); learning_curve.png; the GIF

Every file is written atomically (temp file, fsync, rename), so a killed run leaves either
the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from rlax_lander import algos
from rlax_lander import checkpoint as ckpt
from rlax_lander import metrics as M

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.csv"
CHUNKS_FILE = "chunks.csv"
CHECKPOINT_FILE = "checkpoint.msgpack"
CURVE_FILE = "learning_curve.png"
GIF_FILE = "greedy_landing.gif"
TENSORBOARD_DIR = "tensorboard"
PARAMS_GLOB = "params_*.msgpack"


def params_file(seed_index: int) -> str:
    """File name of cell `seed_index`'s online params inside a run dir."""
    return f"params_seed{seed_index}.msgpack"


def _run_files(out: Path) -> list[Path]:
    names = [CONFIG_FILE, SUMMARY_FILE, METRICS_FILE, CHUNKS_FILE, CHECKPOINT_FILE, CURVE_FILE,
             GIF_FILE, "cells.csv", "eval.json"]
    return [out / n for n in names] + sorted(out.glob(PARAMS_GLOB)) + [out / TENSORBOARD_DIR]


def remove_orphan_temps(out) -> list[str]:
    """Delete temp files killed atomic writes left in `out`; returns their names."""
    return ckpt.remove_orphan_temps(out)


def check(out, *, resume: bool = False, overwrite: bool = False) -> None:
    """Check `out` before anything is compiled or written: a fresh run needs `out` absent or
    empty (or `overwrite`); `resume` needs a run dir with a checkpoint. ValueError names
    `out` and what to do. Changes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} exists and is not a directory")
    if resume:
        if not (out / CONFIG_FILE).is_file():
            raise ValueError(f"cannot resume {out}: not a run directory ({CONFIG_FILE} missing)")
        if not (out / CHECKPOINT_FILE).is_file():
            raise ValueError(f"cannot resume {out}: {CHECKPOINT_FILE} is missing (a run writes it "
                             "every checkpoint_every chunks and when it is interrupted)")
        return
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"out={str(out)!r} is not empty (a previous run?); resume it, or "
                         "allow overwriting, or choose another directory")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not os.access(ancestor, os.W_OK):
        raise ValueError(f"out={str(out)!r} is not writable ({ancestor} is read-only)")


def create(out, *, overwrite: bool = False) -> None:
    """Make `out` ready for a fresh run (after `check` passed and just before the first
    write): with `overwrite`, delete the files an earlier run wrote there (and only those);
    remove orphan temp files of killed writes."""
    out = Path(out)
    try:
        if overwrite and out.is_dir():
            for p in _run_files(out):
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        remove_orphan_temps(out)
    except OSError as err:
        raise ValueError(f"cannot write {out}: {err.strerror or err}") from None


def write_bytes(path, data: bytes) -> None:
    """Atomic write; a failure is a one-line ValueError naming the path (the old file stays)."""
    try:
        ckpt.write_atomic(path, data)
    except OSError as err:
        raise ValueError(str(err) if isinstance(err, ckpt.WriteError)
                         else f"cannot write {path}: {err.strerror or err}") from None


def write_json(path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_config(out, meta: dict) -> None:
    write_json(Path(out) / CONFIG_FILE, meta)


def read_config(run_dir) -> tuple:
    """(config, meta) of a run dir: the algorithm's config object and the whole JSON.
    ValueError if the file is missing or corrupt."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir!s} is not a run directory: {CONFIG_FILE} is missing")
    try:
        meta = json.loads(path.read_text())
        algo = algos.get(meta.get("algo", "dqn"))
        return algo.config_type.from_dict(meta["config"]), meta
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"corrupt {path}: {err!r}") from err


def write_params_one(out, index: int, params) -> None:
    """Cell `index`'s params (a finite numpy pytree) into `out`, with its checksum."""
    try:
        ckpt.save_params(Path(out) / params_file(index), params)
    except OSError as err:
        raise ValueError(str(err)) from None


def read_summary(run_dir) -> dict:
    """summary.json of a run dir ({} if absent or unreadable)."""
    try:
        return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_metrics(out, episodes: dict) -> None:
    """metrics.csv: one row per finished training episode (`runner.ROW_FIELDS` columns)."""
    lines = ["seed,env_step,env_index,episode_return"]
    lines += [f"{s},{t},{e},{r:.4f}" for s, t, e, r in zip(
        episodes["seed"], episodes["env_step"], episodes["env_index"], episodes["return"])]
    write_bytes(Path(out) / METRICS_FILE, ("\n".join(lines) + "\n").encode())


def write_chunks(out, chunks: dict) -> None:
    """chunks.csv: per cell and chunk, every `metrics.CHUNK_METRICS` value."""
    names = list(M.CHUNK_NAMES)
    lines = ["seed,chunk," + ",".join(names)]
    num_cells, num_chunks = chunks[names[0]].shape
    for s in range(num_cells):
        for c in range(num_chunks):
            values = [chunks[n][s, c] for n in names]
            lines.append(f"{s},{c + 1}," + ",".join(
                str(int(v)) if isinstance(v, (np.integer, np.bool_)) else f"{float(v):.6g}"
                for v in values))
    write_bytes(Path(out) / CHUNKS_FILE, ("\n".join(lines) + "\n").encode())


def read_chunks(run_dir) -> dict:
    """chunks.csv back as {name: [C, K]} arrays."""
    path = Path(run_dir) / CHUNKS_FILE
    rows = np.genfromtxt(path, delimiter=",", names=True)
    rows = np.atleast_1d(rows)
    num_cells, num_chunks = int(rows["seed"].max()) + 1, int(rows["chunk"].max())
    return {m.name: rows[m.name].reshape(num_cells, num_chunks).astype(m.dtype)
            for m in M.CHUNK_METRICS}
