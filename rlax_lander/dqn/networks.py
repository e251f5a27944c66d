"""Q-networks: an MLP with optional LayerNorm and an optional dueling head."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import chex
import flax.linen as nn
import jax.numpy as jnp


class QNetwork(nn.Module):
    """MLP Q-network: obs [..., obs_dim] -> Q-values [..., num_actions] (float32).

    Each hidden layer is Dense -> (LayerNorm if `layer_norm`) -> ReLU; the default (64, 64)
    matches the course lab. With `dueling`, Q = V + A - mean(A) from two linear heads.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    dueling: bool = False
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(obs, jnp.float32)
        for i, width in enumerate(self.hidden_sizes):
            x = nn.Dense(width, name=f"hidden_{i}")(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f"layer_norm_{i}")(x)
            x = nn.relu(x)
        if not self.dueling:
            return nn.Dense(self.num_actions, name="q_head")(x)
        value = nn.Dense(1, name="value_head")(x)
        advantage = nn.Dense(self.num_actions, name="advantage_head")(x)
        return value + advantage - advantage.mean(axis=-1, keepdims=True)


def q_values(apply_fn: Callable, params, obs: jnp.ndarray) -> jnp.ndarray:
    """Q-values for `obs` [..., obs_dim]: returns [..., num_actions] (float32)."""
    chex.assert_rank(obs, {1, 2, 3, 4})
    return apply_fn(params, obs)
