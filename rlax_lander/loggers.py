"""Optional metric sinks for training runs: TensorBoard event files and Weights & Biases.

Both take ``log(step, scalars)`` with ``step`` in env steps (per seed) and ``scalars`` a
``{tag: float}`` dict, and ``close()``. Their packages are imported only when a logger is made:
TensorBoard needs the ``log`` extra (``pip install 'rlax_lander[log]'``, i.e. tensorboardX);
wandb is not a dependency at all (``pip install wandb``). A missing package raises ValueError
naming what to install, so the CLI reports it as a clean error before training starts.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from rlax_lander.metrics import CHUNK_NAMES


class TensorBoardLogger:
    """Writes scalars to TensorBoard event files under ``logdir`` (tensorboardX)."""

    def __init__(self, logdir):
        try:
            from tensorboardX import SummaryWriter  # optional: the 'log' extra
        except ImportError as err:
            raise ValueError(
                "--tensorboard needs the tensorboardX package: install the 'log' extra "
                "(pip install 'rlax_lander[log]') or pip install tensorboardX") from err
        self.logdir = Path(logdir)
        self.writer = SummaryWriter(logdir=str(self.logdir))

    def log(self, step: int, scalars: dict) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, float(value), global_step=int(step))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class WandbLogger:
    """Logs scalars to a Weights & Biases run of ``project`` (``wandb`` imported lazily)."""

    def __init__(self, project: str, name: str | None = None, config: dict | None = None):
        try:
            wandb = importlib.import_module("wandb")
        except ImportError as err:
            raise ValueError("--wandb-project needs the wandb package (pip install wandb)") \
                from err
        self.run = wandb.init(project=project, name=name, config=config)

    def log(self, step: int, scalars: dict) -> None:
        self.run.log({k: float(v) for k, v in scalars.items()}, step=int(step))

    def close(self) -> None:
        self.run.finish()


def make_loggers(out, tensorboard: bool = False, wandb_project: str | None = None,
                 run_name: str | None = None, config: dict | None = None) -> list:
    """The loggers a run asked for: TensorBoard events in ``out/tensorboard``, a wandb run."""
    loggers = []
    if tensorboard:
        loggers.append(TensorBoardLogger(Path(out) / "tensorboard"))
    if wandb_project:
        try:
            loggers.append(WandbLogger(wandb_project, name=run_name, config=config))
        except BaseException:
            for lg in loggers:
                lg.close()
            raise
    return loggers


def log_chunk(loggers, report) -> None:
    """Send a `runner.ChunkReport` to every logger: each `metrics.CHUNK_METRICS` value per
    seed (`seed{i}/name`) and its mean over seeds (`mean/name`), at the chunk's env step."""
    if not loggers:
        return
    m = report.metrics
    step = int(np.max(m["env_step"]))
    scalars = {}
    for name in CHUNK_NAMES:
        if name == "env_step":
            continue
        values = np.asarray(m[name], np.float64)
        for i, v in enumerate(values):
            scalars[f"seed{i}/{name}"] = float(v)
        finite = values[np.isfinite(values)]
        if finite.size:
            scalars[f"mean/{name}"] = float(finite.mean())
    for lg in loggers:
        lg.log(step, scalars)
