"""Tests of the Box2D LunarLander-v3 evaluation harness (needs gymnasium[box2d])."""

import numpy as np
import pytest

pytest.importorskip("Box2D")
pytest.importorskip("gymnasium")

from rlax_lander import episode_stats as es  # noqa: E402
from rlax_lander.interop import box2d  # noqa: E402


@pytest.fixture(scope="module")
def heuristic_eval():
    return box2d.evaluate_box2d(box2d.heuristic_policy(continuous=False), episodes=30, seed=0)


def _check_outcomes_agree_with_last_reward(ev):
    assert np.all(ev.last_rewards[ev.outcomes == es.LANDED] == 100.0)
    assert np.all(ev.last_rewards[(ev.outcomes == es.CRASH) | (ev.outcomes == es.OUT)] == -100.0)
    truncated = ev.outcomes == es.TRUNCATED
    assert np.all(np.abs(ev.last_rewards[truncated]) < 100.0)
    assert np.all(ev.lengths[truncated] == 1000)


def test_heuristic_lands(heuristic_eval):
    ev = heuristic_eval
    assert ev.returns.shape == ev.lengths.shape == ev.outcomes.shape == (30,)
    np.testing.assert_array_equal(ev.seeds, np.arange(30))
    assert ev.returns.mean() > 150.0
    assert np.mean(ev.outcomes == es.LANDED) > 0.8
    assert np.all((1 <= ev.lengths) & (ev.lengths <= 1000))
    _check_outcomes_agree_with_last_reward(ev)
    summary = ev.summary(reps=200)
    assert summary["outcomes"]["landed"] == pytest.approx(np.mean(ev.outcome_names == "landed"))


def test_heuristic_is_deterministic_per_seed(heuristic_eval):
    again = box2d.evaluate_box2d(box2d.heuristic_policy(False), episodes=5, seed=3)
    np.testing.assert_array_equal(again.returns, heuristic_eval.returns[3:8])
    np.testing.assert_array_equal(again.lengths, heuristic_eval.lengths[3:8])


def test_random_policy_short_and_mostly_crashes():
    ev = box2d.evaluate_box2d(box2d.random_policy(False, seed=1), episodes=30, seed=100)
    assert ev.lengths.mean() < 200
    assert np.mean(ev.outcomes == es.CRASH) > 0.6
    assert np.all(ev.outcomes != es.LANDED)
    assert ev.returns.mean() < 0.0
    _check_outcomes_agree_with_last_reward(ev)


def test_continuous_heuristic_and_random():
    ev = box2d.evaluate_box2d(box2d.heuristic_policy(continuous=True), episodes=5, continuous=True)
    assert np.mean(ev.outcomes == es.LANDED) >= 0.8
    action = box2d.random_policy(continuous=True, seed=0)(np.zeros(8, np.float32))
    assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
    _check_outcomes_agree_with_last_reward(ev)


def test_batched_policy_matches_sequential(heuristic_eval):
    single = box2d.heuristic_policy(False)
    shapes = set()

    def batched(obs):
        shapes.add(obs.shape)
        return np.array([single(o) for o in obs])

    ev = box2d.evaluate_box2d(batched, episodes=12, seed=0, batched=True, num_envs=5)
    assert shapes == {(5, 8)}  # constant batch shape
    np.testing.assert_array_equal(ev.returns, heuristic_eval.returns[:12])
    np.testing.assert_array_equal(ev.outcomes, heuristic_eval.outcomes[:12])


def test_short_time_limit_truncates():
    ev = box2d.evaluate_box2d(lambda obs: 0, episodes=2, max_steps=10)
    np.testing.assert_array_equal(ev.lengths, [10, 10])
    np.testing.assert_array_equal(ev.outcomes, [es.TRUNCATED, es.TRUNCATED])


@pytest.mark.parametrize(
    "kwargs, name", [({"episodes": 0}, "episodes"), ({"episodes": 1, "max_steps": 0}, "max_steps")]
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        box2d.evaluate_box2d(lambda obs: 0, **kwargs)


def test_bad_continuous_action_shape():
    with pytest.raises(ValueError, match="2 floats"):
        box2d.evaluate_box2d(lambda obs: np.zeros(3), episodes=1, continuous=True)
