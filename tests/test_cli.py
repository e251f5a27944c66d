"""CLI: a tiny train run writes a loadable run dir; bad flags fail cleanly."""

import json

import numpy as np
import pytest

from rlax_lander import cli, load_policy
from rlax_lander.dqn.run import TrainArgs, parse_args


def test_train_writes_run_dir_and_policy_loads(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "--env", "CartPole-v1", "--seeds", "2", "--total-timesteps", "2000",
                   "--learning-starts", "200", "--hidden-sizes", "16", "16",
                   "--eval-episodes", "3", "--out", str(out)])
    assert rc == 0
    for name in ("config.json", "metrics.csv", "learning_curve.png", "params_seed0.msgpack",
                 "params_seed1.msgpack"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "config.json").read_text())
    assert meta["num_seeds"] == 2 and meta["dqn"]["total_timesteps"] == 2000
    assert "seed 1:" in capsys.readouterr().out
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header == "seed,env_step,episode_return"
    policy = load_policy(str(out), seed_index=1)
    assert policy(np.zeros(4, np.float32)) in (0, 1)
    with pytest.raises(ValueError, match="seed_index"):
        load_policy(str(out), seed_index=2)
    (out / "params_seed0.msgpack").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_policy(str(out), seed_index=0)
    with pytest.raises(ValueError, match="config.json"):
        load_policy(str(tmp_path / "nope"))


def test_seeds_zero_is_a_clean_error(capsys):
    with pytest.raises(ValueError, match="seeds.*>= 1"):
        TrainArgs(config=parse_args([]).config, seeds=0)
    with pytest.raises(SystemExit) as err:
        cli.main(["train", "--seeds", "0"])
    assert err.value.code == 2
    assert "seeds" in capsys.readouterr().err


def test_bad_config_flag_names_field(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--gamma", "1.5"])
    assert "gamma" in capsys.readouterr().err


def test_unknown_command_and_preset():
    assert cli.main(["fly"]) == 2
    assert parse_args(["--preset", "course_lab"]).config.gamma == 0.995
    assert parse_args(["--env", "Acrobot-v1"]).config.env_id == "Acrobot-v1"
    with pytest.raises(SystemExit):  # tyro reports the ValueError and exits 2
        parse_args(["--env", "Nope-v0"])
