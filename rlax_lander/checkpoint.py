"""Safe files: atomic writes, orphan temp cleanup, checkpoints and checksummed params files.

Atomic writes (``write_atomic``): the bytes go to a temp file ``.NAME.<pid>.<8 hex>.tmp`` in the
target's directory, are flushed and fsynced, then ``os.replace``d over ``NAME``, and the directory
is fsynced, so a crash (even SIGKILL) leaves either the old complete file or the new one, plus at
worst an orphan temp that ``remove_orphan_temps`` recognises by its name. A failed write (read-only
directory, full disk, file-size limit, ...) removes its temp, leaves the old file untouched and
raises ``WriteError`` (an ``OSError``) whose message is one line naming the path and the cause.

Checkpoint format (one file): ``MAGIC`` (8 bytes) + SHA-256 of the payload (32 bytes) + payload,
where the payload is flax.serialization msgpack of ``{"meta": <JSON text>, "leaves": {path:
array}, "keys": {path: PRNG impl name}, "extra": {name: array}}``. Leaves are stored flat under
their ``jax.tree_util.keystr`` paths, so a mismatch names the leaf. PRNG key arrays are stored as
their raw key data plus the impl name. Reading never executes code (no pickle): msgpack decodes
to dicts, strings and numpy arrays only, and the structure is rebuilt from a template the caller
supplies (e.g. ``jax.eval_shape`` of the training state's init).

Params format (``save_params`` / ``load_params``, one file, the checksum in a header rather than a
sidecar so the two can never drift apart): ``PARAMS_MAGIC`` (8 bytes, ``b"RLXPARM1"``) + SHA-256
of the payload (32 bytes) + payload, the payload being exactly ``flax.serialization.to_bytes``
of the params tree. ``tail -c +41 FILE`` therefore gives a plain flax msgpack file. Files written
before this format (plain flax msgpack, no header) are refused by default, with a message saying
so; ``load_params(..., allow_unchecked=True)`` reads them with every other check still applied.

Every problem with a file raises ValueError naming the file and what is wrong: not a checkpoint,
truncated/corrupt (digest mismatch), written for another run (metadata fields differ), holding
other leaves/shapes/dtypes than the template, or (params) non-finite values.
"""

from __future__ import annotations

import errno as _errno
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

MAGIC = b"RLXCKPT1"
PARAMS_MAGIC = b"RLXPARM1"
_DIGEST = 32
FORMAT = "rlax_lander.checkpoint"
VERSION = 1

# ``.NAME.<pid>.<8 hex>.tmp`` (write_atomic) and ``.NAME.<8 of [a-z0-9_]>.tmp`` (tempfile.mkstemp,
# used by earlier versions of this module).
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")
_OLD_TEMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


class WriteError(OSError):
    """A write that failed (``errno``/``strerror`` are the cause's); ``str()`` is one line naming
    the path and the cause. The file previously at the path, if any, is unchanged."""

    def __init__(self, path, cause: OSError):
        super().__init__(cause.errno, cause.strerror)
        code = _errno.errorcode.get(cause.errno, "") if cause.errno else ""
        what = cause.strerror or str(cause) or type(cause).__name__
        self.path = str(path)
        self.message = (f"cannot write {path}: {what}{f' ({code})' if code else ''}; "
                        "any previous file there is unchanged")

    def __str__(self) -> str:
        return self.message


