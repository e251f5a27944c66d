"""Every global name the scripts' and experiments' functions look up exists in their module.

The benchmark and study scripts run for minutes, so a missing import there would only surface at
the end of a long run (as one did: ``cpu_model`` imported inside a worker's source string instead
of the module). Loading each module and resolving the ``LOAD_GLOBAL`` names of all its code
objects catches that class of bug in a second, without running anything.
"""

import builtins
import dis
import importlib.util
import pathlib
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "scripts").glob("*.py")) + sorted((ROOT / "experiments").glob("*.py"))


def _global_loads(code: types.CodeType):
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(ins.argval, str):
            yield ins.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_loads(const)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_global_names_resolve(path, monkeypatch):
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_checked_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)  # scripts only run under ``if __name__ == "__main__"``
    code = compile(path.read_text(), str(path), "exec")
    missing = sorted({n for n in _global_loads(code)
                      if not hasattr(module, n) and not hasattr(builtins, n)})
    assert not missing, f"{path.name}: undefined global name(s) {missing}"


def test_the_check_catches_a_missing_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def main():\n    return cpu_model()\n")
    code = compile(bad.read_text(), str(bad), "exec")
    assert "cpu_model" in set(_global_loads(code))
