"""Metric sinks: TensorBoard events (read back) and a wandb hook (fake module), end to end."""

import struct
import sys
import types

import numpy as np
import pytest

from rlax_lander import cli, loggers


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
    out = tmp_path / "run"
    assert cli.main(["train", "--env", "CartPole-v1", "--seeds", "2", "--total-timesteps",
                     "1200", "--learning-starts", "200", "--hidden-sizes", "8",
                     "--buffer-size", "500", "--eval-episodes", "1", "--progress", "false",
                     "--tensorboard", "--wandb-project", "lander-tests", "--out",
                     str(out)]) == 0
    assert fake.inits[0]["project"] == "lander-tests"
    assert fake.inits[0]["config"]["config"]["total_timesteps"] == 1200
    assert fake.finished == 1
    steps = [s for s, _ in fake.logs]
    assert len(steps) == 20 and steps == sorted(steps)  # one entry per chunk
    for _, d in fake.logs:  # every declared metric, per seed and as the mean over seeds
        for name in ("loss", "q_mean", "q_abs_max", "epsilon", "episodes", "nonfinite"):
            assert {f"seed0/{name}", f"seed1/{name}", f"mean/{name}"} <= set(d), name
        assert d["mean/loss"] == pytest.approx((d["seed0/loss"] + d["seed1/loss"]) / 2)
    eps = sum(d["seed0/episodes"] + d["seed1/episodes"] for _, d in fake.logs)
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    prefill_rows = [r for r in rows if int(r.split(",")[1]) <= 200]
    assert eps == len(rows) - len(prefill_rows) > 0  # every episode of the chunks
    tb = read_scalars(out / "tensorboard")
    assert [s for s, _ in tb["seed1/loss"]] == steps
    np.testing.assert_allclose([v for _, v in tb["seed1/loss"]],
                               [d["seed1/loss"] for _, d in fake.logs], rtol=1e-6)
    assert {"mean/epsilon", "mean/q_mean", "seed0/episode_return"} <= set(tb)
