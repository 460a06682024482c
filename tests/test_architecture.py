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
    {"gameday", "runbooks", "reports", "bench", "demo", "watch"},
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
    assert _cycles({src: set(targets) for src, targets in graph().items()}) == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest member
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return cycles


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The drillkit modules a file imports (`from drillkit.x import y` counts `drillkit.x.y` when
    y is a module), at any depth, `TYPE_CHECKING` blocks included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in known:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs or {node.module}
    return out


def test_no_cycle_between_modules_of_a_package() -> None:
    """Inside a package too: a module cycle (often through the package's __init__) makes import
    order matter and hides which module is the foundation."""
    files = {module_of(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    found = []
    for package in sorted({m.split(".")[1] for m in known if m.count(".") >= 1}):
        prefix = f"drillkit.{package}"
        members = {m for m in known if m == prefix or m.startswith(prefix + ".")}
        edges = {m: {d for d in imported_modules(files[m], known) if d in members and d != m} for m in members}
        found += _cycles(edges)
    assert found == []


#: Functions that are one table (routes), exempt from the length rule.
ROUTE_TABLES = {"create_toxiproxy_app", "create_admin_app"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_stay_small() -> None:
    """docs/architecture.md: no module over ~400 lines, no function over ~60 (route tables aside)."""
    big = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT.parent)
        if text.count("\n") > MAX_MODULE_LINES:
            big.append(f"{rel}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in ROUTE_TABLES:
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    big.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert big == []
