"""Metric sinks: TensorBoard events (read back) and a wandb hook (fake module), end to end."""

import struct
import sys
import types

import numpy as np
import pytest

from rlax_lander import loggers
from rlax_lander.dqn.config import DQNConfig
from rlax_lander.dqn.run import run_training


def read_scalars(logdir):
    """{tag: [(step, value)]} from the TFRecord event files under `logdir`."""
    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            ev = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in ev.summary.value:
                out.setdefault(v.tag, []).append((ev.step, v.simple_value))
    return out


class FakeWandb(types.ModuleType):
    def __init__(self):
        super().__init__("wandb")
        self.inits, self.logs, self.finished = [], [], 0

    def init(self, **kwargs):
        self.inits.append(kwargs)
        fake = self

        class Run:
            def log(self, data, step=None):
                fake.logs.append((step, dict(data)))

            def finish(self):
                fake.finished += 1

        return Run()


def test_tensorboard_logger_writes_readable_events(tmp_path):
    lg = loggers.TensorBoardLogger(tmp_path / "tb")
    lg.log(10, {"train/loss": 1.5, "train/q_mean": 2.0})
    lg.log(20, {"train/loss": 0.5})
    lg.close()
    s = read_scalars(tmp_path / "tb")
    assert s["train/loss"] == [(10, 1.5), (20, 0.5)] and s["train/q_mean"] == [(10, 2.0)]


def test_missing_packages_name_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import raises ImportError
    with pytest.raises(ValueError, match=r"tensorboardX.*rlax_lander\[log\]"):
        loggers.TensorBoardLogger(tmp_path)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ValueError, match="pip install wandb"):
        loggers.WandbLogger("proj")


def test_training_logs_to_tensorboard_and_wandb(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = DQNConfig.cartpole(total_timesteps=1200, learning_starts=200, hidden_sizes=(8,),
                             buffer_size=500)
    out = tmp_path / "run"
    run_training(cfg, 1, out, eval_episodes=1, progress=False, tensorboard=True,
                 wandb_project="lander-tests")
    assert fake.inits[0]["project"] == "lander-tests"
    assert fake.inits[0]["config"]["dqn"]["total_timesteps"] == 1200
    assert fake.finished == 1
    steps = [s for s, _ in fake.logs]
    # prefill, 20 chunks of 12 iterations, the 10 remaining iterations
    assert len(steps) == 22 and steps == sorted(steps) and steps[-1] == 1200
    assert all(np.isfinite(d["train/loss"]) for _, d in fake.logs[1:])
    assert "train/loss" not in fake.logs[0][1]  # the prefill does no updates
    eps = sum(d["train/episodes"] for _, d in fake.logs)
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert eps == len(rows) > 0  # the loggers saw every finished episode
    tb = read_scalars(out / "tensorboard")
    assert [s for s, _ in tb["train/loss"]] == steps[1:]
    np.testing.assert_allclose([v for _, v in tb["train/loss"]],
                               [d["train/loss"] for _, d in fake.logs[1:]], rtol=1e-6)
    assert {"train/epsilon", "train/q_mean", "train/episodes"} <= set(tb)
