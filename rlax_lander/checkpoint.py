"""Checkpoint files: a pytree of arrays plus JSON metadata, written atomically, read safely.

Format (one file): ``MAGIC`` (8 bytes) + SHA-256 of the payload (32 bytes) + payload, where the
payload is flax.serialization msgpack of ``{"meta": <JSON text>, "leaves": {path: array},
"keys": {path: PRNG impl name}, "extra": {name: array}}``. Leaves are stored flat under their
``jax.tree_util.keystr`` paths, so a mismatch names the leaf. PRNG key arrays are stored as
their raw key data plus the impl name. Reading never executes code (no pickle): msgpack
decodes to dicts, strings and numpy arrays only, and the structure is rebuilt from a template
the caller supplies (e.g. ``jax.eval_shape`` of the training state's init).

Writes go to a temporary file in the same directory, are fsynced, then ``os.replace``d over the
target, so a crash (even SIGKILL) leaves either the old complete file or the new one.

Every problem with a file raises ValueError naming the file and what is wrong: not a checkpoint,
truncated/corrupt (digest mismatch), written for another run (metadata fields differ), or
holding other leaves/shapes/dtypes than the template.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"RLXCKPT1"
_DIGEST = 32
FORMAT = "rlax_lander.checkpoint"
VERSION = 1


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same dir, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _is_key(x) -> bool:
    import jax

    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _key_impl_name(x) -> str:
    import jax

    try:
        return str(jax.random.key_impl(x))
    except TypeError:  # ShapeDtypeStruct templates
        return str(x.dtype._impl.name)


def _flatten(tree) -> tuple[dict, dict, Any]:
    """({path: leaf}, {path: key impl} for PRNG key leaves, treedef)."""
    import jax

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
    ``meta`` dict and ``extra`` ({name: array}, e.g. metrics so far) to ``path``."""
    import jax
    from flax import serialization

    leaves, keys, _ = _flatten(state)
    data = {name: np.asarray(jax.random.key_data(x) if name in keys else x)
            for name, x in leaves.items()}
    extra = {str(k): np.asarray(v) for k, v in (extra or {}).items()}
    full_meta = {"format": FORMAT, "version": VERSION, **meta}
    payload = serialization.msgpack_serialize(
        {"meta": json.dumps(full_meta, sort_keys=True), "leaves": data, "keys": keys,
         "extra": extra})
    atomic_write_bytes(path, MAGIC + hashlib.sha256(payload).digest() + payload)


def _read_payload(path) -> dict:
    from flax import serialization

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
    import jax

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
