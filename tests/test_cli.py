"""The train command as a newcomer runs it: env defaults, presets, help, a tiny run that writes
a loadable run directory."""

import json

import numpy as np
import pytest

from rlax_lander import cli, load_policy
from rlax_lander.commands import train
from rlax_lander.dqn.config import DQNConfig

TINY = ["--env", "CartPole-v1", "--seeds", "2", "--total-timesteps", "2000",
        "--learning-starts", "200", "--hidden-sizes", "16,16", "--eval-episodes", "3",
        "--progress", "false"]


def test_train_writes_run_dir_and_policy_loads(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    for name in ("config.json", "metrics.csv", "chunks.csv", "summary.json",
                 "learning_curve.png", "params_seed0.msgpack", "params_seed1.msgpack"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "config.json").read_text())
    assert meta["algo"] == "dqn" and meta["num_seeds"] == 2
    assert meta["config"]["total_timesteps"] == 2000 and meta["layout"]["devices"] >= 1
    printed = capsys.readouterr().out
    assert "CartPole-v1 default (cartpole)" in printed and "seed   1:" in printed
    assert "total_timesteps=2000" in printed  # the resolved config is printed
    assert "success = return >= 475" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layout"]["devices"] >= 1 and summary["diverged"] == []
    assert summary["evaluation"]["jax"]["success_return"] == 475.0
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header == "seed,env_step,env_index,episode_return"
    chunks = (out / "chunks.csv").read_text().splitlines()
    assert chunks[0].startswith("seed,chunk,env_step,episodes,episode_return,loss,q_mean")
    assert len(chunks) == 1 + 2 * 20
    policy = load_policy(str(out), seed_index=1)
    assert policy(np.zeros(4, np.float32)) in (0, 1)
    with pytest.raises(ValueError, match="seed_index"):
        load_policy(str(out), seed_index=2)
    with pytest.raises(ValueError, match="config.json"):
        load_policy(str(tmp_path / "nope"))


@pytest.mark.parametrize("argv, expected, source", [
    ([], DQNConfig.lunar_lander(), "LunarLander-v3 default (lunar_lander)"),
    (["--env", "LunarLander-v3"], DQNConfig.lunar_lander(), "LunarLander-v3 default"),
    (["--env", "CartPole-v1"], DQNConfig.cartpole(), "CartPole-v1 default (cartpole)"),
    (["--env", "Acrobot-v1"], DQNConfig(env_id="Acrobot-v1"), "Acrobot-v1 default (generic)"),
    (["--preset", "course_lab"], DQNConfig.course_lab(), "preset course_lab"),
    (["--preset", "cartpole", "--env", "CartPole-v1", "--gamma", "0.9"],
     DQNConfig.cartpole(gamma=0.9), "preset cartpole + --gamma 0.9"),
])
def test_env_picks_its_default_and_flags_override(tmp_path, argv, expected, source):
    plan = train.plan([*argv, "--out", str(tmp_path / "r")])
    assert plan.config == expected and plan.source.startswith(source)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_help_at_every_level(capsys):
    assert cli.main(["--help"]) == 0
    top = capsys.readouterr().out
    for word in ("train", "ablate", "evaluate", "render", "--env", "lunar_lander", "course_lab"):
        assert word in top, word
    for command in ("train", "ablate"):
        with pytest.raises(SystemExit) as err:
            cli.main([command, "--help"])
        assert err.value.code == 0
        text = capsys.readouterr().out
        for word in ("--preset", "--env", "--algo", "--cpu-devices", "--total-timesteps",
                     "--overwrite", "--checkpoint-every", "--tensorboard"):
            assert word in text, (command, word)
        assert "tuned preset" in text


def test_unknown_command():
    assert cli.main(["fly"]) == 2
