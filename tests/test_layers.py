"""The package's layers, enforced: imports point one way, and no two modules import each other.

::

    base  <-  schema  <-  scenario  <-  engine  <-  results  <-  experiments  <-  reports  <-  cli
    (units,                                                                                 <-  app
     _version)

A module may import its own layer and any layer to its left, never one to its right.  ``sim`` itself
(``sim/__init__.py``, the public API) is a facade for callers outside the package: no module inside
``sim`` imports it.  Every import counts, at module level or inside a function (a lazy import is still a
dependency), and so does ``from package import submodule``.  Third-party rules: the schema is pydantic
only (no simpy, pandas, yaml), the engine never touches pandas, plotting, files in YAML or the UI, and the
dashboard reaches ``sim`` only through ``app/services.py`` (and the lever editor ``app/levers.py``, for
paths and quantities).

The checker works on a graph ``{module: {imported module: line}}`` so that it can be fed a synthetic one
(the tests at the bottom show it failing on a deliberately wrong import and on a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("base", "schema", "scenario", "engine", "results", "experiments", "reports", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}
APP_RANK = RANK["cli"]  # the dashboard sits at the top, beside the CLI (neither imports the other)
BASE = {"units", "_version"}  # sim/units.py and sim/_version.py: below everything
FORBIDDEN_THIRD_PARTY = {
    "base": {"simpy", "pandas", "numpy", "yaml", "pydantic", "plotly", "streamlit"},
    "schema": {"simpy", "pandas", "yaml", "plotly", "streamlit", "networkx"},
    "scenario": {"simpy", "plotly", "streamlit"},
    "engine": {"pandas", "plotly", "streamlit", "yaml", "duckdb", "pyarrow", "jinja2", "typer"},
    "results": {"plotly", "streamlit", "typer"},
    "experiments": {"streamlit", "typer"},
    "reports": {"streamlit", "typer"},
}
#: The dashboard modules that may import sim: the services bridge, and the lever editor (dotted paths and
#: distribution maths from sim.scenario, on plain dicts; no Streamlit).
APP_BRIDGES = {"app.services", "app.levers"}
#: Known exceptions, each with its reason; the list is meant to shrink to nothing.
ALLOWED: dict[tuple[str, str], str] = {}

#: Import cycles known today, each with its reason; a new cycle, or a change in one of these, fails.
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}


# ------------------------------------------------------------------------------------------- graph
def module_name(path: Path, root: Path = REPO) -> str:
    """``sim/engine/rng.py`` -> ``sim.engine.rng``; ``sim/cli/__init__.py`` -> ``sim.cli``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> dict[str, int]:
    """Every module *module* imports (absolute names) -> first line; ``from P import m`` counts P.m if a module."""
    out: dict[str, int] = {}
    pkg = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # `if TYPE_CHECKING:` imports exist for annotations only, not at run time
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                out.setdefault(a.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.setdefault(sub if sub in known else target, node.lineno)
    return out


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def source_graph(root: Path = REPO, dirs: tuple[str, ...] = ("sim", "app")) -> dict[str, dict[str, int]]:
    """The import graph of every ``*.py`` under *dirs* (module -> imported module -> line)."""
    files = {module_name(p, root): p for d in dirs for p in (root / d).rglob("*.py") if "__pycache__" not in p.parts}
    known = set(files)
    return {m: imports_of(p.read_text(), m, p.name == "__init__.py", known) for m, p in files.items()}


def layer_of(module: str) -> str | None:
    """``sim.engine.mechanisms.cloud`` -> ``engine``; ``sim.units`` -> ``base``; app modules -> ``app``."""
    parts = module.split(".")
    if parts[0] == "app":
        return "app"
    if parts[0] != "sim" or len(parts) == 1:
        return None
    if parts[1] in BASE:
        return "base"
    return parts[1] if parts[1] in RANK else None


def _rank(layer: str) -> int:
    return APP_RANK if layer == "app" else RANK[layer]


# ------------------------------------------------------------------------------------------- checks
def layer_violations(graph: dict[str, dict[str, int]], allowed: dict | None = None) -> list[str]:
    """One line per import that points up a layer, reaches the ``sim`` facade from inside, or breaks a rule."""
    allowed = ALLOWED if allowed is None else allowed
    bad = []
    for mod, deps in sorted(graph.items()):
        src = layer_of(mod)
        for dep, line in sorted(deps.items()):
            if (mod, dep) in allowed:
                continue
            top = dep.split(".")[0]
            if src not in (None, "app") and dep == "sim":
                bad.append(f"{mod}:{line}: imports the sim facade (import the module that defines the name)")
                continue
            if src == "app" and top == "sim" and mod not in APP_BRIDGES:
                bad.append(f"{mod}:{line}: imports {dep} (the dashboard reaches sim only through app/services.py)")
                continue
            if src == "app" and top == "simpy":
                bad.append(f"{mod}:{line}: imports simpy (the dashboard never runs the engine directly)")
                continue
            if src in FORBIDDEN_THIRD_PARTY and top in FORBIDDEN_THIRD_PARTY[src]:
                bad.append(f"{mod}:{line}: the {src} layer must not import {top}")
                continue
            dst = layer_of(dep)
            if src is None or dst is None:
                continue
            if src == "app" and dst == "cli" or src == "cli" and dst == "app":
                bad.append(f"{mod}:{line}: {src} imports {dep} (the CLI and the dashboard are peers)")
            elif _rank(dst) > _rank(src):
                bad.append(f"{mod}:{line}: {src} imports {dep} ({dst} is above {src})")
    return bad


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself), in the graph's modules."""
    nodes = sorted(graph)
    inside = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan, recursive (the graph is a few hundred modules)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(d for d in graph[v] if d in inside):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


