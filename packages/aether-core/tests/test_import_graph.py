"""aether-core's modules import one another in one direction only, counting imports inside functions."""

import ast
from pathlib import Path

import aether.core

CORE = Path(aether.core.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as a path, or [] (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_core_has_no_import_cycle():
    paths = {_module(p): p for p in CORE.rglob("*.py")}
    modules = set(paths) - {"aether.core"}  # the package's __init__ only reads its version
    graph = {name: _imports(paths[name], modules) - {name} for name in modules}
    assert "aether.core.model_folder" in graph["aether.core.init_from_cogvideox"]  # the walk sees imports
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))
