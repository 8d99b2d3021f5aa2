"""The package's layers: no import cycle among looplab modules, and agents never see how they are scored.

Every import statement counts, at module level or inside a function (a function-level
import still ties two modules together; it only hides the cycle until run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# what an agent must never import, directly or through another module: the verifier, the
# rescoring of checkpoints (both say how a result is scored)
HIDDEN_FROM_AGENTS = ("looplab.verify", "looplab.scoring")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted((SRC / "looplab").rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The looplab modules ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # `import looplab.a.b` names a module, or an attribute of one
                t = t.rpartition(".")[0]
            if t.startswith("looplab") and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init_edge(a: str, b: str) -> bool:
    """``looplab.x`` (a package's __init__) re-exporting ``looplab.x.y``: importing y runs x first anyway."""
    return b.startswith(a + ".")


def test_no_import_cycle_among_looplab_modules() -> None:
    graph = {a: {b for b in bs if not _is_package_init_edge(a, b)} for a, bs in _graph().items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_agents_never_reach_the_verifier_or_rescoring() -> None:
    graph = _graph()
    bad = []
    for start in (m for m in graph if m == "looplab.agents" or m.startswith("looplab.agents.")):
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt in seen:
                    continue
                seen.add(nxt)
                if nxt.startswith(HIDDEN_FROM_AGENTS):
                    bad.append(f"{start} -> ... -> {nxt}")
                else:
                    todo.append(nxt)
    assert bad == []


def test_the_import_scanner_sees_function_level_imports(tmp_path: Path) -> None:
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from looplab.verify.verifier import verify\n    import looplab.trial\n")
    found = _imports(mod, "looplab.fake", _modules())
    assert found == {"looplab.verify.verifier", "looplab.trial"}
