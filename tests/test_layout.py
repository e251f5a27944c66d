"""The package's shape: no import cycles, the library never imports a command, and never
prints."""

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "rlax_lander"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every rlax_lander module -> the rlax_lander modules it imports (anywhere in it)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def _cycle(graph):
    state = {}

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph[node]):
            if dep.startswith(node + "."):  # a package importing its own submodule
                continue
            if state.get(dep) == 1:
                return stack + [node, dep]
            if state.get(dep) is None:
                found = visit(dep, stack + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = _imports()
    # a package's __init__ re-exporting its submodules is not a cycle of the modules
    graph = {k: {d for d in v if not (k.startswith(d + ".") and d != "rlax_lander")}
             for k, v in graph.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_can_fail():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name", sorted(n for n in _imports()
                                        if not n.startswith(("rlax_lander.commands",
                                                             "rlax_lander.cli",
                                                             "rlax_lander.__main__"))))
def test_library_never_imports_a_command_or_prints(name):
    graph = _imports()
    assert not [d for d in graph[name] if d.startswith("rlax_lander.commands")], name
    path = PKG.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PKG.parent / name.replace(".", "/") / "__init__.py"
    calls = [n for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
    assert not calls, f"{name} prints (line {calls[0].lineno if calls else ''})"
