"""The layout's promises (docs/architecture.md): imports go one way between packages, no module
imports another that (directly or not) imports it back, and no module grows past ~600 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1] / "neuroemu"

#: each layer may import the layers after it (and itself); the base modules serve every layer
LAYERS = ("cli", "studies", "engine", "networks", "hardware", ("models", "config", "kernel"))
BASE = {"neuroemu.errors", "neuroemu.backends", "neuroemu.version"}
MAX_LINES = 600


def _rank(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, layer in enumerate(LAYERS):
        if parts[1] in (layer if isinstance(layer, tuple) else (layer,)):
            return i
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every neuroemu module this file imports, at any depth of the file (function-level included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name in known:
                out.add(name)
    return out


def import_graph() -> nx.DiGraph:
    """Modules of the package and the imports between them (a package's __init__ counts as a module)."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        for target in _imports(path, set(files)):
            if target != name:
                graph.add_edge(name, target)
    return graph


def test_relative_imports_are_not_used():
    # one way of writing imports: absolute, so a module reads the same wherever it moves
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}: relative import"


def upward_imports(graph: nx.DiGraph) -> list[str]:
    """Every edge of ``graph`` against the layering, as "src -> dst (why)"."""
    upward = []
    for src, dst in graph.edges:
        if src == "neuroemu" or dst in BASE:  # the package's public face re-exports from every layer
            continue
        a, b = _rank(src), _rank(dst)
        if src in BASE:
            upward.append(f"{src} -> {dst} (a base module imports a layer)")
        elif a is None or b is None:
            upward.append(f"{src} -> {dst} (outside the layers)")
        elif b < a:
            upward.append(f"{src} -> {dst}")
    return upward


def import_circles(graph: nx.DiGraph) -> list[str]:
    """Every import circle of ``graph``, as "a -> b -> a"."""
    return [" -> ".join(c + [c[0]]) for c in nx.simple_cycles(graph)]


def test_imports_only_go_down_the_layers():
    upward = upward_imports(import_graph())
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_no_import_circles():
    circles = import_circles(import_graph())
    assert not circles, "import circles:\n" + "\n".join(circles[:10])


def test_the_checks_see_a_circle_and_an_upward_import():
    # the checks above must be able to fail: a graph with one of each is found out, a clean one is not
    bad = nx.DiGraph([("neuroemu.engine.a", "neuroemu.studies.b"), ("neuroemu.engine.a", "neuroemu.engine.c"),
                      ("neuroemu.engine.c", "neuroemu.engine.a"), ("neuroemu.errors", "neuroemu.models.x")])
    assert upward_imports(bad) == ["neuroemu.engine.a -> neuroemu.studies.b",
                                   "neuroemu.errors -> neuroemu.models.x (a base module imports a layer)"]
    assert import_circles(bad) in (["neuroemu.engine.a -> neuroemu.engine.c -> neuroemu.engine.a"],
                                   ["neuroemu.engine.c -> neuroemu.engine.a -> neuroemu.engine.c"])
    clean = nx.DiGraph([("neuroemu.cli.app", "neuroemu.engine.run"), ("neuroemu.engine.run", "neuroemu.errors")])
    assert upward_imports(clean) == [] and import_circles(clean) == []


def test_modules_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_few_modules_at_the_top():
    top = [p.name for p in ROOT.glob("*.py") if p.name not in ("__init__.py", "__main__.py") and not p.name.startswith("_")]
    assert len(top) <= 8, top
