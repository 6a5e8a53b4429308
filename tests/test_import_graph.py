"""The house's rules, read from the code: no import circle anywhere in `npnet/`, and the readable modules
(layers, the trainer, the model, the plan and batch sources, losses, metrics, activations, initializers)
import nothing from `npnet.fast`: speed reaches them only through the plan (`npnet.plan`).

Every import counts, at module level or inside a function (a function-level import is a circle that
waits for its first call); only imports under `if TYPE_CHECKING:` (type hints) do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "npnet"

READABLE = (
    "npnet.layers",
    "npnet.trainer",
    "npnet.model",
    "npnet.plan",
    "npnet.batches",
    "npnet.losses",
    "npnet.metrics",
    "npnet.activations",
    "npnet.initializers",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in ROOT.rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, source: str, known: set[str]) -> set[str]:
    """The npnet modules `name` imports (`from pkg import mod` counts as `pkg.mod` when that is a module)."""
    package = name if name in known and modules_is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "npnet")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            if base.split(".")[0] != "npnet":
                return
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found - {name}


def modules_is_package(name: str) -> bool:
    return (ROOT.parent / Path(*name.split(".")) / "__init__.py").exists()


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: imports_of(name, path.read_text(encoding="utf-8"), known) & known
        for name, path in found.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (module -> modules it imports) as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_npnet_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_readable_modules_import_nothing_from_the_fast_package():
    graph = import_graph()
    readable = [m for m in graph if any(m == r or m.startswith(r + ".") for r in READABLE)]
    assert "npnet.layers.embedding" in readable and "npnet.trainer" in readable
    offenders = {m: sorted(i for i in graph[m] if i.startswith("npnet.fast")) for m in readable}
    assert {m: i for m, i in offenders.items() if i} == {}


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a"}}, ["a", "a"]),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_the_circle_finder_finds_circles_and_only_circles(graph, cycle):
    assert find_cycle(graph) == cycle


def test_a_function_level_import_counts_and_a_type_checking_one_does_not():
    known = {"npnet.a", "npnet.b", "npnet.c"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from npnet.c import C\n"
        "def f():\n    from npnet.b import g\n    return g\n"
    )
    assert imports_of("npnet.a", source, known) == {"npnet.b"}
