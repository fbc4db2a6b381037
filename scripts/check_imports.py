#!/usr/bin/env python3
"""`make lint`'s import check: the modules of `backend/medcloud` must form no import cycle, and the foundation
(`core`, `crypto`) must not import a domain app (accounts, audit, pacs, sharing, ai, ...). Imports inside
functions count too (a deferred import hides a cycle, it does not remove it), except under `if TYPE_CHECKING:`.

    python3 scripts/check_imports.py [ROOT]     # exit 1 and the cycles / forbidden imports, else a summary

Stdlib only (ast): it runs before the project's environment exists."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "medcloud"
FOUNDATION = ("medcloud.core", "medcloud.crypto")
# The foundation may use the project's settings and its Celery app, which sit above every app by design.
FOUNDATION_MAY_IMPORT = ("medcloud.core", "medcloud.crypto", "medcloud.settings", "medcloud.celery")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def imports_of(path: Path, name: str, is_package: bool, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_nodes(tree)
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            # the longest known module the import names (an imported name may be a module or an attribute)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in (root / PACKAGE).rglob("*.py") if "migrations" not in p.parts}
    known = set(files)
    return {name: imports_of(path, name, path.name == "__init__.py", known) for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle to break."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            # a submodule importing its own package (`from . import x`) is Python's normal pattern, not a cycle;
            # the package importing the submodule (a re-export) is a real edge
            if node.startswith(nxt + "."):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def forbidden(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((src, dst) for src, targets in edges.items() if src.startswith(FOUNDATION)
                  for dst in targets if dst.startswith(PACKAGE + ".") and not dst.startswith(FOUNDATION_MAY_IMPORT))


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "backend"
    edges = graph(root)
    bad_cycles, bad_imports = cycles(edges), forbidden(edges)
    for component in bad_cycles:
        print("import cycle: " + " <-> ".join(component))
    for src, dst in bad_imports:
        print(f"foundation imports a domain app: {src} -> {dst}")
    if bad_cycles or bad_imports:
        return 1
    print(f"imports: {len(edges)} modules, {sum(map(len, edges.values()))} imports, no cycle, foundation clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
