"""`render` command: a lander run dir becomes a GIF; other envs and formats fail clearly."""

from PIL import Image

from rlax_lander import cli


def test_render_writes_multi_frame_gif(tmp_path, capsys, make_run_dir):
    run = make_run_dir(tmp_path / "lander", "LunarLander-v3", 8, 4, seeds=2)
    gif = tmp_path / "landing.gif"
    assert cli.main(["render", str(run), "--out", str(gif), "--seed-index", "1",
                     "--episode-seed", "3", "--max-steps", "12"]) == 0
    printed = capsys.readouterr().out
    assert "frames" in printed and "seed 1, episode seed 3, return" in printed
    with Image.open(gif) as im:
        assert im.size == (600, 400)
        assert im.n_frames > 1
    assert cli.main(["render", str(run), "--out", str(tmp_path / "x.gif"),
                     "--seed-index", "2"]) == 2
    assert "seed_index" in capsys.readouterr().err


def test_render_refuses_other_envs_and_formats(tmp_path, capsys, make_run_dir):
    run = make_run_dir(tmp_path / "cartpole", "CartPole-v1", 4, 2)
    assert cli.main(["render", str(run), "--out", str(tmp_path / "a.gif")]) == 2
    assert "CartPole-v1" in capsys.readouterr().err
    assert cli.main(["render", str(run), "--out", str(tmp_path / "a.avi")]) == 2
    assert ".avi" in capsys.readouterr().err
    assert cli.main(["render", str(tmp_path / "missing"), "--out", "a.gif"]) == 2
    assert "config.json" in capsys.readouterr().err
    assert not list(tmp_path.glob("a.*"))


def test_mp4_needs_imageio_ffmpeg(tmp_path, capsys, monkeypatch, make_run_dir):
    import sys

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    run = make_run_dir(tmp_path / "lander", "LunarLander-v3", 8, 4)
    assert cli.main(["render", str(run), "--out", str(tmp_path / "a.mp4")]) == 2
    assert "imageio-ffmpeg" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()


def test_training_gif_says_what_it_shows(tmp_path, make_run_dir):
    from rlax_lander import evaluation

    run = make_run_dir(tmp_path / "lander", "LunarLander-v3", 8, 4)
    network, params, _ = evaluation.load_params(run, 0)
    info = evaluation.greedy_episode_gif(network, params, tmp_path / "g.gif", seed_index=3,
                                         episode_seed=7, caption="typical ")
    assert info["seed_index"] == 3 and info["episode_seed"] == 7 and info["steps"] >= 1
    assert info["outcome"] in ("landed", "crashed or flew off", "time limit (1000 steps)")
    with Image.open(tmp_path / "g.gif") as im:
        assert im.n_frames > 1
