"""GPU benchmark in one command, sized for a few minutes of accelerator time (<= 8 min in all).

Measures, on whatever ``jax.devices()`` gives (GPU, TPU or CPU):

1. Env steps/s of the JAX LunarLander: ``rlax_lander.make("LunarLander-v3")``, random discrete
   actions, ``vmap(step)`` inside one jitted ``lax.scan`` of ``--env-steps`` steps, for batch
   sizes 2^10 .. 2^20 (``--env-batches``). Per size: compile time (``lower().compile()``), then a
   warm-up call and a timed call. An out-of-memory error is caught and recorded, and the larger
   sizes are skipped.
2. The LunarLander DQN default, ``DQNConfig.lunar_lander()``, vmapped over 1, 8, 64, 256 and 1024
   seeds (``--seeds``): ``jit(vmap(make_train(config, env, env_params)))(keys, hparams)``; per
   size the compile time, the wall time of one call (the full per-seed budget, first call) and
   the aggregate env steps/s (seeds x total_timesteps / wall).

A time budget (``--budget-s``, default 420 s; the env sweep may use ``--env-share`` of it) keeps the
whole run short: before each size the script estimates its cost from the sizes already measured
(compile as the last one's x1.25, run time extrapolated linearly in the size from the last two)
and records ``"skipped: time"`` for a size that would not fit. The JSON (``--out``, default
experiments/results/bench_gpu.json) is rewritten after every size, so a run cut short still leaves
what it measured. At the end a one-line markdown entry for BENCHMARKS.md is printed (also stored
under "markdown" in the JSON).

    python scripts/bench_gpu.py                       # on the accelerator machine
    python scripts/bench_gpu.py --out /tmp/b.json     # elsewhere
    python scripts/bench_gpu.py --smoke               # tiny sizes on CPU, a CI check (seconds + compiles)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "experiments" / "results" / "bench_gpu.json"
SCHEMA = "rlax_lander.bench_gpu/1"
FULL_ENV_BATCHES = tuple(2**k for k in range(10, 21, 2))  # 2^10, 2^12, ..., 2^20
FULL_SEEDS = (1, 8, 64, 256, 1024)
SMOKE_ENV_BATCHES = (2**4,)  # one size each: CI time goes to compiles
SMOKE_SEEDS = (1,)
# Tiny DQN budget for --smoke: 4 prefill vector steps of 16 envs, then 20 training iterations.
SMOKE_DQN = dict(total_timesteps=64 + 16 * 20, learning_starts=64, buffer_size=256)
SKIPPED_TIME = "skipped: time"
SKIPPED_OOM = "skipped: a smaller size ran out of memory"
SKIPPED_ERROR = "skipped: a smaller size failed"


def estimate_s(done: list[dict], size: int, calls: int) -> float | None:
    """Estimated seconds for one more row of ``size``: compile + ``calls`` x run time.

    Args:
      done: rows measured so far, each with "size", "compile_s", "run_s" (only "ok" rows).
      size: batch size or number of seeds of the next row.
      calls: how many calls the row makes (the env sweep: warm-up + timed = 2; DQN: 1).
    Returns:
      None without any measured row (the first size always runs if time is left), else the
      last compile time x1.25 plus ``calls`` times the run time: a line through the last two
      rows' run times (never below the last one), or with one row the last run time scaled by
      sqrt(size ratio) (small sizes are latency-bound rather than linear).
    """
    if not done:
        return None
    last = done[-1]
    run = last["run_s"]
    if len(done) >= 2:
        prev = done[-2]
        slope = max(0.0, (last["run_s"] - prev["run_s"]) / max(1, last["size"] - prev["size"]))
        run = max(run, last["run_s"] + slope * (size - last["size"]))
    else:
        run = run * (size / last["size"]) ** 0.5
    return 1.25 * last["compile_s"] + calls * run


def is_oom(err: BaseException) -> bool:
    """Whether an XLA error is an out-of-memory error."""
    text = f"{type(err).__name__}: {err}".lower()
    return any(s in text for s in ("resource_exhausted", "out of memory", "failed to allocate"))


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:300]


def _memory_stats() -> dict:
    import jax

    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # backends without memory stats (CPU) raise or return None
        return {}
    return {k: int(stats[k]) for k in ("bytes_limit", "peak_bytes_in_use", "bytes_in_use") if k in stats}


def _sweep(key: str, sizes, deadline: float, calls: int, measure, rows: list, save) -> None:
    """Runs ``measure(size) -> dict`` for each size while time and memory allow.

    Appends one row per size to ``rows``: ``{key: size, "status": ...}`` plus the measurement
    ("ok"), the error ("oom: ..." / "error: ..."), or why it was skipped; calls ``save()`` after
    each row.
    """
    ok: list[dict] = []
    stop = None
    for size in sizes:
        if stop is not None:
            rows.append({key: size, "status": stop})
            save()
            continue
        left = deadline - time.perf_counter()
        est = estimate_s(ok, size, calls)
        if left <= 0 or (est is not None and est > left):
            rows.append({key: size, "status": SKIPPED_TIME,
                         "estimated_s": None if est is None else round(est, 1),
                         "time_left_s": round(max(0.0, left), 1)})
            save()
            continue
        try:
            row = {key: size, "status": "ok", **measure(size)}
            ok.append({"size": size, "compile_s": row["compile_s"], "run_s": row["run_s"]})
        except Exception as err:  # an OOM (or another XLA failure) ends this sweep
            oom = is_oom(err)
            row = {key: size, "status": ("oom: " if oom else "error: ") + _first_line(err)}
            stop = SKIPPED_OOM if oom else SKIPPED_ERROR
        row["memory"] = _memory_stats()
        rows.append(row)
        save()
        gc.collect()
        print(f"  {size:>8}: {row['status']}" + (
            f"  compile {row['compile_s']:.1f}s  run {row['run_s']:.2f}s" if row["status"] == "ok" else ""),
            file=sys.stderr, flush=True)


def env_measure(steps: int):
    """``measure(batch)`` for the env sweep: a jitted lax.scan of ``steps`` vmapped random steps."""
    import jax
    import jax.numpy as jnp

    import rlax_lander

    env, params = rlax_lander.make("LunarLander-v3")

    def measure(batch: int) -> dict:
        def rollout(key):
            k_reset, k_run = jax.random.split(key)
            _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, batch), params)

            def body(state, k):
                k_act, k_step = jax.random.split(k)
                actions = jax.random.randint(k_act, (batch,), 0, env.num_actions, jnp.int32)
                _, state, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                    jax.random.split(k_step, batch), state, actions, params)
                return state, jnp.sum(reward)

            return jax.lax.scan(body, state, jax.random.split(k_run, steps))[1].sum()

        t = time.perf_counter()
        fn = jax.jit(rollout).lower(jax.random.key(0)).compile()
        compile_s = time.perf_counter() - t
        jax.block_until_ready(fn(jax.random.key(1)))  # warm-up
        t = time.perf_counter()
        total = jax.block_until_ready(fn(jax.random.key(2)))
        run_s = time.perf_counter() - t
        return {"compile_s": compile_s, "run_s": run_s, "env_steps": batch * steps,
                "steps_per_s": batch * steps / run_s, "finite": bool(jnp.isfinite(total))}

    return measure


def dqn_measure(config):
    """``measure(num_seeds)`` for the DQN sweep: ``jit(vmap(make_train(...)))`` over seeds."""
    import jax
    import jax.numpy as jnp

    import rlax_lander
    from rlax_lander import dqn

    env, env_params = rlax_lander.make(config.env_id)
    train = jax.jit(jax.vmap(dqn.make_train(config, env, env_params)))

    def measure(seeds: int) -> dict:
        keys = jax.random.split(jax.random.key(0), seeds)
        hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (seeds,)), config.hparams())
        t = time.perf_counter()
        fn = train.lower(keys, hparams).compile()
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        result = jax.block_until_ready(fn(keys, hparams))
        run_s = time.perf_counter() - t
        finite = all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(result.params))
        del result
        env_steps = seeds * int(config.total_timesteps)
        return {"compile_s": compile_s, "run_s": run_s, "env_steps": env_steps,
                "env_steps_per_s": env_steps / run_s, "params_finite": finite}

    return measure


def _si(x: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def _secs(x: float) -> str:
    return f"{x:.0f}s" if x >= 10 else f"{x:.2g}s"


def _pow2(n: int) -> str:
    k = n.bit_length() - 1
    return f"2^{k}" if n == 1 << k else str(n)


def markdown_line(result: dict) -> str:
    """The one-line BENCHMARKS.md entry of a result dict."""
    env_parts = []
    for r in result["env"]["rows"]:
        value = f"{_si(r['steps_per_s'])}/s" if r["status"] == "ok" else r["status"].split(":")[0]
        env_parts.append(f"{_pow2(r['batch'])} {value}")
    dqn_parts = []
    for r in result["dqn"]["rows"]:
        name = f"{r['seeds']} seed{'s' if r['seeds'] != 1 else ''}"
        if r["status"] == "ok":
            dqn_parts.append(f"{name} {_si(r['env_steps_per_s'])}/s (compile {_secs(r['compile_s'])}, "
                             f"wall {_secs(r['run_s'])})")
        else:
            dqn_parts.append(f"{name} {r['status'].split(':')[0]}"
                             + (": time" if r["status"] == SKIPPED_TIME else ""))
    dev = result["devices"]
    driver = f", driver {result['nvidia_smi']}" if result.get("nvidia_smi") else ""
    return (f"- **bench_gpu** ({result['date']}; {dev['kind']} x{dev['count']} ({dev['platform']}){driver}; "
            f"jax {result['jax']}, jaxlib {result['jaxlib']}; `{result['command']}`): "
            f"env steps/s (random actions, vmap(step) in a jitted scan of {result['env']['steps_per_call']} "
            f"steps) by batch: {', '.join(env_parts)}; DQN LunarLander default "
            f"({result['dqn']['total_timesteps']:,} env steps per seed), aggregate env steps/s: "
            f"{', '.join(dqn_parts)}")


def _nvidia_smi() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return "; ".join(out.stdout.strip().splitlines()) or None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="seconds for both sweeps (compiles included); sizes that would not fit are skipped")
    ap.add_argument("--env-share", type=float, default=0.3,
                    help="fraction of --budget-s the env sweep may use (the DQN sweep gets the rest)")
    ap.add_argument("--env-batches", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                    help="comma-separated batch sizes (default 2^10,2^12,...,2^20; smoke 16)")
    ap.add_argument("--env-steps", type=int, default=None,
                    help="scan length per env call (default 100; smoke 4)")
    ap.add_argument("--seeds", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                    help="comma-separated seed counts (default 1,8,64,256,1024; smoke 1)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and DQN budget: a CPU check in CI")
    args = ap.parse_args(argv)
    if args.budget_s <= 0:
        ap.error(f"--budget-s must be > 0, got {args.budget_s}")
    if not 0.0 < args.env_share < 1.0:
        ap.error(f"--env-share must be in (0, 1), got {args.env_share}")
    args.env_batches = args.env_batches or (SMOKE_ENV_BATCHES if args.smoke else FULL_ENV_BATCHES)
    args.env_steps = args.env_steps or (4 if args.smoke else 100)
    args.seeds = args.seeds or (SMOKE_SEEDS if args.smoke else FULL_SEEDS)
    if min(args.env_batches) < 1 or min(args.seeds) < 1 or args.env_steps < 1:
        ap.error("--env-batches, --env-steps and --seeds must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    import jax
    import jaxlib

    from rlax_lander.dqn import DQNConfig

    config = DQNConfig.lunar_lander()
    if args.smoke:
        config = config.replace(**SMOKE_DQN)
    devices = jax.devices()
    result = {
        "schema": SCHEMA,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "scripts/bench_gpu.py", *(sys.argv[1:] if argv is None else argv)]),
        "smoke": bool(args.smoke),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "devices": {"repr": [str(d) for d in devices], "count": len(devices),
                    "kind": devices[0].device_kind, "platform": devices[0].platform},
        "nvidia_smi": _nvidia_smi(),
        "host": f"{platform.node()}, {os.cpu_count()} CPUs",
        "budget_s": args.budget_s,
        "env": {"steps_per_call": args.env_steps, "actions": "uniform random Discrete(4)",
                "rows": []},
        "dqn": {"config": dataclasses.asdict(config), "total_timesteps": int(config.total_timesteps),
                "rows": []},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        result["elapsed_s"] = round(time.perf_counter() - start, 1)
        tmp = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
        os.replace(tmp, args.out)

    print(f"bench_gpu: {result['devices']['count']} x {result['devices']['kind']} "
          f"({result['backend']}), jax {jax.__version__}; budget {args.budget_s:.0f}s", file=sys.stderr)
    print("env sweep (batch):", file=sys.stderr, flush=True)
    env_deadline = start + args.env_share * args.budget_s
    _sweep("batch", args.env_batches, env_deadline, 2, env_measure(args.env_steps),
           result["env"]["rows"], save)
    print("DQN sweep (seeds):", file=sys.stderr, flush=True)
    _sweep("seeds", args.seeds, start + args.budget_s, 1, dqn_measure(config), result["dqn"]["rows"], save)
    result["markdown"] = markdown_line(result)
    save()
    print(result["markdown"])
    print(f"wrote {args.out} ({time.perf_counter() - start:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
