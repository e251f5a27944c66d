"""Safe files (issue 15, items 3, 6 and 9): atomic writes that fail cleanly, orphan temps removed,
checksummed params files checked at load (corruption, truncation, architecture, divergence)."""

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import serialization

from rlax_lander import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[1]


def _params(hidden=16, obs=8, actions=4, seed=0):
    rng = np.random.default_rng(seed)
    layer = lambda i, o: {"kernel": rng.normal(size=(i, o)).astype(np.float32),  # noqa: E731
                          "bias": np.zeros(o, np.float32)}
    return {"params": {"Dense_0": layer(obs, hidden), "Dense_1": layer(hidden, actions)}}


def _template(**kw):
    return jax.eval_shape(lambda: jax.tree.map(np.asarray, _params(**kw)))


def _assert_equal_trees(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


def _temps(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".tmp"))


# ---- params files -------------------------------------------------------------------------------

def test_params_roundtrip_and_format(tmp_path):
    path = tmp_path / "params_seed0.msgpack"
    params = _params()
    ckpt.save_params(path, params)
    raw = path.read_bytes()
    assert raw[:8] == ckpt.PARAMS_MAGIC
    payload = raw[40:]
    assert raw[8:40] == __import__("hashlib").sha256(payload).digest()
    _assert_equal_trees(serialization.msgpack_restore(payload), params)  # plain flax msgpack
    _assert_equal_trees(ckpt.load_params(path, _template()), params)
    assert _temps(tmp_path) == []


@pytest.mark.parametrize("where", ["payload", "digest", "magic_last_byte"])
def test_flipped_bit_is_refused(tmp_path, where):
    path = tmp_path / "p.msgpack"
    ckpt.save_params(path, _params())
    raw = bytearray(path.read_bytes())
    index = {"payload": len(raw) - 200, "digest": 20, "magic_last_byte": 7}[where]
    raw[index] ^= 0x04  # one bit
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"p\.msgpack (is corrupt or truncated|has no checksum)"):
        ckpt.load_params(path, _template())


def test_a_flipped_exponent_bit_that_a_plain_msgpack_reader_accepts_is_refused(tmp_path):
    """The issue's case: one bit turned a weight from 0.107 into ~3.6e37 and loading succeeded."""
    path = tmp_path / "p.msgpack"
    params = _params()
    params["params"]["Dense_0"]["kernel"][0, 0] = np.float32(0.107)
    ckpt.save_params(path, params)
    raw = bytearray(path.read_bytes())
    at = bytes(raw).index(np.float32(0.107).tobytes())
    raw[at + 3] ^= 0x40  # the top exponent bit of a little-endian float32
    flipped = serialization.msgpack_restore(bytes(raw[40:]))["params"]["Dense_0"]["kernel"][0, 0]
    assert np.isfinite(flipped) and abs(flipped) > 1e30  # finite, so only the checksum sees it
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256 checksum mismatch"):
        ckpt.load_params(path, _template())


@pytest.mark.parametrize("keep", [0, 5, 8, 39, 40, 41, 0.5, -1])
def test_truncated_file_is_refused(tmp_path, keep):
    path = tmp_path / "p.msgpack"
    ckpt.save_params(path, _params())
    raw = path.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else (len(raw) + keep if keep < 0 else keep)
    path.write_bytes(raw[:n])
    with pytest.raises(ValueError, match=r"params file .*p\.msgpack (is corrupt or truncated|has no "
                                         r"checksum header)"):
        ckpt.load_params(path, _template())


def test_wrong_architecture_names_the_leaf_and_both_shapes(tmp_path):
    path = tmp_path / "p.msgpack"
    ckpt.save_params(path, _params(hidden=16))
    # leaves are compared in sorted key order (as jax flattens dicts): bias before kernel
    with pytest.raises(ValueError, match=r"p\.msgpack does not fit the network.*leaf params/Dense_0/"
                                         r"bias has shape \(16,\) float32, expected \(32,\) "
                                         r"float32$"):
        ckpt.load_params(path, _template(hidden=32))
    with pytest.raises(ValueError, match=r"leaf params/Dense_0/kernel has shape \(8, 16\) float32, "
                                         r"expected \(5, 16\) float32"):
        ckpt.load_params(path, _template(obs=5))
    with pytest.raises(ValueError, match=r"Dense_1/bias has shape \(4,\) float32, expected \(2,\)"):
        ckpt.load_params(path, _template(actions=2))
    as_f16 = jax.tree.map(lambda t: jax.ShapeDtypeStruct(t.shape, np.float16), _template())
    with pytest.raises(ValueError, match=r"Dense_0/bias has shape \(16,\) float32, expected "
                                         r"\(16,\) float16"):
        ckpt.load_params(path, as_f16)
    deeper = _template()
    deeper["params"]["Dense_2"] = deeper["params"]["Dense_1"]
    with pytest.raises(ValueError, match=r"missing leaves \['params/Dense_2/bias', "
                                         r"'params/Dense_2/kernel'\]"):
        ckpt.load_params(path, deeper)


