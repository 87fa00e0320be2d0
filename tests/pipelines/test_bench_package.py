"""The bench package's seams: its public names, a light import, and no import cycle inside it."""

import ast
import subprocess
import sys
from pathlib import Path

from testlimits import TIMEOUT_S

PACKAGE = Path(__file__).resolve().parents[2] / "pipelines" / "bench"


def test_the_public_names_import_from_the_package():
    import pipelines.bench as bench

    for name in ("run_bench", "BenchOptions", "VideoTrace", "match_boundaries", "strategy_metrics", "trace_video"):
        assert name in bench.__all__ and callable(getattr(bench, name)), name


def test_every_module_says_what_it_exports():
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), path.name
        exported = [n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)]
        assert exported, f"{path.name} has no __all__"


def test_importing_the_bench_loads_neither_torch_nor_pyav_nor_matplotlib():
    code = "import sys, pipelines.bench; print(sorted(m for m in ('torch', 'av', 'matplotlib') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_no_module_of_the_bench_imports_another_that_imports_it_back():
    """Every import statement counts, top-level or inside a function (TYPE_CHECKING ones do not run)."""
    modules = {f"pipelines.bench.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        type_checking = [node for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
        skip = {id(n) for block in type_checking for n in ast.walk(block)}
        deps = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                deps |= {m for m in (node.module, *(f"{node.module}.{a.name}" for a in node.names)) if m in modules}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in modules}
            assert not (isinstance(node, ast.ImportFrom) and node.module == "pipelines.bench"), f"{name} imports the package it is part of"
        graph[name] = deps - {name}

    def on_a_cycle(start: str) -> bool:
        stack, seen = list(graph[start]), set()
        while stack:
            m = stack.pop()
            if m == start:
                return True
            if m not in seen:
                seen.add(m)
                stack.extend(graph[m])
        return False

    assert [m for m in graph if on_a_cycle(m)] == []
