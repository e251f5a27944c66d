"""Scale-out: `run_cells` over several devices equals the unsharded vmap; two processes joined
by `jax.distributed` equal one process and only process 0 writes; bad flags fail early.

Multi-device checks run in subprocesses: the device count is fixed when JAX starts
(XLA_FLAGS=--xla_force_host_platform_device_count=K or --cpu-devices K).
"""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlax_lander import cli, parallel
from rlax_lander.commands.ablate import parse_grid

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--env", "CartPole-v1", "--total-timesteps", "1800", "--learning-starts", "200",
        "--buffer-size", "500", "--batch-size", "32", "--hidden-sizes", "16,16",
        "--eval-episodes", "5", "--progress", "false"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ grids (in-process, cheap)
def test_make_grid_flattens_seeds_x_grid():
    import jax

    from rlax_lander.dqn import DQNConfig
    from rlax_lander.parallel import seed_keys

    cfg = DQNConfig.cartpole()
    g = parallel.make_grid(cfg, {"learning_rate": [1e-3, 3e-4], "tau": [0.1, 1.0, 0.5]},
                           num_seeds=2, seed=7)
    assert len(g.cells) == 2 * 3 * 2 == g.hparams.learning_rate.shape[0]
    # cell = grid_index * seeds + seed_index; the last grid name varies fastest
    c = g.cells[2 * 4 + 1]
    assert (c["cell"], c["grid_index"], c["seed_index"]) == (9, 4, 1)
    assert (c["learning_rate"], c["tau"], c["gamma"]) == (3e-4, 1.0, cfg.gamma)
    assert np.allclose(np.asarray(g.hparams.tau), [0.1, 0.1, 1.0, 1.0, 0.5, 0.5] * 2)
    # seed s of every grid point has the key `train` gives seed s
    want = np.asarray(jax.random.key_data(seed_keys(7, 2)))
    got = np.asarray(jax.random.key_data(g.keys))
    assert np.array_equal(got, np.tile(want, (6, 1)))
    assert len(parallel.make_grid(cfg, {}, 3).cells) == 3


def test_make_grid_rejects_bad_names_and_values():
    from rlax_lander.dqn import DQNConfig

    cfg = DQNConfig.cartpole()
    with pytest.raises(ValueError, match="hidden_sizes.*allowed: learning_rate"):
        parallel.make_grid(cfg, {"hidden_sizes": [1, 2]}, 2)
    with pytest.raises(ValueError, match="gamma"):  # range check from DQNConfig
        parallel.make_grid(cfg, {"gamma": [0.9, 1.5]}, 2)
    with pytest.raises(ValueError, match="num_seeds"):
        parallel.make_grid(cfg, {}, 0)
    assert parse_grid(["learning_rate=1e-3,3e-4", "tau=1"]) == {
        "learning_rate": [1e-3, 3e-4], "tau": [1.0]}
    for bad in (["learning_rate"], ["learning_rate="], ["lr=a,b"], ["tau=1", "tau=2"]):
        with pytest.raises(ValueError, match="--grid"):
            parse_grid(bad)


def test_run_cells_single_device_matches_vmap_and_checks_shapes():
    import jax
    import jax.numpy as jnp

    def fn(key, h):
        return {"x": jax.random.normal(key, (3,)) * h["a"], "s": h["a"] + 1.0}

    keys = jax.random.split(jax.random.key(0), 5)
    hp = {"a": jnp.arange(5, dtype=jnp.float32)}
    stats = {}
    out = parallel.run_cells(fn, keys, hp, stats=stats)
    ref = jax.vmap(fn)(keys, hp)
    assert isinstance(out["x"], np.ndarray) and out["x"].shape == (5, 3)
    np.testing.assert_allclose(out["x"], np.asarray(ref["x"]), atol=1e-6)
    assert stats["num_devices"] == len(jax.devices()) and stats["padded_cells"] % len(
        jax.devices()) == 0
    with pytest.raises(ValueError, match="leading"):
        parallel.run_cells(fn, keys, {"a": jnp.zeros(5), "b": jnp.zeros(4)})
    with pytest.raises(ValueError, match="keys has 5 cells"):
        parallel.run_cells(fn, keys, {"a": jnp.zeros(4)})
    with pytest.raises(ValueError, match="devices=.*out of range"):
        parallel.resolve_devices(len(jax.devices()) + 1)