def test_non_finite_params_are_refused_on_save_and_on_load(tmp_path):
    path = tmp_path / "p.msgpack"
    params = _params()
    params["params"]["Dense_1"]["bias"][2] = np.nan
    with pytest.raises(ValueError, match=r"refusing to write .*p\.msgpack: params leaf "
                                         r"params/Dense_1/bias holds 1 of 4 non-finite.*diverged"):
        ckpt.save_params(path, params)
    assert not path.exists() and _temps(tmp_path) == []
    ckpt.save_params(path, params, allow_non_finite=True)
    with pytest.raises(ValueError, match=r"p\.msgpack: leaf params/Dense_1/bias holds 1 of 4 "
                                         r"non-finite values \(NaN/inf\): the run that wrote it "
                                         r"diverged"):
        ckpt.load_params(path, _template())
    params["params"]["Dense_1"]["bias"][2] = np.inf
    ckpt.save_params(path, params, allow_non_finite=True)
    with pytest.raises(ValueError, match="diverged"):
        ckpt.load_params(path, _template())


def test_file_without_checksum_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "old.msgpack"
    params = _params()
    path.write_bytes(serialization.to_bytes(params))  # how runs wrote params before save_params
    with pytest.raises(ValueError, match=r"old\.msgpack has no checksum header.*allow_unchecked=True"):
        ckpt.load_params(path, _template())
    _assert_equal_trees(ckpt.load_params(path, _template(), allow_unchecked=True), params)
    with pytest.raises(ValueError, match=r"expected \(32,\)"):  # the other checks still apply
        ckpt.load_params(path, _template(hidden=32), allow_unchecked=True)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"old\.msgpack is not a valid params file"):
        ckpt.load_params(path, _template(), allow_unchecked=True)
    with pytest.raises(ValueError, match=r"cannot read params file .*missing\.msgpack"):
        ckpt.load_params(tmp_path / "missing.msgpack", _template())


def test_load_policy_fails_at_load_for_wrong_architecture_and_corrupt_params(tmp_path):
    from rlax_lander import policy
    from rlax_lander.dqn.config import DQNConfig
    from rlax_lander.dqn.train import build_network
    from rlax_lander.policy import load_policy

    cfg = DQNConfig(env_id="LunarLander-v3", hidden_sizes=(8,))
    if hasattr(policy, "CONFIG_FILE"):  # the run-dir format before `rlax_lander.rundir`
        CONFIG_FILE, params_file, meta = policy.CONFIG_FILE, policy.params_file, {"dqn": cfg.to_dict()}
    else:
        from rlax_lander.rundir import CONFIG_FILE, params_file

        meta = {"algo": "dqn", "config": cfg.to_dict()}
    tmp_path.joinpath(CONFIG_FILE).write_text(json.dumps(
        {**meta, "num_seeds": 2, "seed": 0, "eval_episodes": 1}))
    good = build_network(cfg, 4).init(jax.random.key(0), np.zeros(8, np.float32))
    ckpt.save_params(tmp_path / params_file(0), good)
    policy = load_policy(tmp_path, 0)
    assert policy(np.zeros(8, np.float32)) in range(4)
    wide = build_network(cfg.replace(hidden_sizes=(16,)), 4).init(jax.random.key(0), np.zeros(8))
    ckpt.save_params(tmp_path / params_file(1), wide)
    with pytest.raises(ValueError, match=r"params_seed1\.msgpack does not fit.*\(16,\) float32, "
                                         r"expected \(8,\) float32"):
        load_policy(tmp_path, 1)
    raw = bytearray((tmp_path / params_file(0)).read_bytes())
    raw[-3] ^= 1
    (tmp_path / params_file(0)).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"params_seed0\.msgpack is corrupt or truncated"):
        load_policy(tmp_path, 0)


# ---- atomic writes that fail ------------------------------------------------------------------

def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=REPO)


