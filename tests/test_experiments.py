"""Smoke tests of the experiment scripts (2 seeds, tiny budget), their statistics, the
target-update equivalences they rely on, and the `evaluate` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import common  # noqa: E402

from rlax_lander import stats  # noqa: E402
from rlax_lander.dqn.config import DQNConfig  # noqa: E402

SMOKE = ["--seeds", "2", "--total-timesteps", "3200", "--learning-starts", "640",
         "--episodes", "2", "--eval-max-steps", "150"]


def _fake_runs(rng, names=("a", "b"), seeds=4, episodes=5):
    runs = {}
    for n in names:
        runs[n] = {
            "returns": rng.normal(100, 80, (seeds, episodes)),
            "outcomes": rng.integers(0, 4, (seeds, episodes)),
            "metrics": {"q_mean": rng.normal(0, 10, (seeds, 20)),
                        "q_abs_max": rng.normal(0, 10, (seeds, 20)) ** 2,
                        "loss": rng.random((seeds, 20))},
            "hparams": {},
        }
    return runs


def test_summarise_is_computed_from_the_runs():
    rng = np.random.default_rng(0)
    runs = _fake_runs(rng)
    table = common.summarise(runs, reps=200)
    for name, r in runs.items():
        scores = r["returns"].mean(1)
        np.testing.assert_allclose(table[name]["per_seed_score"], scores)
        assert table[name]["iqm"] == pytest.approx(stats.iqm(scores))
        lo, hi = table[name]["iqm_ci"]
        assert lo <= table[name]["iqm"] <= hi
        assert table[name]["seeds_solved"] == int(np.sum(scores >= 200))
        assert table[name]["success_rate"] == pytest.approx(np.mean(r["returns"] >= 200))
        assert table[name]["max_abs_q_mean_per_seed"] == pytest.approx(
            np.abs(r["metrics"]["q_mean"]).max(1).tolist())
        assert table[name]["peak_abs_q_per_seed"] == pytest.approx(
            r["metrics"]["q_abs_max"].max(1).tolist())
        assert table[name]["final_q_mean"] == pytest.approx(r["metrics"]["q_mean"][:, -2:].mean())
    # changing one run's scores moves the IQM of that variant only
    before = table["a"]["iqm"], table["b"]["iqm"]
    runs["a"]["returns"][1:3] += 250.0
    after = common.summarise(runs, reps=200)
    assert after["a"]["iqm"] > before[0] + 50
    assert after["b"]["iqm"] == pytest.approx(before[1])


def _cartpole_params(config, hp_changes):
    from rlax_lander import dqn
    from rlax_lander.env.registry import make as make_env

    env, env_params = make_env(config.env_id)
    train = jax.jit(dqn.make_train(config, env, env_params))
    hp = config.hparams().replace(**{k: jnp.float32(v) for k, v in hp_changes.items()})
    return train(jax.random.key(0), hp).params


def test_soft_tau_one_equals_no_target_and_hard_copies():
    """The one-compile target-network grid relies on: soft(tau=1, period=1) == no target,
    soft(tau=1, period=C) == hard copy every C updates."""
    base = DQNConfig.cartpole(total_timesteps=1_200, learning_starts=200, buffer_size=500,
                              batch_size=16, hidden_sizes=(8,), layer_norm=False,
                              lr_anneal=False)
    none = _cartpole_params(base.replace(target_mode="none"), {})
    soft1 = _cartpole_params(base.replace(target_mode="soft"), {"tau": 1.0,
                                                                "target_update_period": 1})
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), none, soft1)
    hard = _cartpole_params(base.replace(target_mode="hard", target_update_period=7), {})
    soft7 = _cartpole_params(base.replace(target_mode="soft"), {"tau": 1.0,
                                                                "target_update_period": 7})
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), hard, soft7)
    # and the period matters: a hard copy every 7 updates is not "no target"
    diffs = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(a - b).max()), none, hard))
    assert max(diffs) > 1e-4


def _check_outputs(out_dir: Path, stem: str, arms: list[str], seeds: int = 2):
    for ext in ("json", "md", "png"):
        assert (out_dir / f"{stem}.{ext}").is_file()
    payload = json.loads((out_dir / f"{stem}.json").read_text())
    assert list(payload["variants"]) == arms
    for name, t in payload["variants"].items():
        scores = t["per_seed_score"]
        assert len(scores) == seeds and all(np.isfinite(scores))
        assert t["iqm"] == pytest.approx(stats.iqm(np.array(scores)))
        assert t["iqm_ci"][0] <= t["iqm"] <= t["iqm_ci"][1]
        assert len(payload["learning_curves"][name]["env_step"]) > 0
        assert np.all(np.isfinite(payload["learning_curves"][name]["mean_return"]))
        assert len(t["peak_abs_q_per_seed"]) == seeds
        assert len(t["max_abs_q_mean_per_seed"]) == seeds
    md = (out_dir / f"{stem}.md").read_text()
    assert payload["command"] in md and "**Finding**" in md
    for name in arms:
        assert f"| {name} |" in md
    return payload


@pytest.mark.slow  # every arm compiles: minutes on 2 cores
def test_target_network_smoke(tmp_path):
    import target_network

    arms = ["no target", "polyak tau=0.01"]
    target_network.main(SMOKE + ["--only", ",".join(arms), "--out-dir", str(tmp_path)])
    payload = _check_outputs(tmp_path, "target_network", arms)
    assert payload["eval_episodes"] == 2
    md = (tmp_path / "target_network.md").read_text()
    target_network.main(["--from-json", str(tmp_path / "target_network.json"),
                         "--out-dir", str(tmp_path)])
    assert (tmp_path / "target_network.md").read_text() == md  # the markdown is the JSON's
    assert payload["variants"]["no target"]["hparams"] == {"tau": 1.0,
                                                          "target_update_period": 1}


def test_target_network_arms_cover_the_issue():
    import target_network

    vs = target_network.variants(DQNConfig.lunar_lander())
    names = [v.name for v in vs]
    for c in (100, 500, 2000):
        assert f"hard C={c}" in names
    for t in ("0.001", "0.005", "0.01", "0.05"):
        assert f"polyak tau={t}" in names
    assert "no target" in names and "LayerNorm, no target" in names
    # plain-MLP arms share one config (one compile), LayerNorm arms another
    assert len({v.config for v in vs}) == 2
    assert all(not v.config.layer_norm for v in vs if "LayerNorm" not in v.name)


@pytest.mark.slow  # every arm compiles: minutes on 2 cores
def test_dqn_variants_smoke(tmp_path):
    import dqn_variants

    dqn_variants.main(SMOKE + ["--only", "baseline", "--out-dir", str(tmp_path)])
    _check_outputs(tmp_path, "dqn_variants", ["baseline"])
    arms = dqn_variants.variants(DQNConfig.lunar_lander())
    changed = [a for a in arms if a.name != "baseline"]
    assert all(a.config != arms[0].config for a in changed)
    assert len({a.config for a in arms}) == len(arms)


def test_why_two_networks_arms_cover_the_issue():
    """The course lab with and without its target, one stabiliser at a time without it, all
    of them with and without, and PQN; each no-target arm differs from the course lab only in
    tau = 1 and its one stabiliser."""
    import why_two_networks as w2n

    from rlax_lander.pqn.config import PQNConfig

    vs = w2n.variants(1_000_000)
    by_name = {v.name: v for v in vs}
    lab = DQNConfig.course_lab()
    assert by_name["course lab"].config == lab and by_name["course lab"].hparams == ()
    assert by_name["no target"].config == lab  # tau is an input: one compile for both
    assert dict(by_name["no target"].hparams) == {"tau": 1.0, "target_update_period": 1}
    for name, change in w2n.STABILISERS.items():
        v = by_name[f"no target + {name}"]
        diff = {k: x for k, x in v.config.to_dict().items() if x != lab.to_dict()[k]}
        assert diff == {k: (list(x) if isinstance(x, tuple) else x) for k, x in change.items()}
        assert dict(v.hparams)["tau"] == 1.0
    every = by_name["all stabilisers + target"].config
    assert every == by_name["all stabilisers without target"].config
    assert every.double_q and every.layer_norm and every.lr_anneal and every.n_step == 3
    assert by_name["all stabilisers + target"].hparams == ()
    assert isinstance(by_name["PQN"].config, PQNConfig)
    assert len(vs) == 11 and len({v.config for v in vs}) == 9


def test_why_two_networks_replication_table_compares_each_run_within_itself():
    import why_two_networks as w2n

    def payload(seed, devices, lab, none, n3):
        arms = {"course lab": lab, "no target": none, "no target + 3-step returns": n3}
        return {"seed": seed, "num_seeds": 4, "command": f"run {seed}",
                "batch_layout": {"devices": devices,
                                 "cells_per_compile": {k: 4 for k in arms}},
                "variants": {k: {"iqm": (lo + hi) / 2, "iqm_ci": [lo, hi], "seeds_solved": 3,
                                 "per_seed_score": [0.0] * 4} for k, (lo, hi) in arms.items()}}

    first = payload(0, 2, (240, 270), (-100, 150), (245, 275))
    second = payload(1, 1, (230, 270), (-150, 100), (100, 200))  # 3-step below the lab here
    md = w2n.replication_section(first, second, "why_two_networks_replication")
    rows = {line.split(" | ")[0][2:]: line for line in md.splitlines() if line.startswith("| ")}
    assert rows["no target"].endswith("| < < |  |")
    assert rows["no target + 3-step returns"].endswith("| ~ < | > ~ |")
    assert "base seed 1 (run 1: 0), 1 XLA device(s) (run 1: 2)" in md


@pytest.mark.slow  # three compiles: minutes on 2 cores
def test_why_two_networks_smoke(tmp_path):
    import why_two_networks as w2n

    arms = ["course lab", "no target", "PQN"]
    w2n.main(["--seeds", "2", "--total-timesteps", "2000", "--pqn-total-timesteps", "4096",
              "--episodes", "1", "--only", ",".join(arms), "--out-dir", str(tmp_path)])
    payload = _check_outputs(tmp_path, "why_two_networks", arms)
    assert (tmp_path / "why_two_networks_q.png").is_file()
    for name in arms:
        t = payload["variants"][name]
        q = np.array(t["q_trajectory"]["q_abs_max_per_seed"])
        assert q.shape[0] == 2 and np.all(np.isfinite(q))
        assert t["median_peak_abs_q"] == pytest.approx(np.median(q.max(1)))
    assert payload["variants"]["PQN"]["budget_env_steps"] == 4096
    md = (tmp_path / "why_two_networks.md").read_text()
    w2n.main(["--from-json", str(tmp_path / "why_two_networks.json"), "--out-dir",
              str(tmp_path)])
    assert (tmp_path / "why_two_networks.md").read_text() == md  # the markdown is the JSON's


def _fake_run_dir(path: Path, seeds: int = 2) -> DQNConfig:
    from rlax_lander.checkpoint import save_params
    from rlax_lander.dqn.train import build_network
    from rlax_lander.rundir import CONFIG_FILE, params_file

    config = DQNConfig.lunar_lander(hidden_sizes=(16, 16))
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_FILE).write_text(json.dumps({"algo": "dqn", "config": config.to_dict(),
                                                "num_seeds": seeds, "seed": 0}))
    net = build_network(config, 4)
    for i in range(seeds):
        p = net.init(jax.random.key(i), jnp.zeros((8,)))
        save_params(path / params_file(i), jax.tree.map(np.asarray, p))
    return config


def test_evaluate_command_box2d_matches_load_policy(tmp_path, capsys):
    from rlax_lander import cli
    from rlax_lander.interop.box2d import evaluate_box2d
    from rlax_lander.policy import load_policy

    _fake_run_dir(tmp_path / "run")
    assert cli.main(["evaluate", str(tmp_path / "run"), "--backend", "box2d",
                     "--episodes", "3", "--seed", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "box2d" and len(out["per_seed"]) == 2
    for i, row in enumerate(out["per_seed"]):
        ev = evaluate_box2d(load_policy(tmp_path / "run", seed_index=i), 3, seed=5)
        assert row["mean"] == pytest.approx(ev.returns.mean(), rel=1e-6)
        assert row["success_rate"] == pytest.approx(np.mean(ev.returns >= 200))
    assert cli.main(["evaluate", str(tmp_path / "run"), "--backend", "jax",
                     "--episodes", "2"]) == 0
    table = capsys.readouterr().out
    assert "backend jax" in table and "seeds with mean >= 200" in table


def test_evaluate_command_rejects_bad_input(tmp_path, capsys):
    from rlax_lander import cli

    _fake_run_dir(tmp_path / "run")
    assert cli.main(["evaluate", str(tmp_path / "run"), "--backend", "mujoco"]) == 2
    assert "backend" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "missing"), "--backend", "jax"]) == 2
