"""No import cycle anywhere in the installed packages: every import statement counts, at the top
of a module or inside a function (a cycle hidden in a function still ties two modules together)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "streamer", "models", "configs")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} & modules.keys()
            out |= {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names} & modules.keys()
    return out


def test_no_module_imports_another_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    cycles, state = [], {}

    def visit(name, trail):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append(trail[trail.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, trail + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_every_installed_module_says_what_it_is():
    missing = [str(p.relative_to(ROOT)) for p in _modules().values() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def _importers_of(target_prefix: str, among_prefixes: tuple[str, ...]) -> list[str]:
    """``module -> imported`` for every module named by ``among_prefixes`` that imports under ``target_prefix``."""
    modules = _modules()
    return sorted(
        f"{name} -> {dep}"
        for name, path in modules.items()
        if name.startswith(among_prefixes)
        for dep in _imports(path, modules)
        if dep == target_prefix or dep.startswith(target_prefix + ".")
    )


def test_capture_never_imports_the_feed():
    """Capture says what happened as a SourceStatus; the wiring turns it into a feed event."""
    assert _importers_of("streamer.feed", ("streamer.capture",)) == []


def test_nothing_below_the_wiring_imports_a_feed_event_type():
    """The networks, the capture edge and the sans-I/O selective core return domain values
    (a Caption, a SourceStatus); only the wiring turns them into protocol events."""
    below = ("models", "streamer.capture", "pipelines.core.selective", "pipelines.core.clips", "pipelines.core.drift",
             "pipelines.core.segment_contrast", "pipelines.core.scene_memory", "pipelines.core.decode_budget",
             "pipelines.core.caption")
    assert _importers_of("streamer.feed.events", below) == []
