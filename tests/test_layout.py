"""The package shows its pipeline: no import cycles, no stage importing a later one, no module too long to read.

The import graph is built from the source (every `import`, also inside functions and under TYPE_CHECKING),
so a lazy import cannot hide a cycle. `from package import submodule` counts as importing the submodule; it
counts as importing the package's `__init__` only when it takes a name the `__init__` defines.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "monitor"

# Each area of monitor/ and the areas it may import, lowest first (ARCHITECTURE.md has the same table).
# An area is a subpackage, or a module at the top. Nothing may import `cli`; only `cli` imports `web`.
BASE = {"__init__", "models", "clock", "tasks"}
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "models": set(),
    "clock": set(),
    "tasks": set(),
    "config": set(),
    "store": {"config"},
    "sources": {"config", "store"},
    "extract": {"sources"},
    "relevance": {"config", "sources", "extract"},
    "stories": {"config", "store", "relevance"},
    "evidence": {"config", "store", "sources", "extract", "stories"},
    "delivery": {"config", "store", "stories", "evidence"},
    "hosts": {"config", "store", "sources"},
    "pipeline": {"config", "store", "sources", "extract", "relevance", "stories", "evidence", "delivery", "hosts"},
    "quiet": {"config", "store", "sources"},
    "backfill": {"config", "store", "sources", "delivery", "pipeline"},
    "scheduler": {"config", "store", "delivery", "pipeline", "hosts"},
    "review": {"config", "store", "sources", "extract", "relevance", "stories", "pipeline", "backfill"},
    "web": {"config", "store", "relevance", "stories", "evidence", "delivery", "review"},
    "cli": {"config", "store", "sources", "extract", "relevance", "stories", "evidence", "delivery", "pipeline",
            "quiet", "backfill", "scheduler", "review", "web", "hosts"},
}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The monitor modules a file imports (a `from package import name` counts the submodule when there is one)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):  # a name from the module (or package __init__) itself
                found.add(target)
    return {m for m in found if m in modules and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_no_module_imports_itself_back_through_others():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_area_is_listed_with_what_it_may_import():
    areas = {area(m) for m in graph()}
    assert areas <= set(ALLOWED), f"areas missing from ALLOWED and ARCHITECTURE.md: {sorted(areas - set(ALLOWED))}"


def test_a_stage_imports_only_earlier_stages():
    wrong = []
    for module, deps in sorted(graph().items()):
        mine = area(module)
        for dep in sorted(deps):
            theirs = area(dep)
            if theirs != mine and theirs not in BASE and theirs not in ALLOWED.get(mine, set()):
                wrong.append(f"{module} imports {dep} ({mine} may not import {theirs})")
    assert not wrong, "\n".join(wrong)


def test_every_subpackage_says_what_it_does_and_may_import():
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"{init.relative_to(ROOT.parent)}: the docstring names no allowed imports"


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_module_is_too_long_to_read(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT.parent)} has {lines} lines (at most {MAX_LINES})"


def test_architecture_names_every_subpackage():
    text = (ROOT.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for init in sorted(ROOT.glob("*/__init__.py")):
        assert f"`{init.parent.name}/`" in text, f"ARCHITECTURE.md does not name {init.parent.name}/"