def test_file_size_limit_leaves_old_file_intact_and_names_path(tmp_path):
    """A real EFBIG: RLIMIT_FSIZE in a subprocess (it works as root, unlike chmod)."""
    path = tmp_path / "params_seed0.msgpack"
    ckpt.save_params(path, _params(hidden=4))
    old = path.read_bytes()
    proc = _run(f"""
        import resource, sys
        import numpy as np
        from rlax_lander import checkpoint as ckpt
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        big = {{"params": {{"w": np.ones((256, 256), np.float32)}}}}
        try:
            ckpt.save_params({str(path)!r}, big)
        except OSError as err:
            print(type(err).__name__, err.errno, isinstance(err, ckpt.WriteError))
            print(err)
            sys.exit(3)
    """)
    assert proc.returncode == 3, proc.stderr
    kind, message = proc.stdout.splitlines()[:2]
    assert kind == f"WriteError {errno.EFBIG} True"
    assert message.startswith(f"cannot write {path}: ") and "(EFBIG)" in message
    assert len(proc.stdout.splitlines()) == 2  # one line
    assert path.read_bytes() == old and _temps(tmp_path) == []


@pytest.mark.parametrize("fail", ["write", "fsync", "replace", "open"])
def test_full_disk_or_read_only_dir_leaves_old_file_intact(tmp_path, monkeypatch, fail):
    path = tmp_path / "metrics.csv"
    ckpt.write_atomic(path, b"old contents\n")
    code = {"write": errno.ENOSPC, "fsync": errno.ENOSPC, "replace": errno.EROFS,
            "open": errno.EACCES}[fail]

    def boom(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, fail, boom)
    with pytest.raises(ckpt.WriteError) as info:
        ckpt.write_atomic(path, b"new contents, longer than the old\n")
    monkeypatch.undo()
    message = str(info.value)
    assert message == (f"cannot write {path}: {os.strerror(code)} ({errno.errorcode[code]}); "
                       "any previous file there is unchanged")
    assert isinstance(info.value, OSError) and info.value.errno == code
    assert info.value.strerror == os.strerror(code)  # what `err.strerror or err` callers print
    assert path.read_bytes() == b"old contents\n" and _temps(tmp_path) == []


def test_save_checkpoint_on_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.msgpack"
    state = {"w": np.arange(4, dtype=np.float32)}
    ckpt.save_checkpoint(path, state, {"next_unit": 1})
    old = path.read_bytes()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(ckpt.WriteError, match=r"cannot write .*checkpoint\.msgpack: full \(ENOSPC\)"):
        ckpt.save_checkpoint(path, {"w": np.ones(4, np.float32)}, {"next_unit": 2})
    monkeypatch.undo()
    assert path.read_bytes() == old and _temps(tmp_path) == []
    assert ckpt.read_meta(path)["next_unit"] == 1


def test_missing_parent_directories_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "x.json"
    ckpt.write_atomic(path, b"{}")
    assert path.read_bytes() == b"{}"


# ---- orphan temps -------------------------------------------------------------------------------

def test_killed_write_leaves_a_recognisable_orphan_that_is_removed(tmp_path):
    path = tmp_path / "params_seed0.msgpack"
    ckpt.save_params(path, _params())
    old = path.read_bytes()
    proc = _run(f"""
        import os
        from rlax_lander import checkpoint as ckpt
        os.replace = lambda *a: os._exit(9)  # die between the fsync and the rename
        ckpt.write_atomic({str(path)!r}, b"new" * 1000)
    """)
    assert proc.returncode == 9, proc.stderr
    orphans = _temps(tmp_path)
    assert len(orphans) == 1 and orphans[0].startswith(".params_seed0.msgpack.")
    assert path.read_bytes() == old
    assert ckpt.remove_orphan_temps(tmp_path) == orphans
    assert _temps(tmp_path) == [] and path.read_bytes() == old


def test_remove_orphan_temps_keeps_live_writers_and_other_files(tmp_path):
    dead = ".checkpoint.msgpack.999999999.0a1b2c3d.tmp"  # pid beyond any pid_max
    old_style = ".checkpoint.msgpack.k3_x9q2z.tmp"  # tempfile.mkstemp, earlier versions
    live = f".metrics.csv.{os.getpid()}.deadbeef.tmp"  # this process: may be mid-write
    keep = ["notes.tmp", ".write_probe.tmp", "params_seed0.msgpack", ".hidden", live,
            ".x.123.notHEX00.tmp"]
    for name in [dead, old_style] + keep:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".dir.999999999.0a1b2c3d.tmp").mkdir()  # a directory is never removed
    keep.append(".dir.999999999.0a1b2c3d.tmp")
    assert ckpt.remove_orphan_temps(tmp_path) == sorted([dead, old_style])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert ckpt.remove_orphan_temps(tmp_path / "nope") == []
