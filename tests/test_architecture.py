"""The house as docs/architecture.md draws it: layers, no upward import, no cycle between packages.

Read from the source with `ast` (nothing is imported): every `import drillkit.X…` and
`from drillkit.X… import …`, at module level or inside a function, counts.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "drillkit"

#: Top to bottom. A package may import its own layer's packages (without a cycle) and any below.
LAYERS: list[set[str]] = [
    {"_entry", "__main__"},
    {"cli"},
    {"gameday", "runbooks", "reports", "bench", "demo"},
    {"traffic", "components", "evals", "proxy"},
    {"faults", "journal", "net"},
    {"config"},
    {"errors", "home", "data", "signals", "__init__"},
]
#: The demo is a system the CLI starts: nothing else may import it.
ONLY_CLI_IMPORTS = {"demo": {"cli", "bench"}}


def package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_packages(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "drillkit":  # from drillkit import signals, errors, …
                names = [f"drillkit.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "drillkit" and len(parts) > 1 and parts[1] != "__version__":
                out.add(parts[1])
    return out


def graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the files that import it."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        src = package_of(path)
        for dst in imported_packages(path):
            if dst != src:
                edges[src][dst].append(str(path.relative_to(ROOT.parent)))
    return edges


def layer_of(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"drillkit/{package} is in no layer of tests/test_architecture.py and docs/architecture.md")


def test_every_package_has_a_layer() -> None:
    for path in ROOT.iterdir():
        if path.name.startswith(".") or path.name == "__pycache__":
            continue
        if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py":
            layer_of(package_of(path / "__init__.py") if path.is_dir() else path.stem)


def test_no_package_imports_one_above_it() -> None:
    upward = [
        f"{src} (layer {layer_of(src)}) imports {dst} (layer {layer_of(dst)}): {', '.join(files)}"
        for src, targets in graph().items()
        for dst, files in targets.items()
        if layer_of(dst) < layer_of(src)
    ]
    assert upward == []


def test_only_the_cli_starts_the_demo() -> None:
    wrong = [
        f"{src} imports {dst}: {', '.join(files)}"
        for src, targets in graph().items()
        for dst, files in targets.items()
        if dst in ONLY_CLI_IMPORTS and src not in ONLY_CLI_IMPORTS[dst]
    ]
    assert wrong == []


def test_no_cycle_between_packages() -> None:
    edges = {src: set(targets) for src, targets in graph().items()}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest member
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert cycles == []
