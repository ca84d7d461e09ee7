"""The house rules of `lies/` that no other test sees: the layers (pyproject's import-linter contract), no import
circle between modules, no private name taken across modules, and imports at the top of a module unless they keep
a heavy package out of a light entry point."""

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "lies"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def test_the_layer_contract_holds():
    """`lint-imports` over pyproject's ``[tool.importlinter]``: each folder imports only the folders below it."""
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports; "
                           "raise SystemExit(lint_imports())"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_no_module_imports_itself_through_others():
    """No circle in the module graph (imports inside functions included): a circle is how a flat folder hid its
    layers before."""
    graph = grimp.build_graph("lies")
    modules = sorted(m for m in graph.modules if m != "lies")
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) - {"lies"}) for m in modules}
    # a package's __init__ that re-exports its own modules is not a circle: it is the package's front door
    edges = {m: [n for n in targets if not n.startswith(m + ".")] for m, targets in edges.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, path):
        state[m] = 1
        for n in edges.get(m, []):
            if state.get(n) == 1:
                cycles.append(path[path.index(n):] + [n] if n in path else [m, n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles[:3]


def test_no_private_name_is_imported_across_modules():
    taken = [(module, node.module, alias.name)
             for module, tree in _modules().items() for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lies")
             for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert not taken


# Imports inside functions that stay there on purpose: they keep torch, sympy, scipy or pandas out of what a light
# entry point (`lies --help`, `import lies.data.feynman`) loads, or reach an optional dependency.
LAZY_OK = {"lies.cli", "lies.data.feynman", "lies.bench.peers", "lies.bench.benchmark", "lies.pipeline.engine",
           "lies.estimator", "lies.data.csv_data", "lies.data.dataset", "lies.params", "lies.core.checks"}


@pytest.mark.parametrize("module", sorted(set(_modules()) - LAZY_OK))
def test_library_imports_sit_at_the_top_of_the_module(module):
    """An import of the library inside a function was the only way to hide an import circle; with the layers there is
    none to hide."""
    tree = _modules()[module]
    inner = [f"line {node.lineno}: {node.module}"
             for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(fn) if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lies")]
    assert not inner
