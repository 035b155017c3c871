"""No import cycles: between gankit's packages (gankit.nets, gankit.training, ..., and each
top-level module), and between the modules themselves. Imports inside functions count
too: a lazy import hides a cycle from Python, not from the design."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Optional

import gankit

SRC = Path(gankit.__file__).parent


def _module_name(path: Path) -> str:
    parts = ("gankit", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(name: str) -> Optional[str]:
    """The gankit module that ``name`` (a module or an attribute of one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Every gankit module that ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        out |= {m for m in map(_resolve, names) if m is not None and m != module}
    return out


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _find_cycle(graph: dict[str, set[str]]) -> Optional[list[str]]:
    """One cycle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> Optional[list[str]]:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def _where(a: str, b: str, modules: list[str]) -> str:
    return "; ".join(f"{m} -> {i}" for m in modules if _package(m) == a for i in sorted(_imports(m)) if _package(i) == b)


def test_finder_reports_a_cycle_and_accepts_a_dag():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_are_seen_inside_functions():
    assert "gankit.nets.registry" in _imports("gankit.nets.mlp")
    assert any(_package(m) == "gankit.training" for m in _imports("gankit.cli.main"))  # lazy, in cmd_train


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for m in MODULES:
        graph.setdefault(_package(m), set()).update(_package(i) for i in _imports(m) if _package(i) != _package(m))
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle) + "\n" + "\n".join(
        f"  {a} -> {b}: {_where(a, b, list(MODULES))}" for a, b in zip(cycle, cycle[1:])
    )


def test_no_import_cycle_between_modules():
    # A package's __init__ imports its modules and they import its siblings through it, so
    # __init__ files are left out: what must not loop is module -> module.
    inits = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    graph = {m: _imports(m) - inits for m in MODULES if m not in inits}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle)