# ------------------------------------------------------------------------------------------- tests
GRAPH = source_graph()


def test_the_graph_sees_the_package():
    assert {"sim.engine.simulation", "sim.results.metrics", "sim.cli.main", "app.services"} <= set(GRAPH)
    assert "sim.schema" in GRAPH["sim.engine.compliance"]


def test_imports_point_down_the_layers():
    assert layer_violations(GRAPH) == []


def test_no_import_cycles():
    found = {tuple(c) for c in cycles(GRAPH)}
    assert found - set(KNOWN_CYCLES) == set(), "new import cycle(s)"
    assert set(KNOWN_CYCLES) - found == set(), "a known cycle is gone or changed: update KNOWN_CYCLES"


def test_every_sim_module_is_in_a_layer():
    stray = [m for m in GRAPH if m.startswith("sim.") and layer_of(m) is None]
    assert stray == []


def test_known_exceptions_are_still_needed():
    """An entry of ALLOWED that no longer matches an import is removed, not kept as a blank cheque."""
    stale = [pair for pair in ALLOWED if pair[1] not in GRAPH.get(pair[0], {})]
    assert stale == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("sim.engine.fake", "import pandas as pd\n", "the engine layer must not import pandas"),
    ("sim.engine.fake", "from sim.experiments.sweep import run_sweep\n", "engine imports sim.experiments.sweep"),
    ("sim.scenario.fake", "def f():\n    from sim.engine.compliance import Compliance\n", "scenario imports"),
    ("sim.results.fake", "from sim import Simulation\n", "imports the sim facade"),
    ("app.app_pages.fake", "from sim.experiments import store\n", "only through app/services.py"),
    ("sim.cli.fake", "from app import services\n", "peers"),
    ("sim.schema.fake", "import yaml\n", "the schema layer must not import yaml"),
])
def test_checker_fails_on_a_wrong_import(module, source, expected):
    graph = dict(GRAPH)
    known = set(graph) | {module}
    graph[module] = imports_of(source, module, False, known)
    found = layer_violations(graph)
    assert any(expected in line for line in found), found


def test_checker_fails_on_a_wrong_import_in_a_file(tmp_path):
    """The same through files on disk: a temporary tree with an engine module that imports the reports."""
    for rel, text in {"sim/__init__.py": "", "sim/engine/__init__.py": "", "sim/reports/__init__.py": "",
                      "sim/reports/plots.py": "", "sim/engine/bad.py": "from sim.reports import plots\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = layer_violations(source_graph(tmp_path, ("sim",)), allowed={})
    assert found == ["sim.engine.bad:1: engine imports sim.reports.plots (reports is above engine)"]


def test_checker_finds_a_cycle():
    graph = {"sim.experiments.a": {"sim.experiments.b": 1}, "sim.experiments.b": {"sim.experiments.c": 3},
             "sim.experiments.c": {"sim.experiments.a": 2, "sim.units": 1}, "sim.units": {}}
    assert cycles(graph) == [["sim.experiments.a", "sim.experiments.b", "sim.experiments.c"]]
    assert cycles({"sim.units": {}}) == []


def test_typing_only_imports_are_not_dependencies():
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.results import result\nimport sim.units\n"
    got = imports_of(src, "sim.engine.x", False, {"sim.results.result", "sim.units"})
    assert "sim.results.result" not in got and "sim.units" in got
