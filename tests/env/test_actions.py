"""Actions are sanitised the same way at every batch size (issue 15, item 2).

Continuous: a NaN component is that engine off (0.0); +-inf and 1e38 are clipped to +-1 like any
out-of-range value. A poisoned trajectory must equal, bit for bit, the trajectory of the explicit
fallback actions, and stay finite, at batch 1, 64 and 4096, both through ``jit(vmap(step))`` called
step by step and inside a jitted ``lax.scan``. Discrete: a float action is a TypeError at trace
time; out-of-range integers are a no-op.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlax_lander
from rlax_lander.env import engines

BATCHES = (1, 64, 4096)
STEPS = 48
POISON = (np.nan, np.inf, -np.inf, 1e38, -1e38)


def _actions(batch: int, seed: int = 0):
    """(poisoned, fallback) continuous actions, f32 [STEPS, batch, 2].

    Every env gets a NaN in a[1] at step 2 (the issue's case) and, from step 3 on, each component is
    replaced with probability 0.3 by one of POISON. The fallback is the documented rule written out
    by hand: NaN -> 0.0, everything else clipped to [-1, 1].
    """
    rng = np.random.default_rng(seed)
    clean = rng.uniform(-1.0, 1.0, (STEPS, batch, 2)).astype(np.float32)
    poisoned = clean.copy()
    mask = rng.random((STEPS, batch, 2)) < 0.3
    mask[:3] = False
    picks = np.asarray(POISON, np.float32)[rng.integers(0, len(POISON), (STEPS, batch, 2))]
    poisoned[mask] = picks[mask]
    poisoned[2, :, 1] = np.nan
    fallback = np.where(np.isnan(poisoned), np.float32(0.0), np.clip(poisoned, -1.0, 1.0))
    return poisoned, fallback.astype(np.float32)


@functools.cache
def _continuous_env():
    return rlax_lander.make("LunarLander-v3", continuous=True)


@functools.cache
def _scan_rollout():
    env, params = _continuous_env()

    @jax.jit
    def rollout(key, actions):  # actions [T, B, 2] -> obs [T, B, 8], reward [T, B], done [T, B]
        batch = actions.shape[1]
        k_reset, k_steps = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, batch), params)

        def body(state, xs):
            k, a = xs
            obs, state, reward, term, trunc, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k, batch), state, a, params
            )
            return state, (obs, reward, term | trunc)

        keys = jax.random.split(k_steps, actions.shape[0])
        return jax.lax.scan(body, state, (keys, actions))[1]

    return rollout


@functools.cache
def _batched_fns():
    env, params = _continuous_env()
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    return reset, step, params


def _loop_rollout(key, actions):
    """The same rollout as ``_scan_rollout`` but one ``jit(vmap(step))`` call per step."""
    reset, step, params = _batched_fns()
    batch = actions.shape[1]
    k_reset, k_steps = jax.random.split(key)
    _, state = reset(jax.random.split(k_reset, batch), params)
    out = []
    for k, a in zip(jax.random.split(k_steps, actions.shape[0]), actions):
        obs, state, reward, term, trunc, _ = step(jax.random.split(k, batch), state, a, params)
        out.append((obs, reward, term | trunc))
    return tuple(np.stack(x) for x in zip(*jax.device_get(out)))


def _check_same_and_finite(poisoned_out, fallback_out):
    obs, reward, done = (np.asarray(x) for x in poisoned_out)
    assert np.isfinite(obs).all(), "a poisoned action reached the observation"
    assert np.isfinite(reward).all(), "a poisoned action reached the reward"
    for got, want in zip((obs, reward, done), fallback_out):
        np.testing.assert_array_equal(got, np.asarray(want))


@pytest.mark.parametrize("batch", BATCHES)
def test_poisoned_continuous_actions_in_scan_equal_fallback(batch):
    poisoned, fallback = _actions(batch)
    assert np.isnan(poisoned).any() and np.isinf(poisoned).any() and (np.abs(poisoned) == 1e38).any()
    rollout = _scan_rollout()
    key = jax.random.key(batch)
    _check_same_and_finite(rollout(key, poisoned), rollout(key, fallback))


@pytest.mark.parametrize("batch", [64])  # every batch size runs in the scan test above
def test_poisoned_continuous_actions_stepwise_equal_fallback(batch):
    poisoned, fallback = _actions(batch, seed=1)
    key = jax.random.key(100 + batch)
    _check_same_and_finite(_loop_rollout(key, poisoned), _loop_rollout(key, fallback))


def test_nan_is_engine_off_and_inf_is_full_throttle():
    nan, inf = np.float32(np.nan), np.float32(np.inf)
    for action, want in (
        ([nan, nan], (0.0, 0.0, 0.0)),
        ([inf, -inf], (1.0, 1.0, -1.0)),
        ([-inf, inf], (0.0, 1.0, 1.0)),
        ([1e38, nan], (1.0, 0.0, 0.0)),
    ):
        got = jax.jit(lambda a: engines.throttles(a, True))(np.asarray(action, np.float32))
        assert tuple(float(x) for x in got) == want, (action, got)
    with np.errstate(over="ignore"):  # float64 beyond float32's range -> inf, then clipped
        a = engines.sanitize_action(np.array([np.nan, 1e39]), True)
    assert a.dtype == jnp.float32 and float(a[0]) == 0.0 and float(a[1]) == np.inf


@pytest.mark.parametrize("action", [2.7, 2.0, np.float32(1.0), jnp.bfloat16(3.0), True])
def test_non_integer_discrete_action_is_type_error_at_trace_time(action):
    env, params = rlax_lander.make("LunarLander-v3")
    _, state = env.reset(jax.random.key(0), params)
    dtype = str(jnp.asarray(action).dtype)
    with pytest.raises(TypeError, match=rf"integer dtype.*got dtype {dtype}"):
        jax.eval_shape(env.step, jax.random.key(1), state, action, params)  # traces, runs nothing
    with pytest.raises(TypeError, match=rf"integer dtype.*got dtype {dtype}"):  # batched, as a policy
        jax.eval_shape(
            jax.vmap(env.step, in_axes=(0, None, 0, None)),
            jax.random.split(jax.random.key(1), 4), state, jnp.full((4,), action), params,
        )


def test_non_numeric_continuous_action_is_type_error():
    with pytest.raises(TypeError, match="continuous LunarLander action must have a real"):
        engines.sanitize_action(np.array([True, False]), True)


def test_integer_discrete_actions_of_any_int_dtype_step_and_out_of_range_is_noop():
    env, params = rlax_lander.make("LunarLander-v3")
    step = jax.jit(env.step_env)
    key = jax.random.key(3)
    _, state = env.reset(jax.random.key(0), params)
    noop = jax.device_get(step(key, state, jnp.int32(0), params)[:4])
    for a in (np.int64(-1), np.int32(4), np.uint8(200), 7):
        got = jax.device_get(step(key, state, a, params)[:4])
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(noop)):
            np.testing.assert_array_equal(x, y)
    main = jax.device_get(step(key, state, np.int8(2), params)[0])
    assert not np.array_equal(main, noop[0])  # the main engine did fire
