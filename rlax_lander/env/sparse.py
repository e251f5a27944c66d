"""``sparse_where``: a branch that is rarely taken, paid for only where it is taken.

Four parts of the physics step act on a few envs of a batch: the legs' TOI sub-step (a leg
striking the terrain, about 1 % of leg-steps under random play), Box2D's first-contact velocity
solve (``body_solve``; about 13 of 1024 envs per step of random play, at most 44 seen), the
contact rows of the velocity solve (about 31 of 1024 envs touch, at most 65) and the hull's
contact response (an episode's terminal step). A vmapped ``lax.cond`` turns into a select, which
computes the branch for every env; on a CPU that was a fifth of the step's cost (batch 1024,
BENCHMARKS.md).
``sparse_where`` has its own batching rule (``jax.custom_batching.custom_vmap``): on a CPU it
gathers the rows where the predicate holds into a buffer of static size, runs the branch on the
buffer, and scatters the results back. Buffers are tried smallest first (``buffer_sizes``, each a
quarter of the next): most steps need far less than the worst case, and a branch's cost grows with
the rows it runs on; when more rows hold than the largest has room for, it falls back to the whole
batch. Nested vmaps (seeds over envs) are
flattened into one batch first. Other platforms keep the select, where a data-dependent branch
costs a device-to-host round trip and a wide select is cheap.

The values are those of computing the branch for every row, up to the rounding of fused
multiply-adds, which XLA places by how it compiles each form (``tests/env/test_sparse.py``); rows
that do not take the branch are ``otherwise`` exactly. A given program and input give the same bits
on every run."""

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

# Room in the gathered buffer: one row per this many rows of the batch. Under random play at most
# 33 of 2048 legs strike in one step and at most 29 of 1024 episodes end in one step (p99: 25, 22).
BATCH_ROWS_PER_SLOT = 16
MIN_CAPACITY = 8  # batches up to this size run the branch on all rows when any row takes it


def capacity(batch: int, rows_per_slot: int = BATCH_ROWS_PER_SLOT) -> int:
    """Static rows of the gathered buffer for a flattened batch of ``batch`` rows, one per
    ``rows_per_slot`` rows of the batch."""
    return min(batch, max(MIN_CAPACITY, -(-batch // rows_per_slot)))


def buffer_sizes(batch: int, rows_per_slot: int = BATCH_ROWS_PER_SLOT) -> tuple[int, ...]:
    """The gathered buffers tried in turn, smallest first: ``capacity``, and below it each a
    quarter of the next while that holds at least ``MIN_CAPACITY`` rows. A step usually needs far
    fewer rows than its worst case, and a branch's cost grows with the rows it runs on."""
    sizes = [capacity(batch, rows_per_slot)]
    while sizes[0] // 4 >= MIN_CAPACITY:
        sizes.insert(0, sizes[0] // 4)
    return tuple(sizes)


def _select(pred, taken, otherwise):
    """``taken`` where ``pred`` [N] holds, else ``otherwise``; leaves with leading axis N."""
    return jax.tree.map(lambda t, o: jnp.where(pred.reshape(pred.shape + (1,) * (t.ndim - 1)), t, o),
                        taken, otherwise)


def _dense(fn, pred, operands, otherwise):
    return _select(pred, jax.vmap(fn)(*operands), otherwise)


def _gathered(fn, pred, operands, otherwise, size):
    """The branch on the (at most ``size``) rows where ``pred`` [N] holds, scattered back."""
    n = pred.shape[0]
    rows = jnp.nonzero(pred, size=size, fill_value=n)[0]  # [size]; n marks an empty slot
    taken = jax.vmap(fn)(*jax.tree.map(lambda x: x[jnp.minimum(rows, n - 1)], operands))
    return jax.tree.map(lambda o, t: o.at[rows].set(t, mode="drop"), otherwise, taken)


def _compacted(fn, pred, operands, otherwise, rows_per_slot):
    """CPU form of a flat batch: skip, gather or run all, by how many rows take the branch."""
    n = pred.shape[0]
    count = jnp.sum(pred, dtype=jnp.int32)
    skip = lambda p, ops, oth: oth
    dense = lambda p, ops, oth: _dense(fn, p, ops, oth)
    if capacity(n, rows_per_slot) >= n:
        return jax.lax.cond(count > 0, dense, skip, pred, operands, otherwise)
    sizes = buffer_sizes(n, rows_per_slot)
    gathered = [lambda p, ops, oth, size=size: _gathered(fn, p, ops, oth, size) for size in sizes]
    # 0: no row takes the branch; then the smallest buffer with room; last: every row.
    branch = (count > 0).astype(jnp.int32) + sum((count > size).astype(jnp.int32) for size in sizes)
    return jax.lax.switch(branch, (skip, *gathered, dense), pred, operands, otherwise)


def _broadcast(args, in_batched, axis_size):
    """``args`` (a sequence of pytrees) with a leading ``axis_size`` axis on every leaf."""
    grow = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))
    return [jax.tree.map(grow, arg, batched) for arg, batched in zip(args, in_batched)]


def _flat_batch(fn, rows_per_slot):
    """``fn`` over a flat batch (leading axis N of every input), as a ``custom_vmap`` function
    whose rule merges an outer vmap axis into N."""

    @custom_vmap
    def flat(pred, operands, otherwise):
        return jax.lax.platform_dependent(
            pred, operands, otherwise,
            cpu=lambda p, ops, oth: _compacted(fn, p, ops, oth, rows_per_slot),
            default=lambda p, ops, oth: _dense(fn, p, ops, oth))

    @flat.def_vmap
    def merge_axes(axis_size, in_batched, pred, operands, otherwise):
        args = _broadcast((pred, operands, otherwise), in_batched, axis_size)
        merge = lambda x: x.reshape((-1,) + x.shape[2:])
        out = flat(*jax.tree.map(merge, args))
        out = jax.tree.map(lambda x: x.reshape((axis_size, -1) + x.shape[1:]), out)
        return out, jax.tree.map(lambda _: True, out)

    return flat


def sparse_where(pred, fn, operands: tuple, otherwise, rows_per_slot: int = BATCH_ROWS_PER_SLOT):
    """``fn(*operands)`` if ``pred`` else ``otherwise``, computed only where ``pred`` holds.

    Args:
      pred: [] bool.
      fn: a function of one env's ``operands`` whose output has the structure, shapes and dtypes
        of ``otherwise``. It must treat each row alone (no collectives, no randomness).
      operands: a tuple of arrays (pytrees) for ``fn``.
      otherwise: the result where ``pred`` does not hold.
      rows_per_slot: the gathered buffer has one row per this many rows of the batch (static).
    Returns:
      ``fn(*operands)`` or ``otherwise``; under vmap (any nesting) the same values up to
      float32 rounding (see the module docstring), where only the rows with ``pred`` run ``fn``
      on a CPU.
    """

    @custom_vmap
    def one(pred, operands, otherwise):
        return jax.lax.platform_dependent(
            pred, operands, otherwise,
            cpu=lambda p, ops, oth: jax.lax.cond(p, lambda: fn(*ops), lambda: oth),
            default=lambda p, ops, oth: jax.tree.map(lambda t, o: jnp.where(p, t, o), fn(*ops), oth))

    @one.def_vmap
    def batched(axis_size, in_batched, pred, operands, otherwise):
        args = _broadcast((pred, operands, otherwise), in_batched, axis_size)
        out = _flat_batch(fn, rows_per_slot)(*args)
        return out, jax.tree.map(lambda _: True, out)

    return one(pred, operands, otherwise)