# ------------------------------------------------------------------ 4 devices in one process
SHARDED_SCRIPT = r"""
import json, jax, numpy as np
from rlax_lander import dqn, parallel
from rlax_lander.env.registry import make as make_env
assert len(jax.devices()) == 4, jax.devices()
cfg = dqn.DQNConfig.cartpole(total_timesteps=1800, learning_starts=200, buffer_size=500,
                             batch_size=32, hidden_sizes=(16, 16))
env, env_params = make_env(cfg.env_id)
train = dqn.make_train(cfg, env, env_params)
grid = parallel.make_grid(cfg, {"learning_rate": [1e-3, 3e-4]}, num_seeds=8, seed=0)
ref = jax.jit(jax.vmap(train))(grid.keys, grid.hparams)
ref_p = jax.tree.map(np.asarray, ref.params)
def maxdiff(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
out = {}
s16 = {}
r16 = parallel.run_cells(train, grid.keys, grid.hparams, stats=s16)
out["diff16"] = maxdiff(r16.params, ref_p)
out["returns_equal16"] = bool(np.array_equal(r16.metrics["episode_end_return"],
                                             np.asarray(ref.metrics["episode_end_return"])))
out["stats16"] = s16
sub = lambda t: jax.tree.map(lambda x: x[:6], t)
s6 = {}
r6 = parallel.run_cells(train, grid.keys[:6], sub(grid.hparams), stats=s6)
out["diff6"] = maxdiff(r6.params, sub(ref_p))
out["shape6"] = list(r6.metrics["loss"].shape)
out["stats6"] = s6
# different cells really differ (the comparison is not vacuous)
out["cell_spread"] = maxdiff(sub(ref_p), jax.tree.map(lambda x: x[6:12], ref_p))
print("RESULT" + json.dumps(out))
"""


def test_sharded_over_four_devices_matches_unsharded_vmap():
    proc = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], capture_output=True, text=True,
                          timeout=400, cwd=ROOT,
                          env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    r = json.loads(line[len("RESULT"):])
    assert r["stats16"]["num_devices"] == 4 and r["stats16"]["padded_cells"] == 16
    assert r["diff16"] <= 1e-6 and r["returns_equal16"]
    assert r["stats6"]["padded_cells"] == 8  # 6 cells padded to 8, padding dropped
    assert r["shape6"][0] == 6 and r["diff6"] <= 1e-6
    assert r["cell_spread"] > 1e-3


