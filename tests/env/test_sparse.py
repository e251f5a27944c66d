"""``sparse_where``: the same values as a select, in every batching form and on every path
(skip, gathered buffer, whole batch)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlax_lander.env import sparse

N = 64  # capacity 8: up to 8 taken rows are gathered, more run the whole batch


def branch(x, m):
    """A row's branch with a loop, a reduction and products that a compiler may fuse."""
    def body(_, carry):
        y, s = carry
        y = y * m[0] + jnp.sin(y) * m[1]
        return y, s + jnp.sum(y * y)

    y, s = jax.lax.fori_loop(0, 3, body, (x, jnp.zeros((), jnp.float32)))
    return y, s


def sparse_rows(pred, x, m, rows_per_slot=sparse.BATCH_ROWS_PER_SLOT):
    return sparse.sparse_where(pred, branch, (x, m), (x, jnp.full((), -1.0, jnp.float32)),
                               rows_per_slot=rows_per_slot)


def select_rows(pred, x, m):
    y, s = branch(x, m)
    return jnp.where(pred, y, x), jnp.where(pred, s, -1.0)


def inputs(taken: int, seed: int = 0, n: int = N):
    rng = np.random.default_rng(seed)
    pred = np.zeros(n, bool)
    pred[rng.choice(n, taken, replace=False)] = True
    x = rng.standard_normal((n, 3)).astype(np.float32)
    m = rng.uniform(0.5, 1.5, (n, 2)).astype(np.float32)
    return jnp.asarray(pred), jnp.asarray(x), jnp.asarray(m)


def test_capacity():
    assert sparse.capacity(4) == 4 and sparse.capacity(8) == 8
    assert sparse.capacity(64) == 8 and sparse.capacity(1024) == 64 and sparse.capacity(1025) == 65
    assert sparse.capacity(1024, rows_per_slot=8) == 128
    # Each buffer a quarter of the next, down to MIN_CAPACITY rows.
    assert sparse.buffer_sizes(64) == (8,) and sparse.buffer_sizes(256) == (16,)
    assert sparse.buffer_sizes(1024) == (16, 64) and sparse.buffer_sizes(1024, 4) == (16, 64, 256)


@pytest.mark.parametrize("taken", [0, 1, 8, 9, N])  # skip, gathered, gathered full, whole batch, all
def test_batched_equals_select(taken):
    pred, x, m = inputs(taken)
    y, s = jax.jit(jax.vmap(sparse_rows))(pred, x, m)
    y_ref, s_ref = jax.jit(jax.vmap(select_rows))(pred, x, m)
    np.testing.assert_allclose(y, y_ref, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(s, s_ref, rtol=2e-6, atol=1e-6)
    # Rows that do not take the branch are ``otherwise``, bit for bit.
    np.testing.assert_array_equal(np.asarray(y)[~np.asarray(pred)], np.asarray(x)[~np.asarray(pred)])
    assert np.all(np.asarray(s)[~np.asarray(pred)] == -1.0)


@pytest.mark.parametrize("taken", [1, 8, 9, 32, 33, 128, 129])  # each buffer, its edge, all rows
def test_buffer_ladder_equals_select(taken):
    """One row per 2 of 256: buffers of 8, 32 and 128 rows, then the whole batch."""
    n = 256
    assert sparse.buffer_sizes(n, 2) == (8, 32, 128)
    pred, x, m = inputs(taken, seed=2, n=n)
    y, s = jax.jit(jax.vmap(lambda p, x, m: sparse_rows(p, x, m, rows_per_slot=2)))(pred, x, m)
    y_ref, s_ref = jax.jit(jax.vmap(select_rows))(pred, x, m)
    np.testing.assert_allclose(y, y_ref, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(s, s_ref, rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(y)[~np.asarray(pred)], np.asarray(x)[~np.asarray(pred)])


@pytest.mark.parametrize("taken", [3, 20])
def test_nested_vmap_equals_flat(taken):
    pred, x, m = inputs(taken, seed=1)
    flat = jax.jit(jax.vmap(sparse_rows))(pred, x, m)
    nested = jax.jit(jax.vmap(jax.vmap(sparse_rows)))(pred.reshape(4, 16), x.reshape(4, 16, 3),
                                                        m.reshape(4, 16, 2))
    for a, b in zip(flat, nested):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b).reshape(a.shape))


def test_unbatched_and_unbatched_operands():
    pred, x, m = inputs(5)
    y, s = jax.jit(sparse_rows)(jnp.array(True), x[0], m[0])
    y_ref, s_ref = branch(x[0], m[0])
    np.testing.assert_allclose(y, y_ref, rtol=2e-6)
    np.testing.assert_allclose(s, s_ref, rtol=2e-6)
    y, s = jax.jit(sparse_rows)(jnp.array(False), x[0], m[0])
    np.testing.assert_array_equal(y, x[0])
    assert s == -1.0
    # The branch's matrix shared by all rows (not batched): broadcast inside the batching rule.
    y, _ = jax.jit(jax.vmap(sparse_rows, (0, 0, None)))(pred, x, m[0])
    y_ref, _ = jax.jit(jax.vmap(select_rows, (0, 0, None)))(pred, x, m[0])
    np.testing.assert_allclose(y, y_ref, rtol=2e-6, atol=1e-6)


def test_gathering_is_cpu_only():
    """On a GPU or TPU the batched form is the plain select (no gather/scatter buffer)."""
    pred, x, m = inputs(5)
    traced = jax.jit(jax.vmap(sparse_rows)).trace(pred, x, m)
    cpu = traced.lower(lowering_platforms=("cpu",)).as_text()
    for platform in ("cuda", "tpu"):
        other = traced.lower(lowering_platforms=(platform,)).as_text()
        assert "stablehlo.scatter" not in other and "stablehlo.select" in other, platform
    assert "stablehlo.scatter" in cpu