def _temp_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _fsync_dir(directory: Path) -> None:
    try:  # make the rename itself durable; some file systems cannot fsync a directory
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename over,
    fsync the directory). Missing parent directories are created.

    Args:
      path: target file (str or Path).
      data: the complete new contents.
    Raises:
      WriteError: (an OSError) on any OS error -- read-only directory (EROFS/EACCES), full disk
        (ENOSPC), file-size limit (EFBIG), ...; one line naming ``path`` and the cause. The temp
        file is removed and an existing file at ``path`` is left intact.
    """
    path = Path(path)
    tmp = path.parent / _temp_name(path.name)
    fd = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException as err:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise WriteError(path, err) from None
        raise
    _fsync_dir(path.parent)


atomic_write_bytes = write_atomic  # the name earlier callers use


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: the process exists
        return True
    return True


def remove_orphan_temps(directory) -> list[str]:
    """Delete the temp files that killed atomic writes left in ``directory`` (not recursive).

    A temp is recognised by its name (``.NAME.<pid>.<8 hex>.tmp``, or the ``.NAME.<8 chars>.tmp``
    of earlier versions). One whose writer process is still alive is kept (it may be mid-write).

    Args:
      directory: a directory (a missing one has no orphans).
    Returns:
      The removed file names, sorted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for p in directory.iterdir():
        m = _TEMP_RE.match(p.name)
        if m is not None:
            if _pid_alive(int(m["pid"])):
                continue
        elif _OLD_TEMP_RE.match(p.name) is None:
            continue
        if p.is_file() and not p.is_symlink():
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p.name)
    return sorted(removed)


def _is_key(x) -> bool:

    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _key_impl_name(x) -> str:

    try:
        return str(jax.random.key_impl(x))
    except TypeError:  # ShapeDtypeStruct templates
        return str(x.dtype._impl.name)


def _flatten(tree) -> tuple[dict, dict, Any]:
    """({path: leaf}, {path: key impl} for PRNG key leaves, treedef)."""

    pairs, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves, keys = {}, {}
    for path, leaf in pairs:
        name = jax.tree_util.keystr(path)
        if name in leaves:
            raise ValueError(f"two leaves share the path {name!r}")
        leaves[name] = leaf
        if _is_key(leaf):
            keys[name] = _key_impl_name(leaf)
    return leaves, keys, treedef


def save_checkpoint(path, state, meta: dict, extra: dict | None = None) -> None:
    """Atomically write ``state`` (a pytree of arrays, PRNG keys allowed), the JSON-able
    ``meta`` dict and ``extra`` ({name: array}, e.g. metrics so far) to ``path``.

    Raises ``WriteError`` (an OSError, one line naming the path) if the file cannot be written;
    the previous checkpoint at ``path`` then stays intact."""

    leaves, keys, _ = _flatten(state)
    data = {name: np.asarray(jax.random.key_data(x) if name in keys else x)
            for name, x in leaves.items()}
    extra = {str(k): np.asarray(v) for k, v in (extra or {}).items()}
    full_meta = {"format": FORMAT, "version": VERSION, **meta}
    payload = serialization.msgpack_serialize(
        {"meta": json.dumps(full_meta, sort_keys=True), "leaves": data, "keys": keys,
         "extra": extra})
    write_atomic(path, MAGIC + hashlib.sha256(payload).digest() + payload)


def _read_payload(path) -> dict:

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err
    if raw[:len(MAGIC)] != MAGIC:
        raise ValueError(f"{path} is not an rlax_lander checkpoint (bad header; corrupt or "
                         "another file type)")
    digest, payload = raw[len(MAGIC):len(MAGIC) + _DIGEST], raw[len(MAGIC) + _DIGEST:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"checkpoint {path} is truncated or corrupt (checksum mismatch, "
                         f"{len(raw)} bytes)")
    try:
        obj = serialization.msgpack_restore(payload)
        meta = json.loads(obj["meta"])
        ok = (isinstance(meta, dict) and meta.get("format") == FORMAT
              and isinstance(obj["leaves"], dict) and isinstance(obj["keys"], dict)
              and isinstance(obj["extra"], dict))
    except Exception as err:  # msgpack/JSON errors come in several types
        raise ValueError(f"checkpoint {path} is corrupt: {err}") from err
    if not ok:
        raise ValueError(f"checkpoint {path} is corrupt: unexpected layout")
    if meta.get("version") != VERSION:
        raise ValueError(f"checkpoint {path} has format version {meta.get('version')!r}; "
                         f"this code reads version {VERSION}")
    obj["meta"] = meta
    return obj


def read_meta(path) -> dict:
    """The metadata dict of the checkpoint at ``path`` (ValueError if unreadable/corrupt)."""
    return _read_payload(path)["meta"]


