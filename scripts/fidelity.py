"""Statistical fidelity of the JAX LunarLander against Gymnasium's Box2D LunarLander-v3.

Runs the heuristic and a uniformly random policy, discrete and continuous, and with wind (discrete),
in both envs in one run, and writes experiments/results/fidelity.{json,md}: return / length /
outcome statistics side by side with the differences and a pass/fail column against the
acceptance bands of issue 13 (mean return within 5, outcome rates within 2 points, random-policy
mean length within 2 %).

    python scripts/fidelity.py [--episodes 2000] [--velocity-iterations N] [--position-iterations N]
                               [--allow-other-versions]

The reference is LunarLander-v3 on Box2D 2.3.10 under the Gymnasium version in
``REFERENCE_VERSIONS`` (Gymnasium plans to move its Box2D envs to pymunk: Gymnasium issue #1597,
PR #1602). The script refuses to compare against any other Box2D or Gymnasium unless
``--allow-other-versions`` is given, and records the versions it measured in the report.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import rlax_lander
from rlax_lander import episode_stats
from rlax_lander.env import rollout
from rlax_lander.env.heuristic import heuristic_action
from rlax_lander.env.state import EnvParams
from rlax_lander.interop import box2d
from rlax_lander.machine import cpu_model  # noqa: E402

# The reference the env is faithful to; a different Box2D or Gymnasium is a different env.
REFERENCE_VERSIONS = {"Box2D": "2.3.10", "gymnasium": "1.3.0"}

SETTINGS = [  # (name, policy, continuous, wind)
    ("heuristic / discrete", "heuristic", False, False),
    ("heuristic / continuous", "heuristic", True, False),
    ("random / discrete", "random", False, False),
    ("random / continuous", "random", True, False),
    ("heuristic / discrete / wind", "heuristic", False, True),
    ("random / discrete / wind", "random", False, True),
]

def installed_versions() -> dict[str, str]:
    """Versions of the reference packages installed here, by ``REFERENCE_VERSIONS`` key."""
    import Box2D
    import gymnasium

    return {"Box2D": Box2D.__version__, "gymnasium": gymnasium.__version__}


def version_mismatch(found: dict[str, str]) -> str | None:
    """One-line description of how ``found`` differs from ``REFERENCE_VERSIONS``, or None."""
    bad = [f"{k} {found.get(k)} (reference {v})" for k, v in REFERENCE_VERSIONS.items() if found.get(k) != v]
    if not bad:
        return None
    return ("fidelity.py: refusing to compare against " + ", ".join(bad)
            + "; pass --allow-other-versions to compare anyway")


def run_jax(policy, continuous, wind, episodes, seed, vel_it, pos_it):
    env, params = rlax_lander.make("LunarLander-v3", continuous=continuous, enable_wind=wind,
                                   velocity_iterations=vel_it, position_iterations=pos_it)
    fn = POLICIES[(policy, continuous)]
    out = rollout.run_episodes(env, params, fn, jax.random.PRNGKey(seed), episodes,
                               track_contacts=True)
    out = jax.tree_util.tree_map(np.asarray, out)
    return out


POLICIES = {(p, c): (rollout.heuristic_policy(c) if p == "heuristic" else rollout.random_policy(c))
            for p in ("heuristic", "random") for c in (False, True)}
_BATCH_HEURISTIC = {c: jax.jit(jax.vmap(lambda o, c=c: heuristic_action(o, c))) for c in (False, True)}


def run_box2d(policy, continuous, wind, episodes, seed):
    if policy == "heuristic":
        fn = lambda obs: np.asarray(_BATCH_HEURISTIC[continuous](jnp.asarray(obs)))
    else:
        rng = np.random.default_rng(10000 + seed)
        fn = (lambda obs: rng.uniform(-1, 1, (obs.shape[0], 2)).astype(np.float32)) if continuous \
            else (lambda obs: rng.integers(0, 4, obs.shape[0]))
    return box2d.evaluate_box2d(fn, episodes, seed=seed, continuous=continuous, enable_wind=wind,
                                batched=True, num_envs=64)


def check(policy, j, b):
    """Acceptance bands (issue 13) -> list of (criterion, jax value, box2d value, diff, ok): mean
    return within 5, every outcome rate within 2 points, and for the random policy the mean length
    within 2 %."""
    rows = [("mean return", j["mean"]["point"], b["mean"]["point"], 5.0)]
    for k in episode_stats.OUTCOMES:
        rows.append((f"{k} %", 100 * j["outcomes"][k], 100 * b["outcomes"][k], 2.0))
    if policy == "random":
        rows.append(("mean length", j["mean_length"], b["mean_length"], 0.02 * b["mean_length"]))
    return [dict(criterion=n, jax=x, box2d=y, diff=x - y, band=t, ok=bool(abs(x - y) <= t))
            for n, x, y, t in rows]


def fmt_ci(s):
    return f"{s['point']:.1f} [{s['lo']:.1f}, {s['hi']:.1f}]"


def markdown(results, header) -> str:
    lines = ["# Fidelity: JAX LunarLander vs Box2D LunarLander-v3", "",
             "The reference is Gymnasium's LunarLander-v3 on Box2D 2.3.10 (pybox2d) under gymnasium "
             f"{REFERENCE_VERSIONS['gymnasium']}, the versions pinned in `scripts/fidelity.py` (it refuses "
             "others unless given --allow-other-versions). Gymnasium plans to move its Box2D envs to "
             "pymunk (Gymnasium issue #1597, PR #1602): a different env.", ""]
    lines += [f"- {k}: {v}" for k, v in header.items()] + [""]
    for r in results:
        j, b = r["jax"], r["box2d"]
        ok = all(c["ok"] for c in r["checks"])
        lines += [f"## {r['setting']} — {'PASS' if ok else 'FAIL'}", "",
                  "| statistic | JAX | Box2D | JAX − Box2D |", "|---|---|---|---|",
                  f"| mean return (95% CI) | {fmt_ci(j['mean'])} | {fmt_ci(b['mean'])} | "
                  f"{j['mean']['point'] - b['mean']['point']:+.1f} |",
                  f"| median return (95% CI) | {fmt_ci(j['median'])} | {fmt_ci(b['median'])} | "
                  f"{j['median']['point'] - b['median']['point']:+.1f} |",
                  f"| std return | {j['std']:.1f} | {b['std']:.1f} | {j['std'] - b['std']:+.1f} |",
                  f"| mean length | {j['mean_length']:.1f} | {b['mean_length']:.1f} | "
                  f"{j['mean_length'] - b['mean_length']:+.1f} |"]
        for k, label in zip(episode_stats.OUTCOMES,
                            ("landed (asleep)", "crash", "out of bounds", "truncated")):
            x, y = 100 * j["outcomes"][k], 100 * b["outcomes"][k]
            lines.append(f"| {label} % | {x:.1f} | {y:.1f} | {x - y:+.1f} |")
        lines.append(f"| deepest foot separation (m), NaN episodes | {r['jax_min_separation']:.4f}, "
                     f"{r['jax_nonfinite']} | | |")
        lines += ["", "| acceptance criterion | JAX | Box2D | diff | band | pass |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {c['criterion']} | {c['jax']:.1f} | {c['box2d']:.1f} | {c['diff']:+.1f} | "
                  f"±{c['band']:.1f} | {'✓' if c['ok'] else '✗'} |" for c in r["checks"]]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=2000,
                    help="episodes per setting and engine (the bands ask for >= 500; 2000 halves the noise)")
    ap.add_argument("--heuristic-episodes", type=int, default=None,
                    help="episodes per heuristic setting and engine (default: --episodes)")
    ap.add_argument("--seed", type=int, default=0)
    defaults = EnvParams()
    ap.add_argument("--velocity-iterations", type=int, default=defaults.velocity_iterations,
                    help="JAX solver sweeps per step (default: the env's default)")
    ap.add_argument("--position-iterations", type=int, default=defaults.position_iterations)
    ap.add_argument("--out", default="experiments/results")
    ap.add_argument("--settings", default="all", help="comma-separated indices into SETTINGS, or all")
    ap.add_argument("--allow-other-versions", action="store_true",
                    help="compare even if Box2D / Gymnasium differ from REFERENCE_VERSIONS")
    args = ap.parse_args(argv)
    heuristic_episodes = args.heuristic_episodes or args.episodes
    found = installed_versions()
    mismatch = version_mismatch(found)
    if mismatch and not args.allow_other_versions:
        raise SystemExit(mismatch)
    sel = SETTINGS if args.settings == "all" else [SETTINGS[int(i)] for i in args.settings.split(",")]
    header = {
        "machine": f"{cpu_model()}, {len(jax.devices())} JAX CPU device(s), "
                   f"{len(os.sched_getaffinity(0))} cores",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python " + " ".join([pathlib.Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
        "episodes per setting": f"random {args.episodes}, heuristic {heuristic_episodes}",
        "solver iterations (JAX)": f"velocity {args.velocity_iterations}, position {args.position_iterations}"
                                   " (Box2D: velocity 180, position 60)",
        "reference": f"LunarLander-v3 on Box2D {found['Box2D']}, gymnasium {found['gymnasium']}"
                     + (" (NOT the pinned reference)" if mismatch else " (the pinned reference)"),
        "versions": f"jax {jax.__version__}, python {platform.python_version()}",
        "seeds": f"JAX: PRNGKey({args.seed}) fold_in episode; Box2D: reset(seed={args.seed}+k), "
                 f"random actions from default_rng({10000 + args.seed})",
    }
    results = []
    for name, policy, cont, wind in sel:
        episodes = heuristic_episodes if policy == "heuristic" else args.episodes
        t0 = time.time()
        jo = run_jax(policy, cont, wind, episodes, args.seed, args.velocity_iterations,
                     args.position_iterations)
        t1 = time.time()
        bo = run_box2d(policy, cont, wind, episodes, args.seed)
        t2 = time.time()
        j = episode_stats.summarize_episodes(jo.returns, jo.lengths, jo.outcomes)
        b = bo.summary()
        r = dict(setting=name, policy=policy, continuous=cont, enable_wind=wind, jax=j, box2d=b,
                 checks=check(policy, j, b), jax_seconds=t1 - t0, box2d_seconds=t2 - t1,
                 jax_min_separation=float(jo.min_separation.min()),
                 jax_nonfinite=int(jo.nonfinite.sum()))
        results.append(r)
        print(f"{name}: JAX {j['mean']['point']:.1f} len {j['mean_length']:.1f} {j['outcomes']} "
              f"({t1 - t0:.0f}s) | Box2D {b['mean']['point']:.1f} len {b['mean_length']:.1f} "
              f"{b['outcomes']} ({t2 - t1:.0f}s) | {'PASS' if all(c['ok'] for c in r['checks']) else 'FAIL'}",
              flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fidelity.json").write_text(json.dumps(dict(header=header, results=results), indent=1))
    (out / "fidelity.md").write_text(markdown(results, header))
    return results


if __name__ == "__main__":
    main()
