"""Gymnasium ids on ``import rlax_lander`` and async vector envs, each in a fresh interpreter.

The pytest process has a running JAX backend, so everything that must start without one (the
import, building envs, forking workers) runs in a subprocess.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(source: str, timeout: float = 600) -> str:
    env = dict(os.environ)
    paths = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    command = [sys.executable, "-c", textwrap.dedent(source)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def test_import_registers_the_ids_without_jax():
    out = _run(
        """
        import sys
        import gymnasium
        import rlax_lander

        for name in ("jax", "gymnax", "Box2D", "rlax_lander.interop.gymnasium"):
            print(name, name in sys.modules)
        gymnasium.register_envs(rlax_lander)
        for env_id in ("rlax_lander/LunarLander-v3", "rlax_lander/LunarLanderContinuous-v3"):
            spec = gymnasium.spec(env_id)
            assert spec.max_episode_steps == 1000 and spec.reward_threshold == 200, spec
        env = gymnasium.make("rlax_lander/LunarLander-v3")
        envs = gymnasium.make_vec("rlax_lander/LunarLanderContinuous-v3", num_envs=3)
        print("built", type(env.unwrapped).__name__, type(envs.unwrapped).__name__)
        print("jax after building", "jax" in sys.modules)
        obs, _ = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(2)
        vobs, _ = envs.reset(seed=0)
        vobs, *_ = envs.step(envs.action_space.sample())
        print("stepped", obs.shape, vobs.shape)
        """
    )
    assert "jax False" in out and "gymnax False" in out and "Box2D False" in out
    assert "rlax_lander.interop.gymnasium True" in out
    assert "built JaxLunarLander JaxLunarLanderVector" in out
    assert "jax after building False" in out  # building an env does not import JAX either
    assert "stepped (8,) (3, 8)" in out


def test_async_vector_env_with_the_default_start_method():
    out = _run(
        """
        import multiprocessing
        import sys

        import gymnasium
        import numpy as np
        import rlax_lander

        envs = gymnasium.make_vec("rlax_lander/LunarLander-v3", num_envs=2, vectorization_mode="async")
        print("start method", multiprocessing.get_start_method(), "jax in parent", "jax" in sys.modules)
        obs, _ = envs.reset(seed=[5, 6])
        single = gymnasium.make("rlax_lander/LunarLander-v3")
        first = single.reset(seed=6)[0]
        np.testing.assert_array_equal(obs[1], first)
        for _ in range(5):
            obs, reward, terminated, truncated, info = envs.step(np.array([2, 0]))
        np.testing.assert_array_equal(obs[1], [single.step(0)[0] for _ in range(5)][-1])
        envs.close()
        print("ok", obs.shape)
        """
    )
    assert "jax in parent False" in out and "ok (2, 8)" in out


def test_async_fork_after_jax_started_fails_at_once_with_what_to_pass():
    if sys.platform != "linux":
        pytest.skip("fork is the default start method only on Linux")
    out = _run(
        """
        import multiprocessing
        import time
        import warnings

        import gymnasium
        import jax
        import rlax_lander

        jax.numpy.zeros(3).block_until_ready()  # the parent's JAX backend is running
        warnings.simplefilter("ignore")  # JAX's own warning about os.fork()
        envs = gymnasium.make_vec(
            "rlax_lander/LunarLander-v3", num_envs=2, vectorization_mode="async",
            vector_kwargs={"context": "fork"},
        )
        t = time.perf_counter()
        try:
            envs.reset(seed=0)
        except RuntimeError as e:
            print("raised", type(e).__name__, "after", round(time.perf_counter() - t), "s:", e)
        else:
            print("no error")
        envs.close(terminate=True)
        """,
        timeout=300,
    )
    assert "raised RuntimeError" in out, out
    assert "forkserver" in out and "vector_kwargs" in out
    seconds = int(out.split(" after ")[1].split(" s:")[0])
    assert seconds < 30, out


def test_import_rlax_lander_without_gymnasium_registers_nothing():
    out = _run(
        """
        import sys
        sys.modules["gymnasium"] = None  # as if not installed
        import rlax_lander
        print("ok", "rlax_lander.interop.gymnasium" in sys.modules, "jax" in sys.modules)
        """
    )
    assert "ok False False" in out


def test_pickled_env_continues_identically_in_a_fresh_interpreter(tmp_path):
    import pickle

    import gymnasium
    import numpy as np

    import rlax_lander

    gymnasium.register_envs(rlax_lander)
    env = gymnasium.make("rlax_lander/LunarLander-v3")
    env.reset(seed=9)
    for a in (2, 2, 1, 3, 0):
        env.step(a)
    (tmp_path / "env.pkl").write_bytes(pickle.dumps(env))
    expected = np.stack([env.step(a)[0] for a in (2, 0, 1, 3)])
    np.save(tmp_path / "expected.npy", expected)
    out = _run(
        f"""
        import pickle, sys
        import numpy as np
        env = pickle.loads(open({str(tmp_path / "env.pkl")!r}, "rb").read())
        got = np.stack([env.step(a)[0] for a in (2, 0, 1, 3)])
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        print("identical", type(env.unwrapped).__name__)
        """
    )
    assert "identical JaxLunarLander" in out
