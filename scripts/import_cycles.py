"""Import cycles inside a package, counting imports inside functions too (a lazy import hides a
cycle from Python's import machinery, not from the design). Imports under ``if TYPE_CHECKING:``
are left out: they never run. Relative imports (``from .base import Rule``) count like absolute ones.

    .venv/bin/python scripts/import_cycles.py                  # qprof/ and advisors/ (as qprof.advisors)
    .venv/bin/python scripts/import_cycles.py qprof/advise     # one folder; prints each cycle; exit 1 if any,
                                                               # 2 if a folder is missing or holds no module
    .venv/bin/python scripts/import_cycles.py qprof advisors=qprof.advisors   # DIR=NAME: the name it imports as
    .venv/bin/python scripts/import_cycles.py --packages       # cycles between qprof's subpackages (layering)

Several folders make one graph, so a cycle through two of them is found too. ``from pkg import
name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg`` (whose ``__init__`` defines it);
a module named by a string for a later import (``importlib.import_module("qprof.x")``, the
values of a lazy-export table ``{"name": "qprof.x"}``) is an edge too, a name built at run time
(plugin discovery by pkgutil) is not;
the implicit import of a parent package's ``__init__`` by a submodule is not an edge, so a
package ``__init__`` may re-export its submodules as long as they do not import it back.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from pathlib import Path

# The folders the whole-package check reads, with the names they import as (pyproject.toml's
# package-dir ships advisors/ as qprof.advisors).
DEFAULT_ROOTS = {Path("qprof"): "qprof", Path("advisors"): "qprof.advisors"}
REPO = Path(__file__).resolve().parents[1]  # what DEFAULT_ROOTS are relative to, wherever this runs from


def module_name(path: Path, root: Path, prefix: str | None = None) -> str:
    """The dotted name of ``path``: below ``root`` (the top package folder), or below ``prefix``,
    the name ``root`` itself imports as."""
    if prefix is None:
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
    else:
        parts = [*prefix.split("."), *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under ``if TYPE_CHECKING:``."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                pending.extend(child.orelse)
            else:
                pending.append(child)


def _named_modules(node: ast.AST) -> list[str]:
    """Module names given as strings to be imported later: ``import_module("qprof.x")`` and the
    values of a lazy-export table ``{"name": "qprof.x"}`` (also ``"qprof.x:attr"``)."""
    if isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        strings = node.args[:1] if called == "import_module" else []
    elif isinstance(node, ast.Dict):
        strings = node.values
    else:
        return []
    return [item.value.partition(":")[0] for item in strings if isinstance(item, ast.Constant) and isinstance(item.value, str)]


def _modules(package_dir: Path, prefix: str | None) -> dict[str, Path]:
    root = package_dir.resolve()
    top = root
    if prefix is None:
        while (top.parent / "__init__.py").exists():
            top = top.parent
    return {module_name(p, top, prefix): p for p in sorted(root.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str | None:
    """The module a ``from … import`` names, with a relative one resolved against module ``name``."""
    if not node.level:
        return node.module
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package) or None


def import_graph(*package_dirs: Path, names: Mapping[Path, str] | None = None) -> dict[str, set[str]]:
    """module -> the modules of the given folders it imports (anywhere in its body).

    ``names``: the dotted name a folder imports as, when it is not its path (advisors/ is
    qprof.advisors); else the name comes from the folder and the packages above it."""
    names = names or {}
    modules: dict[str, Path] = {}
    for package_dir in package_dirs:
        modules.update(_modules(package_dir, names.get(package_dir)))
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _absolute(node, name, path)
                if module:
                    submodules = [f"{module}.{alias.name}" for alias in node.names]
                    # ``from pkg import submodule`` depends on the submodule; pkg's __init__ only
                    # runs as every submodule's parent does (see above)
                    targets = submodules if all(sub in modules for sub in submodules) else [module, *submodules]
            else:
                targets = _named_modules(node)
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]], depth: int = 2) -> dict[str, set[str]]:
    """The module graph folded to packages ``depth`` names deep (``qprof.advise.whatif.base`` ->
    ``qprof.advise``): a cycle here is two layers that lean on each other, even when no two
    modules import each other in a circle."""
    folded: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if module.count(".") < depth - 1:
            continue  # the root façade (version, lazy public names) sits above every layer, not in one
        source = ".".join(module.split(".")[:depth])
        edges = folded.setdefault(source, set())
        for other in imported:
            target = ".".join(other.split(".")[:depth])
            if other.count(".") >= depth - 1 and target != source:
                folded.setdefault(target, set())
                edges.add(target)
    return folded


def main(argv: list[str]) -> int:
    arguments = [a for a in argv[1:] if a != "--packages"]
    roots: dict[Path, str | None] = {REPO / path: name for path, name in DEFAULT_ROOTS.items()} if not arguments else {}
    for argument in arguments:
        folder, _, name = argument.partition("=")
        roots[Path(folder)] = name or None
    missing = [str(path) for path in roots if not path.is_dir()]
    if missing:  # a typo must not pass as "no cycle"
        print(f"error: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    graph = import_graph(*roots, names={path: name for path, name in roots.items() if name})
    if not graph:
        print(f"error: no Python module in {', '.join(map(str, roots))}: nothing to check", file=sys.stderr)
        return 2
    if "--packages" in argv:
        graph = package_graph(graph)
    found = cycles(graph)
    for component in found:
        print("cycle: " + " <-> ".join(component))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
