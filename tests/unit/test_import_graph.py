"""The layering rules, checked on the source (parsed with `ast`, nothing imported):

- `humwatch.ops` never imports `humwatch.local` (the local stack may use the operator tools, not
  the other way round; what both need lives below both, e.g. `humwatch.pki`);
- only `humwatch.dal` talks to AWS through boto3/botocore (the CDK app may; the handlers may not);
- the module graph has no cycle, neither in `humwatch` nor in the CDK app.

Every import counts, wherever it is: at the top, inside a function (a lazy import is still a
dependency) or under `if TYPE_CHECKING:`. `from pkg import mod` is an edge to `pkg.mod` when that
module exists, else to `pkg` (its `__init__`, whose re-exports are edges of their own).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_TREES: tuple[tuple[Path, str], ...] = (
    (ROOT / "humwatch", "humwatch"),
    (ROOT / "functions", "functions"),
    (ROOT / "cdk" / "humwatch_cdk", "humwatch_cdk"),
)
AWS_SDK = ("boto3", "botocore")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module


def _module_name(path: Path, tree_root: Path, root_name: str) -> tuple[str, bool]:
    parts = [root_name, *path.relative_to(tree_root).with_suffix("").parts]
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def load_modules(trees: Iterable[tuple[Path, str]] = SOURCE_TREES) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for tree_root, root_name in trees:
        for path in sorted(tree_root.rglob("*.py")):
            name, is_package = _module_name(path, tree_root, root_name)
            modules[name] = Module(name, path, is_package, ast.parse(path.read_text(), str(path)))
    return modules


def imported_names(module: Module) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(module, names) for every import statement at any depth: `import a.b` gives ("a.b", ()),
    `from a import b, c` gives ("a", ("b", "c")); relative imports are made absolute."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.name if module.is_package else module.name.rpartition(".")[0]
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base, tuple(alias.name for alias in node.names)


def dependencies(module: Module, known: Mapping[str, Module]) -> set[str]:
    """The project modules `module` imports (edges of the graph)."""
    edges: set[str] = set()
    for base, names in imported_names(module):
        if not names:
            if base in known:
                edges.add(base)
            continue
        for name in names:
            if f"{base}.{name}" in known:
                edges.add(f"{base}.{name}")
            elif base in known:
                edges.add(base)
    edges.discard(module.name)
    return edges


def import_graph(modules: Mapping[str, Module]) -> dict[str, set[str]]:
    return {name: dependencies(module, modules) for name, module in modules.items()}


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan): each is a set of
    modules that all import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the module count (a few hundred)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, as a closed path `a -> b -> ... -> a`."""
    return sorted(_cycle_through(component, graph) for component in strongly_connected(graph))


def _cycle_through(component: set[str], graph: Mapping[str, Iterable[str]]) -> list[str]:
    """A shortest closed path inside one strongly connected component (breadth-first)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if target in component and target not in parents:
                    parents[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def _within(graph: Mapping[str, set[str]], prefix: str) -> dict[str, set[str]]:
    inside = {name for name in graph if name == prefix or name.startswith(prefix + ".")}
    return {name: graph[name] & inside for name in inside}


def _describe(graph: Mapping[str, Iterable[str]]) -> str:
    lines = []
    for component in sorted(strongly_connected(graph), key=min):
        lines.append("  " + " -> ".join(_cycle_through(component, graph)))
        lines.append(f"    (all of these import each other: {', '.join(sorted(component))})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_modules()


@pytest.fixture(scope="module")
def graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    return import_graph(modules)


# --- the checker itself ---------------------------------------------------------------------------
def test_the_cycle_finder_reports_each_cycle_as_a_closed_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_are_found_at_every_depth_and_from_imports_name_modules(tmp_path: Path) -> None:
    # Given a package whose modules import lazily, under TYPE_CHECKING, relatively and by name
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.sub import leaf as leaf\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import top\n"
    )
    (package / "top.py").write_text(
        "import boto3\n\ndef later():\n    from .sub import leaf\n    from pkg.sub import CONSTANT\n"
    )
    found = import_graph(load_modules([(package, "pkg")]))
    # Then every one of them is an edge, to the module when it is one, else to the package
    assert found == {
        "pkg": {"pkg.sub.leaf"},
        "pkg.sub": set(),
        "pkg.sub.leaf": {"pkg.top"},
        "pkg.top": {"pkg.sub.leaf", "pkg.sub"},
    }
    assert find_cycles(found) == [["pkg.sub.leaf", "pkg.top", "pkg.sub.leaf"]]


def test_the_project_graph_is_read(graph: dict[str, set[str]]) -> None:
    # A sanity check that the rules below look at real edges (they would pass on an empty graph)
    assert "humwatch.dal.history" in graph["humwatch.services.wiring"]
    assert "humwatch.pki" in graph["humwatch.ops.provision"]  # a lazy import inside a function
    assert "humwatch_cdk.nag" in graph["humwatch_cdk.stack"]
    assert any(name.startswith("functions.") for name in graph)


# --- the rules ------------------------------------------------------------------------------------
def test_ops_never_imports_the_local_stack(modules: dict[str, Module]) -> None:
    offenders = [
        f"{module.name} imports {base}{'.' + name if name else ''}"
        for module in modules.values()
        if module.name.startswith("humwatch.ops")
        for base, names in imported_names(module)
        for name in names or ("",)
        if base == "humwatch.local"
        or base.startswith("humwatch.local.")
        or (base == "humwatch" and name == "local")
    ]
    assert offenders == [], "humwatch.ops must not import humwatch.local:\n  " + "\n  ".join(offenders)


def test_only_the_data_access_layer_imports_the_aws_sdk(modules: dict[str, Module]) -> None:
    allowed = ("humwatch.dal", "humwatch_cdk")
    offenders = [
        f"{module.name} ({module.path.relative_to(ROOT)}) imports {base}"
        for module in modules.values()
        if not any(module.name == a or module.name.startswith(a + ".") for a in allowed)
        for base, _ in imported_names(module)
        if base.split(".")[0] in AWS_SDK
    ]
    assert offenders == [], "only humwatch.dal may import boto3/botocore:\n  " + "\n  ".join(offenders)


@pytest.mark.parametrize("package", ["humwatch", "humwatch_cdk"])
def test_no_import_cycle(graph: dict[str, set[str]], package: str) -> None:
    inside = _within(graph, package)
    assert find_cycles(inside) == [], f"import cycles in {package}:\n{_describe(inside)}"
