"""`render` command: a lander run dir becomes a GIF; other envs and formats fail clearly."""

import json

import jax
import numpy as np
from flax import serialization
from PIL import Image

from rlax_lander import cli
from rlax_lander.dqn.config import DQNConfig
from rlax_lander.dqn.train import build_network
from rlax_lander.policy import CONFIG_FILE, params_file


def make_run_dir(path, env_id, obs_dim, num_actions, seeds=1):
    """A run dir as `train` writes it, with random params (enough for the renderer)."""
    cfg = DQNConfig(env_id=env_id, hidden_sizes=(8,))
    path.mkdir(parents=True)
    (path / CONFIG_FILE).write_text(json.dumps({"dqn": cfg.to_dict(), "num_seeds": seeds,
                                                "seed": 0, "eval_episodes": 1}))
    net = build_network(cfg, num_actions)
    for i in range(seeds):
        params = net.init(jax.random.key(i), np.zeros(obs_dim, np.float32))
        (path / params_file(i)).write_bytes(serialization.to_bytes(params))
    return path


def test_render_writes_multi_frame_gif(tmp_path, capsys):
    run = make_run_dir(tmp_path / "lander", "LunarLander-v3", 8, 4, seeds=2)
    gif = tmp_path / "landing.gif"
    assert cli.main(["render", str(run), "--out", str(gif), "--seed-index", "1",
                     "--episode-seed", "3", "--max-steps", "12"]) == 0
    assert "frames" in capsys.readouterr().out
    with Image.open(gif) as im:
        assert im.size == (600, 400)
        assert im.n_frames > 1
    assert cli.main(["render", str(run), "--out", str(tmp_path / "x.gif"),
                     "--seed-index", "2"]) == 2
    assert "seed_index" in capsys.readouterr().err


def test_render_refuses_other_envs_and_formats(tmp_path, capsys):
    run = make_run_dir(tmp_path / "cartpole", "CartPole-v1", 4, 2)
    assert cli.main(["render", str(run), "--out", str(tmp_path / "a.gif")]) == 2
    assert "CartPole-v1" in capsys.readouterr().err
    assert cli.main(["render", str(run), "--out", str(tmp_path / "a.avi")]) == 2
    assert ".avi" in capsys.readouterr().err
    assert cli.main(["render", str(tmp_path / "missing"), "--out", "a.gif"]) == 2
    assert "config.json" in capsys.readouterr().err
    assert not list(tmp_path.glob("a.*"))


def test_mp4_needs_imageio_ffmpeg(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    run = make_run_dir(tmp_path / "lander", "LunarLander-v3", 8, 4)
    assert cli.main(["render", str(run), "--out", str(tmp_path / "a.mp4")]) == 2
    assert "imageio-ffmpeg" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()
