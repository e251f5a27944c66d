"""Checkpoints: file format errors, and a SIGKILLed `train` resumed to a bit-identical result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlax_lander import checkpoint as ckpt
from rlax_lander import cli
from rlax_lander.rundir import CHECKPOINT_FILE

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["--env", "CartPole-v1", "--seeds", "2", "--total-timesteps", "2000",
         "--learning-starts", "200", "--hidden-sizes", "16,16", "--buffer-size", "1000",
         "--eval-episodes", "2", "--checkpoint-every", "1", "--progress", "false",
         "--cpu-devices", "1"]


def _state():
    return {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3), "n": jnp.int32(7),
            "key": jax.random.split(jax.random.key(3), 2), "nested": (jnp.ones(4, bool),)}


def test_roundtrip_keeps_values_keys_and_meta(tmp_path):
    path = tmp_path / "c.msgpack"
    state = _state()
    ckpt.save_checkpoint(path, state, {"config": {"gamma": 0.99}, "next_unit": 3},
                         {"rows": np.arange(5)})
    template = jax.eval_shape(lambda: _state())
    got, meta, extra = ckpt.load_checkpoint(path, template, {"config": {"gamma": 0.99}})
    assert meta["next_unit"] == 3
    np.testing.assert_array_equal(extra["rows"], np.arange(5))
    np.testing.assert_array_equal(got["w"], state["w"])
    assert got["n"] == 7 and got["nested"][0].dtype == bool
    np.testing.assert_array_equal(jax.random.key_data(got["key"]),
                                  jax.random.key_data(state["key"]))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temp left behind


def test_corrupt_and_mismatched_checkpoints_name_file_and_problem(tmp_path):
    path = tmp_path / "c.msgpack"
    ckpt.save_checkpoint(path, _state(), {"config": {"gamma": 0.99, "batch_size": 64}})
    template = jax.eval_shape(lambda: _state())
    raw = path.read_bytes()
    bad = tmp_path / "truncated.msgpack"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"truncated\.msgpack.*truncated or corrupt"):
        ckpt.load_checkpoint(bad, template)
    bad.write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r"truncated\.msgpack.*not an rlax_lander checkpoint"):
        ckpt.load_checkpoint(bad, template)
    bad.write_bytes(raw[:50] + bytes(b ^ 0xFF for b in raw[50:60]) + raw[60:])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        ckpt.load_checkpoint(bad, template)
    with pytest.raises(ValueError, match=r"c\.msgpack.*different run.*config\.gamma: "
                                         r"checkpoint 0\.99 != requested 0\.9"):
        ckpt.load_checkpoint(path, template, {"config": {"gamma": 0.9, "batch_size": 64}})
    wrong = jax.eval_shape(lambda: {**_state(), "w": jnp.zeros((3, 3))})
    with pytest.raises(ValueError, match=r"c\.msgpack.*\['w'\].*\(2, 3\).*expected \(3, 3\)"):
        ckpt.load_checkpoint(path, wrong)
    fewer = jax.eval_shape(lambda: {k: v for k, v in _state().items() if k != "n"})
    with pytest.raises(ValueError, match=r"different state structure.*\['n'\]"):
        ckpt.load_checkpoint(path, fewer)
    assert path.read_bytes() == raw  # reading never modifies the file


def _wait_and_kill(proc, ckpt_path, timeout=240.0):
    t0 = time.time()
    while not ckpt_path.exists():
        if proc.poll() is not None or time.time() - t0 > timeout:
            proc.kill()
            out = proc.communicate()[0]
            pytest.fail(f"no checkpoint appeared (rc={proc.returncode}):\n{out[-2000:]}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkilled_run_resumes_bit_identical(tmp_path, capsys):
    killed = tmp_path / "killed"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "rlax_lander", "train", *FLAGS,
                             "--out", str(killed)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_and_kill(proc, killed / CHECKPOINT_FILE)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "params_seed0.msgpack").exists()  # killed mid-way
    meta = ckpt.read_meta(killed / CHECKPOINT_FILE)
    assert 1 <= meta["next_chunk"] < meta["num_chunks"]

    assert cli.main(["train", "--resume", str(killed)]) == 0
    assert "resuming" in capsys.readouterr().out
    ref = tmp_path / "ref"
    assert cli.main(["train", *FLAGS, "--out", str(ref)]) == 0
    for name in ("params_seed0.msgpack", "params_seed1.msgpack", "metrics.csv", "chunks.csv",
                 CHECKPOINT_FILE):
        assert (killed / name).read_bytes() == (ref / name).read_bytes(), name
    assert len((ref / "metrics.csv").read_text().splitlines()) > 10
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(ref)]) == 0  # a finished run: no work to time
    assert "trained in 0.0s (no new steps" in capsys.readouterr().out

    # failed runs leave the last good checkpoint alone
    good = (ref / CHECKPOINT_FILE).read_bytes()
    capsys.readouterr()
    assert cli.main(["train", *FLAGS, "--out", str(ref)]) == 2  # non-empty, no --resume
    assert "not empty" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(ref), "--gamma", "0.9"]) == 2
    assert "--gamma cannot change a resumed run" in capsys.readouterr().err
    assert (ref / CHECKPOINT_FILE).read_bytes() == good
    # a checkpoint copied in from another config is refused
    meta_json = json.loads((killed / "config.json").read_text())
    meta_json["config"]["gamma"] = 0.9
    (killed / "config.json").write_text(json.dumps(meta_json))
    assert cli.main(["train", "--resume", str(killed)]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.msgpack" in err and "config.gamma" in err
    (killed / CHECKPOINT_FILE).write_bytes(good[: len(good) - 100])
    assert cli.main(["train", "--resume", str(killed)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "cannot resume" in capsys.readouterr().err


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_after_the_chunk_with_a_checkpoint(tmp_path, sig, code):
    out = tmp_path / "run"
    flags = [*FLAGS[:5], "200000", *FLAGS[6:]]
    flags[flags.index("--checkpoint-every") + 1] = "0"
    flags[flags.index("--progress") + 1] = "true"
    proc = subprocess.Popen([sys.executable, "-m", "rlax_lander", "train", *flags, "--out",
                             str(out)], cwd=REPO, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "[  1/20]" in line:
            proc.send_signal(sig)
            break
    rest = proc.communicate(timeout=300)[0]
    text = "".join(lines) + rest
    assert proc.returncode == code, text[-2000:]
    assert f"continue with: python -m rlax_lander train --resume {out}" in text
    assert "Traceback" not in text
    meta = ckpt.read_meta(out / CHECKPOINT_FILE)
    assert 1 <= meta["next_chunk"] < 20
    assert not (out / "params_seed0.msgpack").exists()
