"""One Gymnasium env step, ours vs Box2D's, side by side; where our step's time goes; async start-up.

Single env (``--part single``): ``gymnasium.make("LunarLander-v3")`` (Box2D) and
``gymnasium.make("rlax_lander/LunarLander-v3")`` (the same wrapper stack: TimeLimit,
OrderEnforcing, PassiveEnvChecker), stepped with the same random actions and reset when an episode
ends, in alternating rounds (``--rounds`` x ``--steps`` steps each, so load from other processes
hits both alike); per-step time is the median over rounds. Our step is then taken apart, each part
timed in the same interleaved way:

- ``dispatch floor``: a jitted function with the step's signature (words, action, params) that
  adds the action to the words, plus the host copy of its output: the cost of any call;
- ``program``: the jitted step, waited for (``block_until_ready``) but not copied to the host;
- ``program + copy``: the same plus ``np.asarray`` of the result (what the adapter does);
- ``in-scan``: the same step inside a 100-step ``lax.scan`` (batch 1), per step: the program alone;
- ``unwrapped step``: ``env.unwrapped.step`` (the adapter's Python: validation, info dict);
- ``before``: the previous adapter's path (a separate ``jax.random.split`` call, then the jitted
  step on the state pytree returning obs, state, reward, flags and info, all fetched with
  ``jax.device_get``).

Async (``--part async``): ``make_vec(..., vectorization_mode="async")`` with the default start
method, 2 workers; the time of the first ``reset`` + ``step`` (each worker imports JAX and
compiles, or loads from the persistent compilation cache, its programs) with an empty cache
directory, then again with the cache that run filled.

Writes experiments/results/bench_single_env.json and prints a BENCHMARKS.md line.

    python scripts/bench_single_env.py [--part single,async] [--rounds 15] [--steps 200]
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _interleaved(fns: dict, rounds: int, steps: int) -> dict:
    """Median over rounds of the per-call time (us) of each fn, rounds alternating between fns."""
    per = {name: [] for name in fns}
    for fn in fns.values():  # warm-up (compiles)
        for _ in range(20):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(steps):
                fn()
            per[name].append((time.perf_counter() - t) / steps * 1e6)
    return {name: float(np.median(v)) for name, v in per.items()}


def _stepper(env, actions):
    """A closure doing one env step (reset on episode end) with the next pre-drawn action."""
    i = [0]
    env.reset(seed=0)

    def step():
        a = actions[i[0] % len(actions)]
        i[0] += 1
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()

    return step


def bench_single(rounds: int, steps: int) -> dict:
    import gymnasium
    import jax
    import jax.numpy as jnp

    import rlax_lander
    from rlax_lander.interop import gymnasium as ig

    gymnasium.register_envs(rlax_lander)
    actions = [int(a) for a in np.random.default_rng(0).integers(0, 4, 10_000)]
    box2d = gymnasium.make("LunarLander-v3")
    ours = gymnasium.make(ig.DISCRETE_ID)
    head = _interleaved({"box2d": _stepper(box2d, actions), "ours": _stepper(ours, actions)}, rounds, steps)

    env = ours.unwrapped
    env.reset(seed=0)
    jax_env, _, step_fn, unpack, layout, params = env._programs()
    words, a = env._words, np.int32(0)
    key, state = unpack(words)

    @jax.jit
    def noop(words, action, params):
        return words + action

    def scan_body(w, _):
        w = step_fn(w, jnp.int32(0), params)
        return w, w[-1]

    in_scan = jax.jit(lambda w: jax.lax.scan(scan_body, w, None, 100)[1])

    def old_step(k, s, action, p):
        obs, s, reward, terminated, info = jax_env.step_env(jax.random.split(k)[0], s, action, p)
        return obs, s, reward, terminated, jax_env.is_truncated(s, p), info

    old_jit = jax.jit(old_step)

    def before():
        _, k = jax.random.split(key)
        return jax.device_get(old_jit(k, state, a, params))

    unwrapped_step = _stepper(env, actions)
    parts = _interleaved(
        {
            "dispatch floor": lambda: np.asarray(noop(words, a, params)),
            "program": lambda: jax.block_until_ready(step_fn(words, a, params)),
            "program + copy": lambda: np.asarray(step_fn(words, a, params)),
            "in-scan x100": lambda: jax.block_until_ready(in_scan(words)),
            "unwrapped step": unwrapped_step,
            "before": before,
        },
        rounds,
        max(10, steps // 4),
    )
    parts["in-scan"] = parts.pop("in-scan x100") / 100
    return {"steps_per_round": steps, "rounds": rounds, "us_per_step": head, "parts_us": parts,
            "ratio": head["ours"] / head["box2d"]}


_ASYNC_WORKER = """
import sys, time
import gymnasium, numpy as np
import rlax_lander
t = time.perf_counter()
envs = gymnasium.make_vec("rlax_lander/LunarLander-v3", num_envs=2, vectorization_mode="async")
envs.reset(seed=0)
envs.step(np.array([0, 2]))
first = time.perf_counter() - t
t = time.perf_counter()
for _ in range(200):
    envs.step(np.array([0, 2]))
print(first, (time.perf_counter() - t) / 200)
envs.close()
"""


def bench_async() -> dict:
    import multiprocessing

    out = {"start_method": multiprocessing.get_start_method(), "num_envs": 2}
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
        env["RLAX_LANDER_JAX_CACHE"] = cache
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        for label in ("cold cache", "warm cache"):
            res = subprocess.run([sys.executable, "-c", textwrap.dedent(_ASYNC_WORKER)], env=env, check=True,
                                 capture_output=True, text=True)
            first, step = map(float, res.stdout.split())
            out[label] = {"first_reset_and_step_s": first, "step_us": step * 1e6}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="single,async")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default="experiments/results")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from rlax_lander.machine import cpu_model

    parts = args.part.split(",")
    result = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "load_avg": os.getloadavg(),
        "python": platform.python_version(),
        "command": "python scripts/bench_single_env.py " + " ".join(sys.argv[1:]),
    }
    if "single" in parts:
        result["single"] = bench_single(args.rounds, args.steps)
    if "async" in parts:
        result["async"] = bench_async()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_single_env.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
