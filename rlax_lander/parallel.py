"""Scale out: one `train(key, hparams)` program over a flat batch of cells, on all devices and
hosts.

A *cell* is one (seed, hyperparameter setting) pair. `make_grid` flattens a seeds x grid
product into cells; `run_cells` runs a per-cell function over them with `jax.sharding`: a 1-D
`Mesh` over the cell axis, inputs and outputs sharded along it (`NamedSharding(mesh,
P("cells"))`), one `jax.jit(jax.vmap(fn))` compile. The batch is padded to a multiple of the
device count (with copies of the last cell) and the padding is dropped afterwards. Cells are
independent, so the program has no collectives; each device runs its slice of the vmapped
batch.

Several hosts: call `init_distributed(...)` first (before any JAX computation), then call
`run_cells` with the *same* global keys and hparams on every process. Each process places only
the rows its own devices hold (`jax.make_array_from_single_device_arrays`), and the results are
gathered (`multihost_utils.process_allgather`) so every process returns the full numpy result;
by convention only process 0 writes files (`is_main_process()`).

    from rlax_lander import parallel
    grid = parallel.make_grid(config, {"learning_rate": [1e-3, 3e-4]}, num_seeds=8, seed=0)
    result = parallel.run_cells(train, grid.keys, grid.hparams)   # leaves [16, ...] numpy
    grid.cells[3]  # {"cell": 3, "grid_index": 0, "seed_index": 3, "learning_rate": 0.001, ...}
"""

from __future__ import annotations

import itertools
import math
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

CELL_AXIS = "cells"


# ----------------------------------------------------------------------------- grids
class Grid(NamedTuple):
    """A flat list of cells: keys [N] (PRNG keys), hparams (pytree, leaves [N]), cells (N dicts:
    cell, grid_index, seed_index and every hyperparameter value of that cell)."""

    keys: Any
    hparams: Any
    cells: list


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """[num_seeds] typed PRNG keys; key i is what seed index i of a run with base `seed` uses."""
    return jax.random.split(jax.random.key(int(seed)), int(num_seeds))


def make_grid(base, grid: Mapping[str, Sequence[float]] | None, num_seeds: int,
              seed: int = 0) -> Grid:
    """Flatten seeds x grid into cells.

    base: a config with an `hparams()` method (`DQNConfig`, `PQNConfig`: each grid value is
    then validated by the config, so an out-of-range value raises ValueError naming the field)
    or an hparams pytree of scalars (a `flax.struct` dataclass).
    grid: {hparam name: [values...]}; names are fields of the hparams dataclass. The grid
    points are the product of the value lists, in the given order with the last name varying
    fastest; an empty/None grid is one point (the base). num_seeds: seeds per grid point.
    Cell `g * num_seeds + s` is grid point g with seed index s; its key is
    `seed_keys(seed, num_seeds)[s]`, the key of seed s in a `train` run (so grid points
    share seeds: paired comparisons).
    """
    if int(num_seeds) < 1:
        raise ValueError(f"num_seeds={num_seeds!r} is out of range; allowed: >= 1")
    is_config = hasattr(base, "hparams") and callable(base.hparams)
    hparams_type = type(base.hparams()) if is_config else type(base)
    grid = dict(grid or {})
    fields = list(hparams_type.__dataclass_fields__)
    for name, values in grid.items():
        if name not in fields:
            raise ValueError(f"grid name {name!r} is not a vmappable hyperparameter; "
                             f"allowed: {', '.join(fields)}")
        if len(values) == 0:
            raise ValueError(f"grid {name!r} has no values")
        for v in values:
            if not isinstance(v, (int, float, np.number)) or not math.isfinite(float(v)):
                raise ValueError(f"grid {name}={v!r} is not a finite number")
    if is_config:
        for name, values in grid.items():  # range checks live in the config
            for v in values:
                kind = type(getattr(base, name))
                if kind is int and float(v) != int(v):
                    raise ValueError(f"grid {name}={v!r} must be a whole number")
                base.replace(**{name: kind(v)})
        base_values = {f: float(getattr(base, f)) for f in fields}  # exact, not float32
    else:
        base_values = {f: float(np.asarray(getattr(base, f))) for f in fields}
    points = list(itertools.product(*grid.values())) or [()]
    cells, columns = [], {f: [] for f in fields}
    for g, point in enumerate(points):
        values = dict(base_values, **{k: float(v) for k, v in zip(grid, point)})
        for s in range(int(num_seeds)):
            cells.append({"cell": len(cells), "grid_index": g, "seed_index": s, **values})
            for f in fields:
                columns[f].append(values[f])
    keys = seed_keys(seed, num_seeds)[np.tile(np.arange(int(num_seeds)), len(points))]
    hparams = hparams_type(**{f: jnp.asarray(columns[f], jnp.float32) for f in fields})
    return Grid(keys=keys, hparams=hparams, cells=cells)


