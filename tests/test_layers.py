"""The package's imports point one way: vocabulary <- fetch <- parse <- match <- decide <- store
<- notify <- pipeline <- service <- review <- cli. Imports inside functions count too: a cycle
hidden in a function is still a cycle, and it still drags a higher layer into a lower one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import monitor

PACKAGE = Path(monitor.__file__).parent

# Lower layers first; a module may import its own layer and the ones before it.
LAYERS = [
    {"errors", "models", "units", "config", "preflight", "clipping", "safetext",
     "__init__"},
    {"fetch"}, {"parse"}, {"match"}, {"decide"}, {"store"}, {"notify"}, {"pipeline"},
    {"service"}, {"review"}, {"cli"}, {"__main__"},
]

# Third-party libraries that only the named stages may import: the extraction workers import
# parse/ and pipeline/analysis, so they must not pull in the HTTP clients or the database.
ONLY_IN = {
    "sqlite3": {"store"}, "sqlite_utils": {"store"},
    "httpx": {"fetch"}, "httpcore": {"fetch"}, "aiohttp": {"fetch"}, "brotli": {"fetch"},
    "trafilatura": {"parse"}, "feedparser": {"parse"},
    # trafilatura's own date and URL helpers, for the metadata the clipping needs (parse/extract.py)
    "htmldate": {"parse"}, "courlan": {"parse"},
    # a watched page's links: lxml's tree, cssselect's selectors (parse/listing.py)
    "lxml": {"parse"}, "cssselect": {"parse"},
    "datasette": {"review"}, "uvicorn": {"review"}, "Stemmer": {"match"},
    # training only (monitor.match.train, the `train` extra): the daemon scores without it
    "sklearn": {"match"}, "numpy": {"match"},
    "tqdm": {"cli"},  # progress bars: the command line's business alone
    "uvloop": {"service"},  # the event loop, chosen in one place (service/eventloop.py)
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at any depth of the file (functions included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name}
            for name, path in files.items()}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(module: str) -> int:
    stage = _stage(module)
    return next(i for i, layer in enumerate(LAYERS) if stage in layer)


def test_every_module_belongs_to_a_layer() -> None:
    unknown = sorted(m for m in _graph() if not any(_stage(m) in layer for layer in LAYERS))
    assert unknown == []


def test_no_module_imports_a_higher_layer() -> None:
    wrong = sorted(f"{m} imports {d}" for m, deps in _graph().items() for d in deps
                   if _rank(d) > _rank(m))
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if dep.startswith(node + "."):
                continue  # a package's __init__ naming its own submodule is not a cycle
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_third_party_libraries_stay_in_their_stage() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for imported in _imports(path):
            allowed = ONLY_IN.get(imported.split(".")[0])
            if allowed is not None and _stage(module) not in allowed:
                wrong.append(f"{module} imports {imported}")
    assert sorted(wrong) == []


def test_the_extraction_workers_load_neither_http_clients_nor_the_database() -> None:
    """Worker processes import pipeline/analysis (the forkserver preloads it): every library it
    drags in is memory and start-up time in each of them."""
    code = ("import sys, monitor.pipeline.analysis; "
            "print(sorted(m for m in ('httpx', 'aiohttp', 'sqlite_utils', 'sqlite3', 'feedparser', "
            "'apscheduler', 'prometheus_client') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
