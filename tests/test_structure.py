"""The package's shape (issue 15): no import cycle among emulator's modules, counting the
imports made only for type checking (``if TYPE_CHECKING:``) and those inside functions."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = "emulator"


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(PACKAGE, include_external_packages=False, exclude_type_checking_imports=False)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-import), each
    sorted: every module in one imports every other one, directly or not (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
    return found


def _one_cycle(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest import chain from the component's first module back to itself."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return [start, *reversed(chain[:-1]), start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return component


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(edges) == [["a", "b", "c"], ["e"]]
    assert _one_cycle(edges, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycle_among_the_emulators_modules():
    edges = _graph()
    assert "emulator.core.contract" in edges and "emulator.apis.jpush.routes" in edges
    cycles = [" -> ".join(_one_cycle(edges, c)) + f"   (component: {', '.join(c)})" for c in _cycles(edges)]
    assert not cycles, "import cycles (TYPE_CHECKING and function-level imports count):\n" + "\n".join(cycles)


def test_the_contract_is_a_leaf():
    """core/contract.py imports no module of the emulator but two leaves of its own."""
    edges = _graph()
    assert edges["emulator.core.contract"] == {"emulator.core.errors", "emulator.core.tenant_model"}
    assert edges["emulator.core.errors"] == set() and edges["emulator.core.tenant_model"] == set()


def test_tenants_and_ownership_know_nothing_of_the_contract_or_the_runtime():
    edges = _graph()
    for module in ("emulator.core.tenants", "emulator.core.ownership"):
        assert not edges[module] & {"emulator.core.contract", "emulator.core.runtime", "emulator.core.routing"}, module


def test_no_module_of_the_package_is_over_500_lines():
    package = Path(__file__).resolve().parents[1] / "emulator"
    long = {
        str(path.relative_to(package)): lines
        for path in sorted(package.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}, f"modules over 500 lines: {long}"