def _diff(a, b, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            name = f"{prefix}.{k}" if prefix else str(k)
            if k not in a:
                out.append(f"{name}: missing in checkpoint")
            elif k not in b:
                out.append(f"{name}: not expected")
            else:
                out.extend(_diff(a[k], b[k], name))
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return [] if list(a) == list(b) else [f"{prefix}: checkpoint {a!r} != requested {b!r}"]
    return [] if a == b else [f"{prefix}: checkpoint {a!r} != requested {b!r}"]


def check_meta(path, meta: dict, expected: dict) -> None:
    """ValueError naming ``path`` and each field where ``meta`` differs from ``expected``
    (only the keys of ``expected`` are compared)."""
    diffs = _diff({k: meta.get(k) for k in expected}, expected)
    if diffs:
        raise ValueError(f"checkpoint {path} was written for a different run: "
                         + "; ".join(diffs))


def load_checkpoint(path, template, expected_meta: dict | None = None):
    """Read ``path`` back into the structure of ``template``.

    template: a pytree like the saved state (arrays or ``jax.ShapeDtypeStruct``s, e.g. from
      ``jax.eval_shape``); leaf paths, shapes and dtypes must match exactly.
    expected_meta: if given, each of its keys must equal the stored metadata's.
    Returns (state as numpy arrays / PRNG key arrays, meta dict, extra {name: np.ndarray}).
    Raises ValueError naming the file and the mismatch.
    """

    obj = _read_payload(path)
    meta = obj["meta"]
    if expected_meta is not None:
        check_meta(path, meta, expected_meta)
    t_leaves, t_keys, treedef = _flatten(template)
    stored, stored_keys = obj["leaves"], obj["keys"]
    missing = [k for k in t_leaves if k not in stored]
    unexpected = [k for k in stored if k not in t_leaves]
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} holds a different state structure: missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]}")
    out = []
    for name, t in t_leaves.items():
        arr = stored[name]
        if not isinstance(arr, np.ndarray):
            arr = np.asarray(arr)
        if name in t_keys:
            impl = stored_keys.get(name)
            if impl != t_keys[name]:
                raise ValueError(f"checkpoint {path}: leaf {name} is a PRNG key of impl "
                                 f"{impl!r}, expected {t_keys[name]!r}")
            want = jax.eval_shape(jax.random.key_data, t)
        else:
            want = t
        w_shape, w_dtype = tuple(want.shape), np.dtype(want.dtype)
        if arr.shape != w_shape or arr.dtype != w_dtype:
            raise ValueError(f"checkpoint {path}: leaf {name} has shape {arr.shape} "
                             f"{arr.dtype}, expected {w_shape} {w_dtype}")
        out.append(jax.random.wrap_key_data(arr, impl=t_keys[name]) if name in t_keys
                   else arr)
    extra = {k: np.asarray(v) for k, v in obj["extra"].items()}
    return jax.tree_util.tree_unflatten(treedef, out), meta, extra


def _leaf_name(path: tuple) -> str:
    return "/".join(str(k) for k in path)


