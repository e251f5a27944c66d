"""Multi-step return targets over a leading time axis: lambda-returns and n-step returns.

Both take sequences shaped [T, ...]: axis 0 is time, every other axis is batch (e.g. [T, n]
for n parallel envs). Index t holds the transition that starts at s_t:
- `r_t[t]`: the reward of that transition;
- `discount_t[t]`: gamma * (1 - terminated_t), 0 where the episode *terminated* at it;
- `v_t[t]`: the value of its successor, e.g. max_a Q(s'_t, a) (Q(lambda), PQN).

This is `rlax`'s convention (its "t+1" quantities stored at index t), so each function equals
its rlax namesake applied to every batch column (tested to 1e-6).

Episode ends and truncation (auto-resetting envs, gymnax 1.x):
- *termination* at t: `discount_t[t] = 0`; the return is r_t and nothing later leaks in.
- *truncation* at t (time limit): the return must bootstrap from the pre-reset final
  observation and must not continue into the next episode. Express it with
  `v_t[t] = V(info["final_observation"])`, `discount_t[t] = gamma` and a per-step mixing
  factor `lambda_[t] = 0`: the recursion then gives r_t + gamma * v_t[t] at t, and the
  steps before t see that value through the usual recursion. In practice pass
  `v_t = V(final_observation_t)` for every t (it equals V(s_{t+1}) where no episode ended),
  `discount_t = gamma * (1 - terminated)` and `lambda_ = lam * (1 - (terminated | truncated))`.
  For `n_step_returns` use `lambda_t` the same way (1 - done instead of lam * (1 - done)).
- the last index T-1 always bootstraps from `v_t[T-1]` (the rollout's edge), as in rlax.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def _checks(r_t, discount_t, v_t, lam):
    chex.assert_rank([r_t, discount_t, v_t], r_t.ndim)
    chex.assert_equal_shape([r_t, discount_t, v_t])
    chex.assert_type([r_t, discount_t, v_t], float)
    if r_t.ndim < 1 or r_t.shape[0] < 1:
        raise ValueError(f"r_t must have a leading time axis of length >= 1, got {r_t.shape}")
    lam = jnp.asarray(lam, r_t.dtype)
    if lam.ndim > r_t.ndim:
        raise ValueError(f"lambda of shape {lam.shape} does not broadcast to {r_t.shape}")
    chex.assert_is_broadcastable(lam.shape, r_t.shape)
    return jnp.broadcast_to(lam, r_t.shape)


def lambda_returns(r_t: jnp.ndarray, discount_t: jnp.ndarray, v_t: jnp.ndarray,
                   lambda_=1.0) -> jnp.ndarray:
    """Lambda-returns G [T, ...] (float, same dtype as r_t), computed backwards in time:

        G[T-1] = r[T-1] + d[T-1] * v[T-1]
        G[t]   = r[t] + d[t] * ((1 - lam[t]) * v[t] + lam[t] * G[t+1]).

    Args: r_t, discount_t, v_t [T, ...] float (see the module docstring for what index t
    holds); lambda_: scalar or an array broadcastable to [T, ...] (e.g. [T, 1] or [T, n]),
    each in [0, 1]; a 0 at t cuts the trace there (truncation). lambda_ = 1 gives the
    discounted Monte-Carlo return bootstrapped at T-1; 0 gives one-step TD targets.
    Gradients are not stopped (wrap in `jax.lax.stop_gradient` for targets).
    """
    lam = _checks(r_t, discount_t, v_t, lambda_)

    def body(acc, xs):
        r, d, v, la = xs
        acc = r + d * ((1.0 - la) * v + la * acc)
        return acc, acc

    _, returns = jax.lax.scan(body, v_t[-1], (r_t, discount_t, v_t, lam), reverse=True)
    return returns


def n_step_returns(r_t: jnp.ndarray, discount_t: jnp.ndarray, v_t: jnp.ndarray, n: int,
                   lambda_t=1.0) -> jnp.ndarray:
    """n-step bootstrapped returns G [T, ...] (rlax.n_step_bootstrapped_returns semantics):

        G[t] = r[t] + d[t] * (r[t+1] + d[t+1] * (... (r[t+n-1] + d[t+n-1] * v[t+n-1]))),

    where a window that runs past the end of the sequence stops at T-1 and bootstraps from
    v[T-1]. A discount of 0 inside the window (termination) drops every later term.
    With `lambda_t` (scalar or broadcastable to [T, ...]) each level mixes in the value as
    rlax does: r[k] + d[k] * ((1 - lam[k]) * v[k] + lam[k] * G'); a 0 at k bootstraps from
    v[k] there, which is how a truncation at k is expressed (module docstring).

    Args: r_t, discount_t, v_t [T, ...] float; n: static int >= 1 (n = 1: r + d * v).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n={n!r} is out of range; allowed: an int >= 1")
    lam = _checks(r_t, discount_t, v_t, lambda_t)
    seq_len = r_t.shape[0]
    batch = r_t.shape[1:]

    def pad(x, value):
        if n == 1:
            return x
        fill = jnp.broadcast_to(value, (n - 1, *batch)).astype(x.dtype)
        return jnp.concatenate([x, fill], axis=0)

    v_last = v_t[-1:]
    # targets[t] starts as the bootstrap value v[min(t + n - 1, T - 1)].
    targets = pad(v_t, v_last)[n - 1:n - 1 + seq_len]
    r_p, d_p, l_p, v_p = pad(r_t, 0.0), pad(discount_t, 1.0), pad(lam, 1.0), pad(v_t, v_last)
    for i in reversed(range(n)):
        sl = slice(i, i + seq_len)
        targets = r_p[sl] + d_p[sl] * ((1.0 - l_p[sl]) * v_p[sl] + l_p[sl] * targets)
    return targets
