"""Evaluate a numpy policy in the original Box2D ``LunarLander-v3`` (Gymnasium).

The harness measures episodes the way Appendix A.2 of the LunarLander reference does: episode k
starts with ``env.reset(seed=seed + k)`` on ``gymnasium.make("LunarLander-v3", ...)`` (with its
``TimeLimit``), and each episode gets an outcome code (``rlax_lander.episode_stats``) read from the
unwrapped env after the final step: "landed" if the hull is not awake (the +100 ending, which wins
ties), else "crash" if ``game_over``, else "out" (the only remaining termination cause,
``|x| >= 1``), and "truncated" when the time limit ended an episode that did not terminate.

Requires ``gymnasium[box2d]`` (the ``gym`` extra); imported lazily so the package works without it.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable

import numpy as np

from rlax_lander import episode_stats
from rlax_lander.episode_stats import CRASH, LANDED, OUT, TRUNCATED

OBS_DIM = 8
ENV_ID = "LunarLander-v3"


@dataclasses.dataclass(frozen=True)
class Box2DEvaluation:
    """Per-episode results of ``evaluate_box2d`` (E episodes, in episode order).

    Attributes:
      returns: float64 [E] undiscounted returns.
      lengths: int64 [E] episode lengths in env steps (<= max_steps).
      outcomes: int64 [E] codes ``episode_stats.LANDED | CRASH | OUT | TRUNCATED``.
      last_rewards: float64 [E] reward of each episode's final step (+100 landed, -100 crash/out).
      seeds: int64 [E] the ``reset`` seed of each episode (``seed + k``).
    """

    returns: np.ndarray
    lengths: np.ndarray
    outcomes: np.ndarray
    last_rewards: np.ndarray
    seeds: np.ndarray

    @property
    def outcome_names(self) -> np.ndarray:
        """[E] outcome names (``episode_stats.OUTCOMES``)."""
        return np.asarray(episode_stats.OUTCOMES)[self.outcomes]

    def summary(self, **kwargs) -> dict:
        """``episode_stats.summarize_episodes`` of these episodes (kwargs are passed on)."""
        return episode_stats.summarize_episodes(self.returns, self.lengths, self.outcomes, **kwargs)


def _make_env(continuous: bool, enable_wind: bool, max_steps: int):
    import gymnasium  # optional: the 'gym' extra

    return gymnasium.make(
        ENV_ID, continuous=continuous, enable_wind=enable_wind, max_episode_steps=max_steps
    )


def _to_env_action(action, continuous: bool):
    if continuous:
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (2,):
            raise ValueError(f"a continuous policy must return 2 floats, got shape {np.shape(action)}")
        return a
    return int(np.asarray(action).reshape(()))


def _classify(env, terminated: bool) -> int:
    """Outcome code from the unwrapped env's flags after an episode's final step."""
    if not terminated:
        return TRUNCATED
    lander = env.unwrapped
    if not lander.lander.awake:
        return LANDED
    if lander.game_over:
        return CRASH
    return OUT


def evaluate_box2d(
    policy: Callable,
    episodes: int,
    seed: int = 0,
    continuous: bool = False,
    enable_wind: bool = False,
    max_steps: int = 1000,
    batched: bool = False,
    num_envs: int = 16,
) -> Box2DEvaluation:
    """Runs ``episodes`` episodes of ``policy`` in Box2D LunarLander-v3.

    Args:
      policy: if not ``batched``, ``obs float32 [8] -> action`` (int in {0,1,2,3} when discrete,
        float32 [2] in [-1, 1] when continuous). If ``batched``, ``obs float32 [N, 8] -> actions
        [N]`` or ``[N, 2]`` for N = ``min(num_envs, episodes)`` envs stepped in lockstep; the batch
        shape never changes (rows of envs with no episode left hold stale observations and their
        actions are ignored), so a jitted policy compiles once.
      episodes: number of episodes E >= 1; episode k is reset with ``seed + k``.
      seed: seed of episode 0.
      continuous, enable_wind: ``gymnasium.make`` options of LunarLander-v3.
      max_steps: time limit per episode in env steps (the TimeLimit's ``max_episode_steps``).
      batched: whether ``policy`` takes a batch of observations.
      num_envs: number of lockstep envs when ``batched``.
    Returns:
      A ``Box2DEvaluation`` of E episodes in episode order.
    """
    if not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if batched and (not isinstance(num_envs, (int, np.integer)) or num_envs < 1):
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    n_envs = min(int(num_envs), episodes) if batched else 1

    returns = np.zeros(episodes, np.float64)
    lengths = np.zeros(episodes, np.int64)
    outcomes = np.zeros(episodes, np.int64)
    last_rewards = np.zeros(episodes, np.float64)
    seeds = seed + np.arange(episodes, dtype=np.int64)

    envs = [_make_env(continuous, enable_wind, max_steps) for _ in range(n_envs)]
    obs = np.zeros((n_envs, OBS_DIM), np.float32)
    slot = np.full(n_envs, -1, np.int64)  # episode index run by each env, -1 when idle
    next_episode = 0

    def start(i: int) -> None:
        nonlocal next_episode
        if next_episode >= episodes:
            slot[i] = -1
            return
        slot[i] = next_episode
        obs[i], _ = envs[i].reset(seed=int(seeds[next_episode]))
        next_episode += 1

    try:
        for i in range(n_envs):
            start(i)
        while np.any(slot >= 0):
            if batched:
                actions = np.asarray(policy(obs.copy()))
                if actions.shape[0] != n_envs:
                    raise ValueError(
                        f"a batched policy must return {n_envs} actions, got shape {actions.shape}"
                    )
            for i in np.flatnonzero(slot >= 0):
                k = slot[i]
                action = actions[i] if batched else policy(obs[i].copy())
                o, r, terminated, truncated, _ = envs[i].step(_to_env_action(action, continuous))
                obs[i] = o
                returns[k] += float(r)
                lengths[k] += 1
                if terminated or truncated:
                    last_rewards[k] = float(r)
                    outcomes[k] = _classify(envs[i], bool(terminated))
                    start(i)
    finally:
        for env in envs:
            env.close()
    return Box2DEvaluation(returns, lengths, outcomes, last_rewards, seeds)


def heuristic_policy(continuous: bool = False) -> Callable[[np.ndarray], object]:
    """The original's built-in heuristic controller as a policy ``obs float32 [8] -> action``.

    Wraps ``gymnasium.envs.box2d.lunar_lander.heuristic(env, s)``, which reads only
    ``env.unwrapped.continuous`` from the env, so a stand-in object carries that flag.
    Returns an int action (discrete) or a float32 [2] action in [-1, 1] (continuous).
    """
    from gymnasium.envs.box2d.lunar_lander import heuristic  # optional: the 'gym' extra

    stand_in = types.SimpleNamespace(unwrapped=types.SimpleNamespace(continuous=bool(continuous)))

    def policy(obs: np.ndarray):
        action = heuristic(stand_in, obs)
        return np.asarray(action, dtype=np.float32) if continuous else int(action)

    return policy


def random_policy(continuous: bool = False, seed: int = 0) -> Callable[[np.ndarray], object]:
    """Uniformly random policy (ignores the observation), from ``np.random.default_rng(seed)``.

    Discrete: ``integers(0, 4)``; continuous: ``uniform(-1, 1, 2)`` as float32. The generator is
    shared across calls, so successive episodes see different actions.
    """
    rng = np.random.default_rng(seed)

    def policy(obs: np.ndarray):
        if continuous:
            return rng.uniform(-1.0, 1.0, 2).astype(np.float32)
        return int(rng.integers(0, 4))

    return policy
