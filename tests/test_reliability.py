"""Nothing lost, nothing silent: diverged runs, a kill during evaluation, --overwrite, orphan
temp files."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from rlax_lander import checkpoint, cli, load_policy, policy

REPO = Path(__file__).resolve().parents[1]
TINY = ["--env", "CartPole-v1", "--seeds", "2", "--total-timesteps", "2000",
        "--learning-starts", "200", "--hidden-sizes", "16,16", "--eval-episodes", "3",
        "--progress", "false", "--cpu-devices", "1"]


def test_diverged_training_exits_non_zero_and_saves_nothing_as_a_result(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", *TINY, "--learning-rate", "1e10", "--max-grad-norm", "none",
                   "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "seed 0 DIVERGED" in err and "seed 1 DIVERGED" in err and "every seed diverged" in err
    assert not list(out.glob("params_*"))
    summary = json.loads((out / "summary.json").read_text())
    assert [d["seed_index"] for d in summary["diverged"]] == [0, 1]
    assert all(0 < d["env_step"] <= 2000 for d in summary["diverged"])
    assert summary["evaluation"] is None
    with pytest.raises(ValueError, match="diverged"):
        load_policy(str(out), seed_index=0)


def test_nan_params_are_refused_at_load(tmp_path, make_run_dir):
    run = make_run_dir(tmp_path / "run", "CartPole-v1", 4, 2)
    path = run / "params_seed0.msgpack"
    _, params, _ = policy.load_params(run, 0)
    params = jax.tree.map(lambda x: np.full_like(x, np.nan), params)
    checkpoint.save_params(path, params, allow_non_finite=True)
    with pytest.raises(ValueError, match="non-finite"):
        load_policy(str(run), seed_index=0)


def test_kill_during_evaluation_keeps_loadable_checked_params(tmp_path):
    out = tmp_path / "run"
    flags = [*TINY]
    flags[flags.index("--eval-episodes") + 1] = "20000"  # evaluation long enough to be hit
    flags[flags.index("--progress") + 1] = "true"
    proc = subprocess.Popen([sys.executable, "-m", "rlax_lander", "train", *flags, "--out",
                             str(out)], cwd=REPO, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("trained in"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluation"] is None  # killed before evaluation finished
    for i in (0, 1):
        policy = load_policy(str(out), seed_index=i)  # checksum, shapes, finiteness checked
        assert policy(np.zeros(4, np.float32)) in (0, 1)
    assert (out / "metrics.csv").is_file() and (out / "chunks.csv").is_file()


def test_overwrite_clears_the_old_run_and_orphan_temps_go(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("params_seed7.msgpack", "greedy_landing.gif", "summary.json", "cells.csv"):
        (out / name).write_bytes(b"old")
    (out / ".metrics.csv.12345.0badbeef.tmp").write_bytes(b"orphan")
    (out / "notes.txt").write_text("mine\n")
    assert cli.main(["train", *TINY, "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "params_seed7.msgpack").read_bytes() == b"old"
    assert cli.main(["train", *TINY, "--out", str(out), "--overwrite"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "params_seed7.msgpack" not in names and "greedy_landing.gif" not in names
    assert "cells.csv" not in names and not [n for n in names if n.endswith(".tmp")]
    assert "notes.txt" in names  # files a run did not write are left alone
    assert json.loads((out / "summary.json").read_text())["env_id"] == "CartPole-v1"
