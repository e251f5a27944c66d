"""Tests of the frame renderer and its GIF/MP4 export."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlax_lander
from rlax_lander.env import constants as C
from rlax_lander.env import render


@pytest.fixture(scope="module")
def env_and_params():
    return rlax_lander.make("LunarLander-v3")


@pytest.fixture(scope="module")
def falling_frames(env_and_params):
    env, params = env_and_params
    return render.rollout_frames(env, params, lambda obs: 0, jax.random.PRNGKey(3), max_steps=30)


def _hull_mask(frame):
    return np.all(frame == np.array(render.HULL_FILL, np.uint8), axis=-1)


def test_frame_shape_and_dtype(env_and_params):
    env, params = env_and_params
    _, state = env.reset(jax.random.PRNGKey(0), params)
    frame = render.render_frame(state)
    assert frame.shape == (C.VIEWPORT_H, C.VIEWPORT_W, 3)
    assert frame.dtype == np.uint8
    # The ground (white) is at the bottom, the sky (black) at the top.
    assert np.all(frame[-1] == 255)
    assert np.all(frame[0, :50] == 0)


def test_falling_lander_moves_down(falling_frames):
    assert len(falling_frames) == 31  # reset frame + 30 steps (no touchdown this early)
    rows = []
    for frame in (falling_frames[0], falling_frames[-1]):
        mask = _hull_mask(frame)
        assert mask.sum() > 200  # hull + legs are several hundred pixels
        rows.append(np.nonzero(mask)[0].mean())
    assert rows[1] > rows[0] + 5.0  # image rows grow downwards: the lander fell


def test_flags_at_helipad_edges(env_and_params):
    env, params = env_and_params
    _, state = env.reset(jax.random.PRNGKey(1), params)
    frame = render.render_frame(state)
    yellow = np.all(frame == np.array(render.FLAG_COLOR, np.uint8), axis=-1)
    cols = np.nonzero(yellow.any(axis=0))[0]
    base = int(round(C.VIEWPORT_H - C.HELIPAD_Y * C.SCALE))  # row 300
    top = base - render.FLAG_POLE_PX
    for x_m in (C.HELIPAD_X1, C.HELIPAD_X2):
        px = int(round(x_m * C.SCALE))  # 240 and 360
        pennant = cols[(cols >= px) & (cols <= px + render.FLAG_LENGTH_PX)]
        assert pennant.min() == px and pennant.max() >= px + render.FLAG_LENGTH_PX - 2
        # The pennant hangs at the top of the pole.
        pennant_rows = np.nonzero(yellow[:, px])[0]
        assert pennant_rows.min() == top and pennant_rows.max() == top + render.FLAG_HEIGHT_PX
        # White pole from the pennant down to the helipad.
        assert np.all(frame[top + render.FLAG_HEIGHT_PX + 1 : base, px] == 255)
    # No yellow anywhere else.
    assert set(cols) <= set(range(240, 266)) | set(range(360, 386))


def test_exhaust_drawn_only_when_an_engine_fires(env_and_params):
    env, params = env_and_params
    _, state = env.reset(jax.random.PRNGKey(2), params)
    state = state.replace(pos=jnp.array([10.0, 8.0], jnp.float32))  # mid-air, well inside the frame
    plain = render.render_frame(state, 0)
    np.testing.assert_array_equal(plain, render.render_frame(state))
    for action in (1, 2, 3):
        fired = render.render_frame(state, action)
        assert np.any(fired != plain), action
        red = (fired[..., 0] > 150) & (fired[..., 1] < 150)
        assert red.sum() > 10, action
    main = render.render_frame(state, np.array([1.0, 0.0], np.float32))
    # Main exhaust: below the hull origin.
    red_rows = np.nonzero((main[..., 0] > 150) & (main[..., 1] < 150))[0]
    origin_row = C.VIEWPORT_H - float(state.pos[1]) * C.SCALE
    assert red_rows.min() > origin_row


def test_batched_state_needs_index(env_and_params):
    env, params = env_and_params
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    with pytest.raises(ValueError, match="index"):
        render.render_frame(states)
    _, s1 = env.reset(keys[1], params)
    np.testing.assert_array_equal(render.render_frame(states, index=1), render.render_frame(s1))


def test_gif_roundtrip(falling_frames, tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "episode.gif"
    render.save_gif(falling_frames, path, fps=50)
    back = iio.imread(path, index=None)
    # Pillow merges identical consecutive frames; every distinct frame must be there.
    distinct = 1 + sum(np.any(a != b) for a, b in zip(falling_frames[:-1], falling_frames[1:]))
    assert back.shape[0] == distinct
    assert back.shape[1:3] == (C.VIEWPORT_H, C.VIEWPORT_W)
    np.testing.assert_array_equal(back[0][..., :3], falling_frames[0])  # palette holds these colours
    meta = iio.immeta(path, index=0)
    assert meta["duration"] == 20  # ms per frame at 50 fps


def test_save_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        render.save_gif([np.zeros((4, 4, 3), np.float32)], tmp_path / "x.gif")


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is not None, reason="ffmpeg present")
def test_mp4_without_ffmpeg_is_a_clear_error(falling_frames, tmp_path):
    with pytest.raises(RuntimeError, match="imageio-ffmpeg"):
        render.save_mp4(falling_frames[:2], tmp_path / "x.mp4")
