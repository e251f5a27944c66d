"""``scripts/fidelity.py`` compares against the pinned reference only: LunarLander-v3 on Box2D
2.3.10 under one Gymnasium version, unless told otherwise (``--allow-other-versions``)."""


import pytest

from tests.scripts import load_script


@pytest.fixture
def fidelity():
    return load_script("fidelity")


class _Ran(Exception):
    pass


def _refuse_to_run(*args, **kwargs):
    raise _Ran


def test_installed_versions_are_the_reference(fidelity):
    assert fidelity.REFERENCE_VERSIONS["Box2D"] == "2.3.10"
    assert fidelity.version_mismatch(fidelity.installed_versions()) is None


def test_refuses_other_versions_with_one_line_error(fidelity, monkeypatch, tmp_path):
    monkeypatch.setattr(fidelity, "installed_versions", lambda: {"Box2D": "2.3.10", "gymnasium": "1.4.0"})
    monkeypatch.setattr(fidelity, "run_jax", _refuse_to_run)
    with pytest.raises(SystemExit) as err:
        fidelity.main(["--out", str(tmp_path)])
    message = str(err.value.code)
    assert "\n" not in message
    assert "gymnasium 1.4.0" in message and "--allow-other-versions" in message
    assert "Box2D" not in message.split("refusing to compare against")[1]  # only what differs
    assert not list(tmp_path.iterdir())


def test_other_box2d_refused_too(fidelity):
    gym_version = fidelity.REFERENCE_VERSIONS["gymnasium"]
    message = fidelity.version_mismatch({"Box2D": "3.0.0", "gymnasium": gym_version})
    assert message is not None and "Box2D 3.0.0 (reference 2.3.10)" in message


def test_allow_other_versions_proceeds(fidelity, monkeypatch, tmp_path):
    monkeypatch.setattr(fidelity, "installed_versions", lambda: {"Box2D": "2.3.10", "gymnasium": "1.4.0"})
    monkeypatch.setattr(fidelity, "run_jax", _refuse_to_run)
    with pytest.raises(_Ran):
        fidelity.main(["--out", str(tmp_path), "--allow-other-versions"])