def _flat_state(tree: dict, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    """[(path, leaf)] of a nested state dict (flax ``to_state_dict`` form), in key order."""
    if isinstance(tree, dict):
        out = []
        for k in tree:
            out.extend(_flat_state(tree[k], prefix + (k,)))
        return out
    return [(prefix, tree)]


def _non_finite_leaf(state: dict) -> tuple[str, int, int] | None:
    """(leaf name, number of non-finite entries, leaf size) of the first leaf holding a NaN/inf."""
    for path, leaf in _flat_state(state):
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            if bad:
                return _leaf_name(path), bad, int(arr.size)
    return None


def save_params(path, params, *, allow_non_finite: bool = False) -> None:
    """Write a params tree atomically as ``PARAMS_MAGIC + sha256(payload) + payload``, the payload
    being ``flax.serialization.to_bytes(params)`` (see the module docstring).

    Args:
      path: target file, e.g. ``run_dir / "params_seed0.msgpack"``.
      params: a pytree of arrays (numpy or jax), e.g. a flax ``{"params": {...}}`` dict of one seed.
      allow_non_finite: write params holding NaN/inf too (e.g. to inspect a diverged run); by
        default they are refused, so diverged params are never saved as if they were a result.
    Raises:
      ValueError: non-finite params (naming the first such leaf), unless ``allow_non_finite``.
      WriteError: (an OSError) the file cannot be written; one line naming the path and the cause.
    """

    state = serialization.to_state_dict(params)
    bad = None if allow_non_finite else _non_finite_leaf(state)
    if bad is not None:
        name, count, size = bad
        raise ValueError(f"refusing to write {path}: params leaf {name} holds {count} of {size} "
                         "non-finite values (the training run diverged)")
    payload = serialization.to_bytes(params)
    write_atomic(path, PARAMS_MAGIC + hashlib.sha256(payload).digest() + payload)


def load_params(path, template, *, allow_unchecked: bool = False):
    """Read a params file written by ``save_params`` and check it against ``template``.

    Checks, in order: the header and SHA-256 checksum (a flipped bit or a truncated file is
    refused), the tree structure, each leaf's shape and dtype against ``template``, and that every
    value is finite.

    Args:
      path: the params file.
      template: a params tree of the expected architecture (arrays or ``jax.ShapeDtypeStruct``s,
        e.g. ``network.init(key, obs)`` or its ``jax.eval_shape``).
      allow_unchecked: also accept a file with no checksum header (plain flax msgpack, as written
        before ``save_params`` existed); its structure, shapes and values are still checked.
    Returns:
      The params as a tree like ``template`` with numpy array leaves.
    Raises:
      ValueError: naming the file and the problem: unreadable, no checksum header (and not
        ``allow_unchecked``), checksum mismatch (corrupt or truncated), not msgpack, a missing or
        unexpected leaf, the first leaf whose shape or dtype differs (expected and found), or a
        leaf with non-finite values (the run that wrote it diverged).
    """

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read params file {path}: {err.strerror or err}") from None
    head = len(PARAMS_MAGIC) + _DIGEST
    if raw[:len(PARAMS_MAGIC)] == PARAMS_MAGIC:
        digest, payload = raw[len(PARAMS_MAGIC):head], raw[head:]
        if len(raw) < head or hashlib.sha256(payload).digest() != digest:
            raise ValueError(f"params file {path} is corrupt or truncated (SHA-256 checksum "
                             f"mismatch, {len(raw)} bytes)")
    elif allow_unchecked:
        payload = raw
    else:
        raise ValueError(f"params file {path} has no checksum header (not written by "
                         "checkpoint.save_params: an older run, or another file type); pass "
                         "allow_unchecked=True to load it without the checksum")
    try:
        stored = serialization.msgpack_restore(payload)
    except Exception as err:  # msgpack raises several types
        raise ValueError(f"params file {path} is not a valid params file: {err}") from None
    if not isinstance(stored, dict):
        raise ValueError(f"params file {path} is not a valid params file: holds a "
                         f"{type(stored).__name__}, expected a tree of arrays")
    want = dict(_flat_state(serialization.to_state_dict(template)))
    got = dict(_flat_state(stored))
    missing = [_leaf_name(k) for k in want if k not in got]
    unexpected = [_leaf_name(k) for k in got if k not in want]
    if missing or unexpected:
        raise ValueError(f"params file {path} does not fit the network (another architecture?): "
                         f"missing leaves {missing[:4]}, unexpected leaves {unexpected[:4]}")
    for key, t in want.items():
        arr = np.asarray(got[key])
        t = t if hasattr(t, "shape") and hasattr(t, "dtype") else np.asarray(t)
        w_shape, w_dtype = tuple(t.shape), np.dtype(t.dtype)
        if arr.shape != w_shape or arr.dtype != w_dtype:
            raise ValueError(f"params file {path} does not fit the network (another "
                             f"architecture?): leaf {_leaf_name(key)} has shape {arr.shape} "
                             f"{arr.dtype}, expected {w_shape} {w_dtype}")
    bad = _non_finite_leaf(stored)
    if bad is not None:
        name, count, size = bad
        raise ValueError(f"params file {path}: leaf {name} holds {count} of {size} non-finite "
                         "values (NaN/inf): the run that wrote it diverged")
    return serialization.from_state_dict(template, stored)
