"""Acceptance bands of the JAX env against Box2D on 2000 episodes per setting (slow; make test-slow)."""


import pytest

from tests.scripts import load_script


@pytest.mark.slow
def test_fidelity_acceptance_bands(tmp_path):
    fidelity = load_script("fidelity")
    results = fidelity.main(["--out", str(tmp_path)])  # the default: 2000 episodes per setting
    failed = [(r["setting"], c) for r in results for c in r["checks"] if not c["ok"]]
    assert (tmp_path / "fidelity.md").exists()
    assert all(r["jax_nonfinite"] == 0 for r in results)
    assert not failed, failed