# ----------------------------------------------------------------------------- devices
def resolve_devices(devices=None) -> list:
    """The devices to shard over. None or "all": every device of every process
    (`jax.devices()`); an int k: the first k (single-process only); or a list of devices."""

    all_devices = jax.devices()
    if devices is None or devices == "all":
        return list(all_devices)
    if isinstance(devices, (int, np.integer, str)):
        try:
            k = int(devices)
        except ValueError:
            raise ValueError(f"devices={devices!r} is invalid; allowed: 'all' or an int in "
                             f"1..{len(all_devices)}") from None
        if not 1 <= k <= len(all_devices):
            raise ValueError(f"devices={k} is out of range; allowed: 'all' or "
                             f"1..{len(all_devices)} (devices visible: {len(all_devices)})")
        devices = all_devices[:k]
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty")
    if jax.process_count() > 1:
        missing = {d.process_index for d in all_devices} - {d.process_index for d in devices}
        if missing:
            raise ValueError(f"with {jax.process_count()} processes every process needs a "
                             f"device in the mesh; processes {sorted(missing)} have none "
                             "(use devices='all')")
    return devices


def is_main_process() -> bool:
    """True on process 0 (the one that writes run directories)."""

    return jax.process_index() == 0


# ----------------------------------------------------------------------------- cells
def num_cells(hparams) -> int:
    """The common leading (cell) axis of every leaf of `hparams`; ValueError otherwise."""
    leaves = jax.tree.leaves(hparams)
    if not leaves:
        raise ValueError("hparams has no array leaves")
    sizes = {int(np.shape(x)[0]) if np.ndim(x) else -1 for x in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(f"every hparams leaf needs the same leading cell axis; got leading "
                         f"sizes {sorted(sizes)}")
    return sizes.pop()


def raw_keys(keys, n: int) -> tuple[np.ndarray, Callable]:
    """(raw key data [n, ...] as numpy, `wrap(raw) -> key of the caller's kind`) for typed
    `jax.random.key` arrays or raw uint32 keys; ValueError unless there are `n` keys."""
    typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
    impl = jax.random.key_impl(keys) if typed else None
    raw = np.asarray(jax.random.key_data(keys) if typed else keys)
    if raw.shape[0] != n:
        raise ValueError(f"keys has {raw.shape[0]} cells but hparams has {n}")
    wrap = (lambda k: jax.random.wrap_key_data(k, impl=impl)) if typed else (lambda k: k)
    return raw, wrap


def cell_sharding(devices):
    """`NamedSharding` of a 1-D mesh over `devices`, splitting the leading (cell) axis."""
    mesh = Mesh(np.asarray(list(devices), dtype=object), (CELL_AXIS,))
    return NamedSharding(mesh, PartitionSpec(CELL_AXIS))


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    return x if pad == 0 else np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])


def is_key(x) -> bool:
    """Whether `x` is an array of typed PRNG keys."""
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def global_array(x, sharding):
    """A global jax.Array from a host array every process holds in full: each process places
    only the rows its own devices own."""
    if is_key(x):  # typed PRNG keys travel as their raw data
        return jax.random.wrap_key_data(global_array(jax.random.key_data(x), sharding),
                                        impl=jax.random.key_impl(x))
    x = np.asarray(x)
    index_map = sharding.addressable_devices_indices_map(x.shape)
    shards = [jax.device_put(x[idx], d) for d, idx in index_map.items()]
    return jax.make_array_from_single_device_arrays(x.shape, sharding, shards)


def to_host(tree):
    """Every leaf as a full numpy array on every process."""
    if all(getattr(x, "is_fully_addressable", True) for x in jax.tree.leaves(tree)):
        return jax.tree.map(lambda x: x if is_key(x) else np.asarray(x), tree)

    def gather(x):
        if is_key(x):
            raw = multihost_utils.process_allgather(jax.random.key_data(x), tiled=True)
            return jax.random.wrap_key_data(np.asarray(raw), impl=jax.random.key_impl(x))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(gather, tree)


