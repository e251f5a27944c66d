"""Bad input, as a table: every row is one command line that must fail with a one-line
`error: ...` naming the problem, a non-zero exit, and no file written or changed."""

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from rlax_lander import cli

RUN = ["--env", "CartPole-v1", "--total-timesteps", "2000", "--learning-starts", "200"]

# (argv with {out} / {run} / {file} placeholders, regex the error must match)
ROWS = [
    (["train", "--cpu-devices", "0", "--out", "{out}"], r"--cpu-devices=0 .*allowed: >= 1"),
    (["train", "--cpu-devices", "-2", "--out", "{out}"], r"--cpu-devices=-2"),
    (["train", "--preset", "nope", "--out", "{out}"], r"preset='nope' is unknown.*cartpole"),
    (["train", "--preset", "cartpole", "--env", "LunarLander-v3", "--out", "{out}"],
     r"preset='cartpole' is tuned for CartPole-v1, not LunarLander-v3"),
    (["train", "--env", "Pendulum-v1", "--out", "{out}"],
     r"Pendulum-v1.*continuous actions.*DQN, PQN"),
    (["train", "--env", "Nope-v0", "--out", "{out}"], r"--env='Nope-v0' is unknown"),
    (["train", "--algo", "nope", "--out", "{out}"], r"--algo.*invalid choice"),
    (["train", "--seeds", "0", "--out", "{out}"], r"--seeds=0 is out of range"),
    (["train", "--eval-episodes", "0", "--out", "{out}"], r"--eval-episodes=0"),
    (["train", "--checkpoint-every", "-1", "--out", "{out}"], r"--checkpoint-every=-1"),
    (["train", "--gamma", "1.5", "--out", "{out}"], r"gamma=1.5 is out of range.*--gamma"),
    (["train", "--learning-rate", "nan", "--out", "{out}"], r"--learning-rate.*not a finite"),
    (["train", "--total-timesteps", "2.5", "--out", "{out}"], r"--total-timesteps.*integer"),
    (["train", "--num-envs", "1.5", "--out", "{out}"], r"--num-envs.*integer"),
    (["train", "--layer-norm", "maybe", "--out", "{out}"], r"--layer-norm.*not a bool"),
    (["train", "--hidden-sizes", "64.7", "--out", "{out}"], r"--hidden-sizes.*integer"),
    (["train", "--target-mode", "sometimes", "--out", "{out}"], r"--target-mode.*invalid choice"),
    (["train", *RUN[:2], "--total-timesteps", "100", "--out", "{out}"],
     r"total_timesteps=100 .*performs no update"),
    (["train", *RUN, "--total-timesteps", "3000000000", "--out", "{out}"],
     r"needs about .* GiB.*--max-memory-gb"),
    (["train", "--devices", "two", "--out", "{out}"], r"--devices='two' is invalid"),
    (["train", "--no-such-flag", "1", "--out", "{out}"], r"unrecognized arguments"),
    (["train", *RUN, "--out", "{run}"], r"is not empty.*resume.*overwriting"),
    (["train", *RUN, "--out", "{file}"], r"exists and is not a directory"),
    (["train", "--resume", "{out}"], r"cannot resume"),
    (["train", "--resume", "{run}"], r"checkpoint.msgpack is missing"),
    (["train", "--resume", "{run}", "--gamma", "0.9"], r"--gamma cannot change a resumed run"),
    (["train", "--resume", "{run}", "--preset", "cartpole"], r"--preset cannot change"),
    (["train", "--resume", "{run}", "--out", "{out}"], r"--out .* differs from --resume"),
    (["train", "--resume", "{run}", "--seeds", "3"], r"--seeds cannot change"),
    (["train", "--max-memory-gb", "0", "--out", "{out}"], r"--max-memory-gb=0"),
    (["ablate", *RUN, "--out", "{run}"], r"is not empty"),
    (["ablate", *RUN, "--out", "{file}"], r"exists and is not a directory"),
    (["ablate", *RUN, "--grid", "learning_rate", "--out", "{out}"], r"--grid item .*malformed"),
    (["ablate", *RUN, "--grid", "hidden_sizes=1,2", "--out", "{out}"],
     r"not a vmappable hyperparameter"),
    (["ablate", *RUN, "--grid", "gamma=1.5", "--out", "{out}"], r"gamma=1.5 is out of range"),
    (["ablate", *RUN, "--cpu-devices", "0", "--out", "{out}"], r"--cpu-devices=0"),
    (["ablate", *RUN, "--coordinator", "x", "--out", "{out}"], r"go together"),
    (["evaluate", "{out}"], r"not a run directory"),
    (["evaluate", "{run}", "--episodes", "0"], r"--episodes=0"),
    (["evaluate", "{run}", "--backend", "gpu"], r"invalid choice"),
    (["render", "{run}", "--fps", "0", "--out", "{out}/x.gif"], r"--fps=0 is out of range"),
    (["render", "{run}", "--fps", "-5", "--out", "{out}/x.gif"], r"--fps=-5"),
    (["render", "{run}", "--out", "{out}/x.png"], r"unknown format '.png'"),
    (["render", "{out}", "--out", "{out}/x.gif"], r"not a run directory"),
]


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def places(tmp_path):
    run = tmp_path / "existing_run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"algo": "dqn", "config": {"env_id": "CartPole-v1"}, "num_seeds": 1, "seed": 0}))
    (run / "metrics.csv").write_text("seed,env_step,env_index,episode_return\n0,10,0,9.0\n")
    (tmp_path / "a_file").write_text("not a directory\n")
    return {"out": str(tmp_path / "fresh"), "run": str(run), "file": str(tmp_path / "a_file")}


@pytest.mark.parametrize("argv, pattern", ROWS,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_clean_line_and_writes_nothing(tmp_path, places, capsys, argv,
                                                        pattern):
    argv = [a.format(**places) for a in argv]
    before = _snapshot(tmp_path)
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("error: ") and "\n" not in err, err
    assert re.search(pattern, err), err
    assert _snapshot(tmp_path) == before
    assert not os.path.exists(places["out"])
