"""`PQNConfig`: one frozen, validated description of a PQN run, and its `PQNHparams` pytree.

PQN (Gallici et al., ICLR 2025, "Simplifying Deep Temporal Difference Learning"; code in
purejaxql's `pqn_gymnax.py`): no target network and no replay buffer. Each iteration steps
`num_envs` auto-resetting envs for `rollout_steps` vector steps with epsilon-greedy actions,
computes Q(lambda) returns from the online network's max-Q, then runs `num_epochs` passes of
`num_minibatches` shuffled minibatch updates over the rollout.

As in `DQNConfig`, static settings (shapes, modes) change the compiled program; the numeric
ones are copied into `PQNHparams` by `config.hparams()` and passed to `train(key, hparams)` as
inputs, so a grid over them is a `jax.vmap`, not a recompile.

Counting conventions: `total_timesteps` and `epsilon_decay_steps` count env steps of one
seed summed over its `num_envs` envs; one vector step is `num_envs` env steps; one iteration is
`num_envs * rollout_steps` env steps and `num_epochs * num_minibatches` gradient updates.
Env steps beyond whole iterations are not run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax.numpy as jnp
from flax import struct

from rlax_lander.env.ids import check_env_id
from rlax_lander.validation import ConfigRecord

LossKind = Literal["huber", "l2"]
OptimizerKind = Literal["adam", "radam"]

_LOSSES = ("huber", "l2")
_OPTIMIZERS = ("adam", "radam")


@struct.dataclass
class PQNHparams:
    """Numeric hyperparameters that `train` takes as inputs (float32 scalars, vmappable).

    learning_rate: optimizer step size (annealed linearly to 0 over the run's updates when
    `lr_anneal`). gamma: discount in [0, 1]. lambda_: Q(lambda) mixing in [0, 1] (0: one-step
    targets, 1: Monte-Carlo returns bootstrapped at the rollout's end).
    epsilon_start/epsilon_end: exploration endpoints in [0, 1]; epsilon_decay_steps: linear
    decay duration in env steps. reward_scale: rewards are multiplied by it in the targets
    (purejaxql's REW_SCALE); episode returns in the metrics stay unscaled.
    """

    learning_rate: jnp.ndarray
    gamma: jnp.ndarray
    lambda_: jnp.ndarray
    epsilon_start: jnp.ndarray
    epsilon_end: jnp.ndarray
    epsilon_decay_steps: jnp.ndarray
    reward_scale: jnp.ndarray


def _fail(field: str, value, allowed: str) -> None:
    raise ValueError(f"PQNConfig.{field}={value!r} is out of range; allowed: {allowed}")


def _check(ok: bool, field: str, value, allowed: str) -> None:
    if not ok:
        _fail(field, value, allowed)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclasses.dataclass(frozen=True)
class PQNConfig(ConfigRecord):
    """A PQN run: environment, budget, rollout/update shape, network, optimisation, exploration.

    Defaults are a small CartPole-v1 run; see the `cartpole` and `lunar_lander` presets.
    """

    env_id: str = "CartPole-v1"
    total_timesteps: int = 100_000
    """Env steps per seed, summed over the parallel envs."""
    num_envs: int = 32
    rollout_steps: int = 32
    """Vector steps per iteration (the T of the lambda-returns)."""
    num_epochs: int = 2
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass; must divide num_envs * rollout_steps."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    layer_norm: bool = True
    loss: LossKind = "l2"
    optimizer: OptimizerKind = "radam"
    max_grad_norm: float | None = 10.0
    """Global-norm gradient clipping; None disables it."""
    lr_anneal: bool = True
    """Decay the learning rate linearly to 0 over the run's gradient updates."""
    learning_rate: float = 1e-3
    gamma: float = 0.99
    lambda_: float = 0.65
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 20_000
    """Linear epsilon decay, in env steps."""
    reward_scale: float = 0.1

    def __post_init__(self):
        _check(isinstance(self.env_id, str), "env_id", self.env_id, "a string env id")
        check_env_id(self.env_id, discrete=True, owner="PQNConfig.env_id")
        for name in ("total_timesteps", "num_envs", "rollout_steps", "num_epochs",
                     "num_minibatches", "epsilon_decay_steps"):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 1, name, value, "an int >= 1")
        sizes = self.hidden_sizes
        _check(isinstance(sizes, (tuple, list)) and len(sizes) >= 1
               and all(_is_int(h) and h >= 1 for h in sizes),
               "hidden_sizes", sizes, "a non-empty tuple of ints >= 1")
        object.__setattr__(self, "hidden_sizes", tuple(sizes))
        for name in ("layer_norm", "lr_anneal"):
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name), "a bool")
        _check(self.loss in _LOSSES, "loss", self.loss, str(_LOSSES))
        _check(self.optimizer in _OPTIMIZERS, "optimizer", self.optimizer, str(_OPTIMIZERS))
        _check(self.max_grad_norm is None or (_is_real(self.max_grad_norm)
                                              and self.max_grad_norm > 0),
               "max_grad_norm", self.max_grad_norm, "None or a number > 0")
        _check(_is_real(self.learning_rate) and self.learning_rate > 0, "learning_rate",
               self.learning_rate, "a number > 0")
        for name in ("gamma", "lambda_", "epsilon_start", "epsilon_end"):
            value = getattr(self, name)
            _check(_is_real(value) and 0.0 <= value <= 1.0, name, value, "a number in [0, 1]")
        _check(_is_real(self.reward_scale) and self.reward_scale > 0, "reward_scale",
               self.reward_scale, "a number > 0")
        batch = self.num_envs * self.rollout_steps
        if batch % self.num_minibatches:
            divisors = [d for d in range(1, batch + 1) if batch % d == 0]
            shown = divisors if len(divisors) <= 16 else divisors[:16] + ["..."]
            _fail("num_minibatches", self.num_minibatches,
                  f"a divisor of num_envs * rollout_steps = {self.num_envs} * "
                  f"{self.rollout_steps} = {batch}: {shown}")
        if self.total_timesteps < batch:
            _fail("total_timesteps", self.total_timesteps,
                  f">= num_envs * rollout_steps = {batch} (one iteration); a smaller budget "
                  "performs no update")

    # ------------------------------------------------------------------ derived quantities
    @property
    def iteration_env_steps(self) -> int:
        """Env steps per iteration: num_envs * rollout_steps."""
        return self.num_envs * self.rollout_steps

    @property
    def num_iterations(self) -> int:
        """Whole rollout+update iterations in the budget."""
        return self.total_timesteps // self.iteration_env_steps

    @property
    def minibatch_size(self) -> int:
        """Transitions per gradient update: num_envs * rollout_steps / num_minibatches."""
        return self.iteration_env_steps // self.num_minibatches

    @property
    def updates_per_iteration(self) -> int:
        """Gradient updates per iteration: num_epochs * num_minibatches."""
        return self.num_epochs * self.num_minibatches

    @property
    def num_updates(self) -> int:
        """Gradient updates of the whole budget (the learning-rate annealing horizon)."""
        return self.num_iterations * self.updates_per_iteration


    def hparams(self) -> PQNHparams:
        """The default `PQNHparams` pytree (float32 scalars) taken from this config."""
        f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
        return PQNHparams(
            learning_rate=f(self.learning_rate), gamma=f(self.gamma), lambda_=f(self.lambda_),
            epsilon_start=f(self.epsilon_start), epsilon_end=f(self.epsilon_end),
            epsilon_decay_steps=f(self.epsilon_decay_steps), reward_scale=f(self.reward_scale))

    # ------------------------------------------------------------------ presets
    @classmethod
    def cartpole(cls, **changes) -> PQNConfig:
        """A CartPole-v1 default: 32 envs x 32 steps per iteration, 4 epochs of 8 minibatches
        (128 transitions each), lambda 0.9, RAdam 1e-3 annealed, 64-64 LayerNorm MLP, rewards
        x 0.1, epsilon 1 -> 0.05 over 20k env steps, 120k env steps (117 iterations).
        Measured (8 seeds, 100 greedy episodes each, JAX CartPole): 7/8 seeds at 500 or above
        441, one at 364 (tests/pqn/test_train.py checks 4 seeds)."""
        base = dict(env_id="CartPole-v1", total_timesteps=120_000, num_envs=32, rollout_steps=32,
                    num_epochs=4, num_minibatches=8, lambda_=0.9)
        base.update(changes)
        return cls(**base)

    @classmethod
    def lunar_lander(cls, **changes) -> PQNConfig:
        """The tuned LunarLander-v3 default: 32 envs x 32 steps per iteration, 4 epochs of 8
        minibatches of 128 (one update per 32 env steps, each transition used 4 times),
        lambda 0.9, gamma 0.99, RAdam 2e-3 annealed to 0, gradient norm <= 10, 64-64 LayerNorm
        MLP, rewards x 0.1, epsilon 1 -> 0.05 over 64k env steps, 368,640 env steps per seed
        (360 iterations: 10, 20, 36 ... chunks divide them).

        Measured with this preset (8 seeds `split(key(0), 8)`, `parallel.run_cells` on 2 XLA
        CPU devices, 10 chunks): Box2D means 232, 272, 269, 249, 230, 270, 264, 252 (8/8 >= 200,
        mean 254.7); 47 s compile + 50 s run on the shared 2-core machine (load ~8), where the
        DQN default took 78 s + 144 s (load ~10; its seeds scored 7/8, mean 227). A second seed
        set (`split(key(1), 8)`): 238-256, 8/8 (mean 248.4). `scripts/bench_pqn_lander.py`
        reproduces these runs.

        Tuning (8 seeds vmapped, trained on the JAX lander; Box2D: greedy, 100 episodes per
        seed, `evaluation.box2d_paired` seed 0), seeds with Box2D mean >= 200:
        512k steps, lr 1e-3, lambda 0.9: 8/8 (means 233-265); lambda 0.65: 8/8 (224-258);
        ~369k steps (anneal horizon 375 iterations), lr 2e-3: 8/8 (240-280, mean 260);
        lr 1e-3: 8/8 (230-256); 307k steps: 5/8 (JAX env) at lr 1e-3 and 2e-3; 256k steps:
        7/8 (lr 2e-3) and 5/8 (3e-3) in the JAX env; 2 epochs x 4 minibatches at 64 envs
        (8x fewer updates): no seed above 100 after 500k steps."""
        base = dict(env_id="LunarLander-v3", total_timesteps=368_640, num_envs=32,
                    rollout_steps=32, num_epochs=4, num_minibatches=8, lambda_=0.9,
                    learning_rate=2e-3, epsilon_decay_steps=64_000)
        base.update(changes)
        return cls(**base)


PRESETS = {"cartpole": PQNConfig.cartpole, "lunar_lander": PQNConfig.lunar_lander}
"""Named configs; each belongs to the env of `PRESET_ENVS`."""

PRESET_ENVS = {"cartpole": "CartPole-v1", "lunar_lander": "LunarLander-v3"}

ENV_DEFAULT_PRESETS = {"CartPole-v1": "cartpole", "LunarLander-v3": "lunar_lander"}
"""The tuned preset an env id starts from; other ids start from `PQNConfig(env_id=...)`."""