def run_cells(fn: Callable, keys, hparams, devices=None, *, stats: dict | None = None):
    """Run `fn(key, hparams_cell)` for every cell, sharded over `devices`; one compile.

    fn: a per-cell function (e.g. `dqn.make_train(...)`'s `train`, or an evaluation
    `(key, params) -> returns`) returning a pytree of arrays.
    keys: [N] typed PRNG keys (`jax.random.key`) or [N, 2] uint32 raw keys; fn receives the
    same kind. hparams: any pytree whose leaves have leading axis N (an `Hparams`, params...).
    devices: None/"all" (every device of every process), an int k (first k), or a list.
    stats: if given, filled with compile_s, run_s, num_devices, num_processes, padded_cells.
    Returns fn's output with a leading axis N on every leaf, as numpy arrays (on every process).

    Multi-process: call on every process with identical `keys`/`hparams`, after
    `init_distributed`. Per-cell results depend on the per-device batch (XLA reassociates
    floating point differently), so compare cells within one layout.
    """
    devices = resolve_devices(devices)
    n = num_cells(hparams)
    raw, wrap = raw_keys(keys, n)
    pad = (-n) % len(devices)
    sharding = cell_sharding(devices)
    g_keys = global_array(_pad(raw, pad), sharding)
    g_hp = jax.tree.map(lambda x: global_array(_pad(np.asarray(x), pad), sharding), hparams)

    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(lambda k, h: fn(wrap(k), h)), in_shardings=(sharding, sharding),
                       out_shardings=sharding).lower(g_keys, g_hp).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(g_keys, g_hp))
    t2 = time.perf_counter()
    host = to_host(out)
    if stats is not None:
        stats.update(compile_s=t1 - t0, run_s=t2 - t1, num_devices=len(devices),
                     num_processes=jax.process_count(), padded_cells=n + pad)
    return jax.tree.map(lambda x: x[:n], host)


# ----------------------------------------------------------------------------- multi-host
class DistributedInitError(RuntimeError):
    """Joining the multi-process run failed (unreachable coordinator, port not bindable)."""


def parse_coordinator(coordinator: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); ValueError naming coordinator otherwise."""
    host, sep, port = str(coordinator).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"coordinator={coordinator!r} is invalid; expected HOST:PORT with "
                         "PORT in 1..65535 (e.g. 10.0.0.1:1234)")
    return host, int(port)


def check_distributed_flags(coordinator: str | None, num_processes: int | None,
                            process_id: int | None) -> None:
    """Validate coordinator / num_processes / process_id (ValueError naming the parameter)."""
    given = {"coordinator": coordinator, "num_processes": num_processes,
             "process_id": process_id}
    if all(v is None for v in given.values()):
        return
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise ValueError(f"{', '.join(missing)} missing: coordinator, num_processes and "
                         "process_id go together (or use auto=True)")
    if int(num_processes) < 1:
        raise ValueError(f"num_processes={num_processes} is out of range; allowed: >= 1")
    if not 0 <= int(process_id) < int(num_processes):
        raise ValueError(f"process_id={process_id} is out of range; allowed: "
                         f"0..{int(num_processes) - 1} (for num_processes={num_processes})")
    parse_coordinator(coordinator)


def _wait_for_coordinator(host: str, port: int, deadline: float) -> None:
    last = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, max(0.1,
                                          deadline - time.monotonic()))):
                return
        except OSError as err:
            last = err
        if time.monotonic() >= deadline:
            raise DistributedInitError(
                f"coordinator {host}:{port} is unreachable ({last}); is process 0 running "
                f"there and the port open? Gave up after timeout_s.")
        time.sleep(0.2)


def _check_bindable(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, port))
    except OSError as err:
        raise DistributedInitError(
            f"coordinator {host}:{port}: process 0 runs the coordinator, but cannot bind "
            f"there ({err}); use an address of process 0's host and a free port") from err


def init_distributed(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None, *, auto: bool = False,
                     timeout_s: float = 120.0) -> bool:
    """Join a multi-process JAX run; call before any JAX computation. Returns True if joined.

    coordinator 'HOST:PORT' (process 0's address; it hosts the coordination service there),
    num_processes N >= 1, process_id in 0..N-1: explicit set-up. auto=True with none of them:
    `jax.distributed.initialize()`'s own detection (SLURM, Open MPI, Cloud TPU...).
    num_processes == 1 is a no-op. timeout_s bounds the wait: other processes first wait for
    the coordinator's port (RuntimeError if unreachable within timeout_s, instead of JAX's
    abort), and JAX gets the same `initialization_timeout`.
    CPU: cross-process collectives use gloo (`jax_cpu_collectives_implementation`).
    """

    check_distributed_flags(coordinator, num_processes, process_id)
    if not timeout_s > 0:
        raise ValueError(f"timeout_s={timeout_s} is out of range; allowed: > 0")
    if coordinator is None:
        if not auto:
            return False
        try:
            jax.distributed.initialize(initialization_timeout=int(math.ceil(timeout_s)))
        except ValueError as err:
            raise ValueError(f"auto=True: no cluster detected ({err}); pass "
                             "coordinator='HOST:PORT', num_processes and process_id") from err
        return True
    num_processes, process_id = int(num_processes), int(process_id)
    if num_processes == 1:
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    host, port = parse_coordinator(coordinator)
    deadline = time.monotonic() + timeout_s
    if process_id == 0:
        _check_bindable(host, port)
    else:
        _wait_for_coordinator(host, port, deadline)
    remaining = max(5, int(math.ceil(deadline - time.monotonic())))
    jax.distributed.initialize(coordinator_address=f"{host}:{port}",
                               num_processes=num_processes, process_id=process_id,
                               initialization_timeout=remaining)
    return True
