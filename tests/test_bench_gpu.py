"""scripts/bench_gpu.py: `--smoke` runs end to end on CPU and writes every JSON field; the time
budget skips sizes that would not fit; an out-of-memory size stops its sweep."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts import load_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "bench_gpu.py"


bench = load_script("bench_gpu")


def _run(tmp_path, *flags):
    out = tmp_path / "bench_gpu.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out), *flags],
                          capture_output=True, text=True, env=env, timeout=1200, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def test_smoke_run_writes_every_field(tmp_path):
    result, proc = _run(tmp_path, "--budget-s", "3000")  # no size skipped, however slow the CPU
    assert result["schema"] == bench.SCHEMA and result["smoke"] is True
    for field in ("date", "jax", "jaxlib", "backend", "python", "host", "elapsed_s"):
        assert result[field], field
    assert result["command"].startswith("python scripts/bench_gpu.py --smoke")
    dev = result["devices"]
    assert dev["count"] == len(dev["repr"]) >= 1 and dev["kind"] and dev["platform"]

    env_rows = result["env"]["rows"]
    assert [r["batch"] for r in env_rows] == list(bench.SMOKE_ENV_BATCHES)
    for r in env_rows:
        assert r["status"] == "ok", r
        assert r["compile_s"] > 0 and r["run_s"] > 0 and r["finite"] is True
        assert r["env_steps"] == r["batch"] * result["env"]["steps_per_call"]
        assert r["steps_per_s"] == pytest.approx(r["env_steps"] / r["run_s"])

    dqn = result["dqn"]
    assert dqn["total_timesteps"] == bench.SMOKE_DQN["total_timesteps"]
    assert dqn["config"]["env_id"] == "LunarLander-v3"
    assert [r["seeds"] for r in dqn["rows"]] == list(bench.SMOKE_SEEDS)
    for r in dqn["rows"]:
        assert r["status"] == "ok", r
        assert r["compile_s"] > 0 and r["run_s"] > 0 and r["params_finite"] is True
        assert r["env_steps"] == r["seeds"] * dqn["total_timesteps"]
        assert r["env_steps_per_s"] == pytest.approx(r["env_steps"] / r["run_s"])

    line = result["markdown"]
    assert "\n" not in line and line.startswith("- **bench_gpu** (")
    assert proc.stdout.strip().splitlines()[-1] == line
    assert f"jax {result['jax']}" in line and "2^4 " in line and "1 seed " in line


def test_exhausted_budget_skips_every_size_and_still_writes(tmp_path):
    result, _ = _run(tmp_path, "--budget-s", "0.001")
    rows = result["env"]["rows"] + result["dqn"]["rows"]
    assert len(rows) == len(bench.SMOKE_ENV_BATCHES) + len(bench.SMOKE_SEEDS)
    assert all(r["status"] == bench.SKIPPED_TIME for r in rows)
    assert "1 seed skipped: time" in result["markdown"]


def _fake(times, fail_at=None):
    def measure(size):
        if size == fail_at:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9 GiB")
        return {"compile_s": times["compile"], "run_s": times["run_per_size"] * size}
    return measure


def test_sweep_skips_sizes_whose_estimate_exceeds_the_time_left():
    rows = []
    # the fake sizes take no real time, so a generous deadline leaves the first three sizes
    # room on any machine, however loaded, and the last one's estimate none
    deadline = bench.time.perf_counter() + 1000.0
    bench._sweep("seeds", [1, 2, 4, 100_000], deadline, 1,
                 _fake({"compile": 4.0, "run_per_size": 1.0}), rows, lambda: None)
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", bench.SKIPPED_TIME]
    assert rows[3]["estimated_s"] == pytest.approx(5.0 + 100_000.0, abs=0.1)


def test_sweep_stops_after_an_out_of_memory_size():
    rows = []
    deadline = bench.time.perf_counter() + 100.0
    bench._sweep("batch", [1, 2, 4, 8], deadline, 2, _fake({"compile": 0.0, "run_per_size": 0.0}, 4),
                 rows, lambda: None)
    assert [r["status"][:4] for r in rows] == ["ok", "ok", "oom:", "skip"]
    assert "RESOURCE_EXHAUSTED" in rows[2]["status"] and rows[3]["status"] == bench.SKIPPED_OOM


def test_estimate():
    assert bench.estimate_s([], 8, 1) is None
    one = [{"size": 1, "compile_s": 10.0, "run_s": 2.0}]
    assert bench.estimate_s(one, 4, 1) == pytest.approx(12.5 + 2.0 * 2.0)
    two = one + [{"size": 2, "compile_s": 8.0, "run_s": 3.0}]
    assert bench.estimate_s(two, 10, 2) == pytest.approx(10.0 + 2 * (3.0 + 1.0 * 8))
    flat = one + [{"size": 2, "compile_s": 8.0, "run_s": 1.0}]  # faster: never below the last
    assert bench.estimate_s(flat, 10, 1) == pytest.approx(10.0 + 1.0)
    assert bench.is_oom(RuntimeError("RESOURCE_EXHAUSTED: Out of memory"))
    assert not bench.is_oom(ValueError("room for improvement"))
