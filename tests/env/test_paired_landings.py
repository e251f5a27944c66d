"""``scripts/paired_landings.py --box2d-converged``: Box2D rerun with another velocity-sweep count."""

import numpy as np
import pytest

from tests.scripts import load_script

pytest.importorskip("Box2D")


@pytest.fixture(scope="module")
def paired():
    return load_script("paired_landings")


def test_world_proxy_replaces_only_the_velocity_sweeps(paired):
    calls = []

    class World:
        gravity = (0.0, -10.0)

        def Step(self, dt, velocity_iterations, position_iterations):  # noqa: N802
            calls.append((dt, velocity_iterations, position_iterations))

    proxy = paired._WorldWithIterations(World(), 1000)
    proxy.Step(0.02, 180, 60)
    assert calls == [(0.02, 1000, 60)]
    assert proxy.gravity == (0.0, -10.0)


def test_box2d_rerun_at_180_sweeps_repeats_the_plain_run(paired):
    rng = np.random.default_rng(3)
    cases = paired.collect_cases(4, 3, rng)
    assert cases
    actions = rng.integers(0, 4, (len(cases), 60)).astype(np.int32)
    plain = paired.run_box2d(cases, actions, 60)
    same = paired.run_box2d(cases, actions, 60, velocity_iterations=180)
    np.testing.assert_array_equal(plain[0], same[0])
    np.testing.assert_array_equal(plain[1], same[1])
    few = paired.run_box2d(cases, actions, 60, velocity_iterations=1)
    assert not np.array_equal(plain[0], few[0]) or not np.array_equal(plain[1], few[1])