# ------------------------------------------------------------------ two processes
def _read_cells(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _read_params(path):
    import jax
    from flax import serialization

    from rlax_lander.checkpoint import PARAMS_MAGIC

    payload = Path(path).read_bytes()[len(PARAMS_MAGIC) + 32:]  # after the SHA-256 header
    return jax.tree.leaves(serialization.msgpack_restore(payload))


def test_two_processes_match_one_process_and_only_process_0_writes(tmp_path):
    args = [sys.executable, "-m", "rlax_lander", "ablate", *TINY, "--seeds", "3",
            "--grid", "learning_rate=1e-3,3e-4"]
    port = _free_port()
    multi = ["--cpu-devices", "2", "--coordinator", f"127.0.0.1:{port}",
             "--num-processes", "2", "--init-timeout", "120"]
    procs = {
        "single": subprocess.Popen(args + ["--out", str(tmp_path / "single")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=tmp_path, env=_env()),
    }
    for i in (0, 1):
        procs[i] = subprocess.Popen(args + multi + ["--process-id", str(i),
                                                    "--out", str(tmp_path / f"p{i}")],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    cwd=tmp_path, env=_env())
    logs = {}
    try:
        for name, p in procs.items():
            logs[name] = p.communicate(timeout=420)[0]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    for name, p in procs.items():
        assert p.returncode == 0, f"{name}:\n{logs[name][-3000:]}"
    assert (tmp_path / "p0" / "cells.csv").is_file()
    assert not (tmp_path / "p1").exists()  # only process 0 writes
    meta = json.loads((tmp_path / "p0" / "config.json").read_text())
    assert meta["layout"]["processes"] == 2 and meta["layout"]["devices"] == 4
    assert meta["num_cells"] == 6
    multi_cells = _read_cells(tmp_path / "p0" / "cells.csv")
    single_cells = _read_cells(tmp_path / "single" / "cells.csv")
    assert len(multi_cells) == 6
    for a, b in zip(multi_cells, single_cells):
        for k in ("cell", "grid_index", "seed_index", "learning_rate", "episodes"):
            assert a[k] == b[k], k
        for k in ("greedy_return", "final_train_return"):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=1e-3), k
    for i in range(6):
        pm = _read_params(tmp_path / "p0" / f"params_seed{i}.msgpack")
        ps = _read_params(tmp_path / "single" / f"params_seed{i}.msgpack")
        for a, b in zip(pm, ps):
            np.testing.assert_allclose(a, b, atol=1e-6)
    assert (tmp_path / "p0" / "metrics.csv").read_text() == \
        (tmp_path / "single" / "metrics.csv").read_text()


# ------------------------------------------------------------------ bad input
def test_bad_process_flags_are_clean_errors(capsys):
    with pytest.raises(ValueError, match=r"num_processes=0 is out of range; allowed: >= 1"):
        parallel.check_distributed_flags("127.0.0.1:1234", 0, 0)
    with pytest.raises(ValueError, match=r"process_id=2 is out of range; allowed: 0\.\.1"):
        parallel.check_distributed_flags("127.0.0.1:1234", 2, 2)
    with pytest.raises(ValueError, match=r"process_id=-1 is out of range"):
        parallel.check_distributed_flags("127.0.0.1:1234", 2, -1)
    with pytest.raises(ValueError, match="coordinator.*HOST:PORT"):
        parallel.check_distributed_flags("localhost", 2, 0)
    with pytest.raises(ValueError, match="coordinator.*HOST:PORT"):
        parallel.check_distributed_flags("localhost:99999", 2, 0)
    with pytest.raises(ValueError, match="process_id missing"):
        parallel.check_distributed_flags("127.0.0.1:1234", 2, None)
    parallel.check_distributed_flags(None, None, None)  # single process: fine
    # through the CLI: exit code 2 and the flag named, before any JAX work
    assert cli.main(["ablate", "--coordinator", "127.0.0.1:1234", "--num-processes", "0",
                     "--process-id", "0"]) == 2
    assert "--num-processes=0" in capsys.readouterr().err
    assert cli.main(["ablate", "--coordinator", "127.0.0.1:1234", "--num-processes", "2",
                     "--process-id", "5"]) == 2
    assert "--process-id=5 is out of range; allowed: 0..1" in capsys.readouterr().err


UNREACHABLE_SCRIPT = r"""
import json, sys
from rlax_lander import parallel
out = {}
port = int(sys.argv[1])
for name, coord, pid in (("worker", f"127.0.0.1:{port}", 1), ("coordinator", "192.0.2.1:%d" % port, 0)):
    try:
        parallel.init_distributed(coord, 2, pid, timeout_s=3)
        out[name] = "joined"
    except parallel.DistributedInitError as err:
        out[name] = str(err)
print("RESULT" + json.dumps(out))
"""


def test_unreachable_coordinator_fails_within_the_timeout(tmp_path):
    port = _free_port()  # nothing listens there
    # a hang would exceed the subprocess timeout and fail the test
    proc = subprocess.run([sys.executable, "-c", UNREACHABLE_SCRIPT, str(port)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1][6:])
    assert f"coordinator 127.0.0.1:{port} is unreachable" in r["worker"]
    assert "cannot bind" in r["coordinator"]  # 192.0.2.1 (TEST-NET) is not this host
    # the CLI: exit code 1, one clear line, nothing written
    proc = subprocess.run([sys.executable, "-m", "rlax_lander", "ablate", *TINY,
                           "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                           "--process-id", "1", "--init-timeout", "3",
                           "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=_env())
    assert proc.returncode == 1
    assert "error: --coordinator" in proc.stderr and "unreachable" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


TRAIN_2DEV = ["train", *TINY, "--seeds", "3", "--cpu-devices", "2"]


def test_train_shards_over_two_cpu_devices_bit_identically(tmp_path):
    """`train --cpu-devices 2` shards 3 seeds (padded to 4) over two XLA CPU devices, says so
    in config.json and summary.json, and the same command gives the same bits twice."""
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "rlax_lander", *TRAIN_2DEV, "--out",
                               str(out)], capture_output=True, text=True, timeout=400,
                              cwd=tmp_path, env=_env())
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "sharded over 2 cpu device(s)" in proc.stdout
        runs.append(out)
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["layout"]["devices"] == 2 and summary["layout"]["padded_cells"] == 4
    assert json.loads((runs[0] / "config.json").read_text())["layout"]["devices"] == 2
    for name in ("params_seed0.msgpack", "params_seed2.msgpack", "metrics.csv", "chunks.csv"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
