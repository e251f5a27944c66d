"""Slow statistical checks (make test-slow) on the path users run: the train command with only
the flags a newcomer types, scored in the real Gymnasium env on reset seeds training never used.
"""

import json

import pytest

from rlax_lander import cli


@pytest.mark.slow
@pytest.mark.parametrize("base_seed", [0, 1, 2])
def test_cartpole_default_solves_at_least_7_of_8_seeds(tmp_path, base_seed):
    out = tmp_path / "cartpole"
    assert cli.main(["train", "--env", "CartPole-v1", "--seeds", "8", "--seed", str(base_seed),
                     "--out", str(out), "--progress", "false"]) == 0
    ev = json.loads((out / "summary.json").read_text())["evaluation"]
    means = [row["gymnasium"]["mean"] for row in ev["per_seed"]]
    assert sum(m >= 475 for m in means) >= 7, means


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["dqn", "pqn"])
def test_lunar_lander_default_solves_at_least_7_of_8_seeds_in_box2d(tmp_path, algo):
    out = tmp_path / algo
    assert cli.main(["train", "--env", "LunarLander-v3", "--algo", algo, "--seeds", "8",
                     "--out", str(out), "--progress", "false"]) == 0
    ev = json.loads((out / "summary.json").read_text())["evaluation"]
    means = [row["box2d"]["mean"] for row in ev["per_seed"]]
    assert sum(m >= 200 for m in means) >= 7, means
