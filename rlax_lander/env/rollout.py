"""Jitted, vmapped episode runner for the JAX LunarLander, plus jnp heuristic and random policies.

``run_episodes`` runs ``num_episodes`` independent episodes in lockstep, one env per episode and
no auto-reset: a ``lax.scan`` over ``chunk`` steps of the vmapped batch, repeated by a
``lax.while_loop`` until every episode has ended (or ``max_steps`` is reached), so a batch of short
random episodes does not pay for 1000 steps. Finished episodes are frozen (their step results are
masked out). Outcome codes follow ``rlax_lander.episode_stats``: landed (the island went to sleep)
wins over crash (``game_over``), which wins over out of bounds; an episode that reaches
``max_steps`` without terminating is truncated.
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlax_lander import episode_stats
from rlax_lander.env import collision
from rlax_lander.env import kinematics as K
from rlax_lander.env.heuristic import heuristic_action

PolicyFn = Callable[[jax.Array, jax.Array], jax.Array]  # (key, obs f32[8]) -> action


class Episodes(NamedTuple):
    """Per-episode results, each with a leading axis [E].

    returns: f32 undiscounted returns. lengths: i32 env steps. outcomes: i32 episode_stats codes.
    last_rewards: f32 reward of the final step. final_obs: f32 [E, 8] last observation.
    min_separation: f32 deepest foot-corner separation seen (m; core distance minus the 0.02 m
      skins, so negative = overlapping skins; +inf unless ``track_contacts``).
    nonfinite: bool, whether any observation or reward was NaN/inf.
    """

    returns: jax.Array
    lengths: jax.Array
    outcomes: jax.Array
    last_rewards: jax.Array
    final_obs: jax.Array
    min_separation: jax.Array
    nonfinite: jax.Array


def heuristic_policy(continuous: bool) -> PolicyFn:
    """The original's heuristic controller as ``policy_fn(key, obs) -> action`` (key unused)."""
    return lambda key, obs: heuristic_action(obs, continuous)


def random_policy(continuous: bool) -> PolicyFn:
    """Uniformly random actions: Discrete(4) ints, or Box(-1, 1, (2,)) float32."""
    if continuous:
        return lambda key, obs: jax.random.uniform(key, (2,), jnp.float32, -1.0, 1.0)
    return lambda key, obs: jax.random.randint(key, (), 0, 4, jnp.int32)


def foot_separation(state) -> jax.Array:
    """Smallest separation (m) of the four foot corners of one env against the terrain."""
    corners = K.leg_corners(state.pos, state.angle, state.leg_angle, state.joint_gap)[:, :2].reshape(4, 2)
    a, b = collision.terrain_edges(state.terrain_y)
    sep, _, _ = collision.foot_contacts(corners, a, b)
    return jnp.min(sep)


def outcome_code(info, terminated) -> jax.Array:
    """episode_stats code of a terminating step (TRUNCATED when not ``terminated``)."""
    code = jnp.where(
        info["landed"], episode_stats.LANDED,
        jnp.where(info["crashed"], episode_stats.CRASH,
                  jnp.where(info["out_of_bounds"], episode_stats.OUT, episode_stats.TRUNCATED)))
    return jnp.where(terminated, code, episode_stats.TRUNCATED).astype(jnp.int32)


@partial(jax.jit, static_argnames=("env", "policy_fn", "num_episodes", "max_steps", "chunk",
                                   "track_contacts"))
def run_episodes(env, params, policy_fn: PolicyFn, key: jax.Array, num_episodes: int,
                 max_steps: int = 1000, chunk: int = 50, track_contacts: bool = False) -> Episodes:
    """Runs ``num_episodes`` episodes of ``policy_fn`` in ``env`` (one per env, in lockstep).

    Args:
      env: a ``LunarLander`` (hashable, static). params: its ``EnvParams``.
      policy_fn: ``(key, obs f32[8]) -> action`` for one env; vmapped here. Static, so pass the
        same function object to reuse the compiled program.
      key: PRNG key; episode ``i`` uses ``fold_in(key, i)``.
      num_episodes: batch size E. max_steps: truncation length.
      chunk: steps per ``lax.scan`` between checks whether all episodes have ended.
      track_contacts: also record the deepest foot separation (costs a narrow phase per step).
    Returns:
      ``Episodes`` with leading axis [E].
    """
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num_episodes))
    obs, state = jax.vmap(lambda k: env.reset(jax.random.fold_in(k, 0x7FFFFFFF), params))(keys)
    n = num_episodes
    init = dict(
        obs=obs, state=state, t=jnp.int32(0), done=jnp.zeros(n, bool),
        ret=jnp.zeros(n, jnp.float32), length=jnp.zeros(n, jnp.int32),
        outcome=jnp.full(n, episode_stats.TRUNCATED, jnp.int32), last_r=jnp.zeros(n, jnp.float32),
        min_sep=jnp.full(n, jnp.inf, jnp.float32), nonfinite=~jnp.all(jnp.isfinite(obs), axis=1),
    )

    def one_env(k, t, obs, state):
        k_act, k_step = jax.random.split(jax.random.fold_in(k, t))
        action = policy_fn(k_act, obs)
        obs2, state2, reward, terminated, info = env.step_env(k_step, state, action, params)
        sep = foot_separation(state2) if track_contacts else jnp.float32(jnp.inf)
        return obs2, state2, reward.astype(jnp.float32), terminated, info, sep

    def step(c, _):
        obs2, state2, r, term, info, sep = jax.vmap(one_env, in_axes=(0, None, 0, 0))(
            keys, c["t"], c["obs"], c["state"])
        live = ~c["done"] & (c["t"] < max_steps)
        trunc = c["t"] + 1 >= max_steps
        ended = live & (term | trunc)
        keep = lambda new, old: jnp.where(live.reshape(live.shape + (1,) * (new.ndim - 1)), new, old)
        return dict(
            obs=keep(obs2, c["obs"]),
            state=jax.tree_util.tree_map(keep, state2, c["state"]),
            t=c["t"] + 1, done=c["done"] | ended,
            ret=c["ret"] + jnp.where(live, r, 0.0), length=c["length"] + live.astype(jnp.int32),
            outcome=jnp.where(ended, outcome_code(info, term), c["outcome"]),
            last_r=jnp.where(live, r, c["last_r"]),
            min_sep=jnp.where(live, jnp.minimum(c["min_sep"], sep), c["min_sep"]),
            nonfinite=c["nonfinite"] | (live & ~(jnp.all(jnp.isfinite(obs2), 1) & jnp.isfinite(r))),
        ), None

    def cond(c):
        return (c["t"] < max_steps) & ~jnp.all(c["done"])

    def body(c):
        return jax.lax.scan(step, c, None, length=chunk)[0]

    c = jax.lax.while_loop(cond, body, init)
    return Episodes(c["ret"], c["length"], c["outcome"], c["last_r"], c["obs"], c["min_sep"],
                    c["nonfinite"])
