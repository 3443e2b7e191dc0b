"""The house's rules, checked: imports run downwards between layers, and no module imports itself
back through others (no import circles).

Run it alone with `.venv/bin/pytest tests/test_layers.py -q` (a second, no setup). It reads the
source with `ast`, imports nothing, and counts every import: at module level, inside functions, and
under `if TYPE_CHECKING:` (a type-only import is still a dependency a reader must follow).

A new folder under farmctl/ (a room: farmctl/web/, farmctl/records/) must be placed in `LAYERS`;
until it is, this test says so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom. A module may import modules of its own area and of any lower layer, never of a
# higher one, nor of another area in its own layer. An area is a folder (or a top-level module)
# under farmctl/; `drivers/` is installed as farmctl.drivers.
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),  # `python -m farmctl`
    ("cli",),  # the command line: parses and renders
    ("daemon",),  # the long-running process: supervisor, workers, the MQTT command face; hosts the web
    ("web",),  # the HTTP face (issue 14): calls the use cases, never the CLI or the daemon
    ("app",),  # the use cases every face calls
    ("records", "sync"),  # rooms for the ledger and reports (issue 15) and sync
    ("telemetry",),  # MQTT publishing and its models
    ("store",),  # persistence only
    ("drivers",),  # printer drivers (serial, OctoPrint)
    ("config",),  # reads farm.toml and the environment
    ("config_schema",),  # every section farm.toml may hold
    ("scheduler", "gcode"),  # pure: who prints what next; G-code analysis
    # small shared pieces (states: the one printer-state vocabulary; times: ISO moments)
    ("ids", "states", "times", "sites", "files", "home", "redact", "samples", "defaults", "farmctl"),
    ("errors",),  # the error types every layer raises
]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder, package in ((ROOT / "farmctl", "farmctl"), (ROOT / "drivers", "farmctl.drivers")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every farmctl module `module` imports. `from pkg import name`
    counts as importing pkg.name when that is a module, else pkg (Python imports a package before
    its submodule; that alone is no dependency on the package's own code)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    yield target, node.lineno
                elif base in known:
                    yield base, node.lineno


def _area(module: str) -> str:
    parts = module.split(".")
    if parts[:2] == ["farmctl", "drivers"]:
        return "drivers"
    return parts[1] if len(parts) > 1 else "farmctl"


def _graph() -> dict[str, dict[str, int]]:
    known = _modules()
    graph: dict[str, dict[str, int]] = {name: {} for name in known}
    for name, path in known.items():
        for target, line in _imported(name, path, known):
            if target != name:
                graph[name].setdefault(target, line)
    return graph


def _rank() -> dict[str, int]:
    return {area: depth for depth, layer in enumerate(LAYERS) for area in layer}


def test_every_area_has_a_layer() -> None:
    rank = _rank()
    missing = sorted({_area(m) for m in _graph()} - rank.keys())
    assert not missing, f"place these under farmctl/ in LAYERS (tests/test_layers.py): {missing}"


def test_imports_run_downwards() -> None:
    wrong = _against_layers(_graph())
    assert not wrong, "imports against the layer order (tests/test_layers.py LAYERS):\n" + "\n".join(wrong)


def test_no_import_circles() -> None:
    circles = _circles(_graph())
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_checks_see_what_they_look_for() -> None:
    """An upward import and a circle, planted in a made-up graph, are both reported."""
    graph = {
        "farmctl.store.jobs": {"farmctl.cli.main": 3},  # the store importing the CLI
        "farmctl.cli.main": {"farmctl.store.jobs": 5},  # ... which imports it back
        "farmctl.app.farm": {"farmctl.store.jobs": 7},
    }
    assert _against_layers(graph) == [
        "farmctl.store.jobs:3 imports farmctl.cli.main (store -> cli, upwards)"
    ]
    assert _circles(graph) == [
        "farmctl.cli.main -> farmctl.store.jobs (line 5); farmctl.store.jobs -> farmctl.cli.main (line 3)"
    ]


def _against_layers(graph: dict[str, dict[str, int]]) -> list[str]:
    rank = _rank()
    wrong = []
    for module, targets in graph.items():
        here = _area(module)
        for target, line in targets.items():
            there = _area(target)
            if here == there or here not in rank or there not in rank:
                continue
            if rank[there] <= rank[here]:
                side = "upwards" if rank[there] < rank[here] else "sideways (same layer)"
                wrong.append(f"{module}:{line} imports {target} ({here} -> {there}, {side})")
    return wrong


def _circles(graph: dict[str, dict[str, int]]) -> list[str]:
    described = []
    for group in _strongly_connected(graph):
        if len(group) < 2:
            continue
        members = set(group)
        edges = [f"{a} -> {b} (line {graph[a][b]})" for a in sorted(group) for b in graph[a] if b in members]
        described.append("; ".join(edges))
    return described


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups
