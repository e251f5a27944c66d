"""Tests of rlax_lander.episode_stats.summarize_episodes and outcome codes."""

import json

import numpy as np
import pytest

from rlax_lander import episode_stats as es


def test_summary_values():
    returns = np.array([250.0, 210.0, -100.0, 199.0, 300.0])
    lengths = np.array([200, 300, 80, 1000, 250])
    outcomes = ["landed", "landed", "crash", "truncated", "landed"]
    s = es.summarize_episodes(returns, lengths, outcomes, reps=500)
    assert s["episodes"] == 5
    assert s["mean"]["point"] == pytest.approx(returns.mean())
    assert s["mean"]["lo"] <= s["mean"]["point"] <= s["mean"]["hi"]
    assert s["median"]["point"] == pytest.approx(210.0)
    assert s["std"] == pytest.approx(returns.std())
    assert s["mean_length"] == pytest.approx(366.0)
    assert s["success_rate"] == pytest.approx(3 / 5)  # 199 is below the bar
    assert s["outcomes"] == pytest.approx({"landed": 0.6, "crash": 0.2, "out": 0.0, "truncated": 0.2})
    json.dumps(s)  # serialisable for the fidelity report


def test_int_codes_and_names_agree():
    names = np.array(["out", "crash", "landed", "truncated", "crash"])
    codes = es.outcome_codes(names)
    np.testing.assert_array_equal(codes, [es.OUT, es.CRASH, es.LANDED, es.TRUNCATED, es.CRASH])
    r, lengths = np.arange(5.0), np.ones(5)
    assert es.summarize_episodes(r, lengths, names, reps=50) == es.summarize_episodes(
        r, lengths, codes, reps=50)


@pytest.mark.parametrize(
    "returns, lengths, outcomes, name",
    [
        ([], [], [], "returns"),
        ([1.0, 2.0], [1], [0, 0], "lengths"),
        ([1.0, 2.0], [1, 1], [0], "outcomes"),
        ([1.0], [1], ["flew away"], "outcomes"),
        ([1.0], [1], [7], "outcomes"),
    ],
)
def test_bad_input(returns, lengths, outcomes, name):
    with pytest.raises(ValueError, match=name):
        es.summarize_episodes(returns, lengths, outcomes)
