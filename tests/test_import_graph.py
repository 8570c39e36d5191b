"""No import cycles in the product packages.

The graph is grimp's (the import graph import-linter checks), built from the source: every
``import`` and ``from … import`` of a module, those inside functions included (a function-level
import that closes a cycle is a cycle that merely fails later, at call time). Imports under
``if TYPE_CHECKING:`` are left out: Python never runs them, and annotations are strings here
(``from __future__ import annotations``). As in grimp, importing ``a.b.c`` is an edge to
``a.b.c`` only, not to the packages ``a`` and ``a.b`` whose ``__init__`` Python runs first: our
package ``__init__`` modules import nothing of their own package.
"""

from __future__ import annotations

import itertools

import grimp

PACKAGES = ("gateway", "regions", "resolvers", "schema", "storage")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted."""
    found: dict[str, list[str]] = {}
    for module in sorted(graph.modules):
        if module in found:
            continue
        # The modules *module* reaches and that reach it back: its component.
        around = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if around:
            component = sorted({module, *around})
            for member in component:
                found[member] = component
    return sorted({tuple(c): c for c in found.values()}.values())


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """The component, and one cycle through its first module with the lines that close it."""
    first = component[0]
    back = next(m for m in sorted(graph.find_modules_that_directly_import(first)) if m in component)
    chain = graph.find_shortest_chain(importer=first, imported=back)
    assert chain is not None
    steps = [*chain, first]
    lines = []
    for importer, imported in itertools.pairwise(steps):
        detail = graph.get_import_details(importer=importer, imported=imported)
        where = f"line {detail[0]['line_number']}: {detail[0]['line_contents']}" if detail else ""
        lines.append(f"    {importer} -> {imported}  ({where})")
    return f"{', '.join(component)}\n" + "\n".join(lines)


def test_the_product_packages_have_no_import_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles)


def test_a_cycle_is_found_and_described() -> None:
    """The check itself: a cycle through a function-level import is found; a
    ``TYPE_CHECKING`` one was left out when the graph was built."""
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c", "p.d"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b", line_number=3, line_contents="import p.b")
    graph.add_import(
        importer="p.b", imported="p.a", line_number=9, line_contents="    from p.a import f"
    )
    graph.add_import(importer="p.c", imported="p.a", line_number=1, line_contents="import p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]
    description = _describe(graph, ["p.a", "p.b"])
    assert "p.a -> p.b  (line 3: import p.b)" in description
    assert "p.b -> p.a  (line 9:     from p.a import f)" in description
