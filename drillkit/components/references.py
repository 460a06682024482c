"""Every file a system manifest names, read and checked (`drillkit system validate`).

`validate_system(path)` returns the `System` when the manifest and every file it references are
sound; otherwise one `InputError` lists each problem on its own line:

- a reference that is missing or of the wrong kind, at the manifest's line:
  `drillkit.yaml:14:15: components.tools.contracts: tools.yaml does not exist (looked for /abs/tools.yaml)`
- a referenced file that is empty, binary or invalid, at that file's own line (the same messages
  the commands that read it would give).

What is read: `evals` (an EvalSuite), `components.model.canaries` (Canaries),
`components.tools.contracts` (ToolContracts), `components.inputs.sample` (JSON lines),
`components.prompt.path` (a prompt file, or a folder whose files are each non-empty UTF-8 text) and
`components.retrieval.path` (a file, or a folder holding at least one document; documents may be
any format, so only empty ones are reported). Hidden files are skipped, as the fingerprints do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from drillkit.config.components import Canaries, ToolContracts
from drillkit.config.loader import Loc, format_loc, load_model
from drillkit.config.safe_yaml import read_text_file
from drillkit.config.system import System, load_system_and_source
from drillkit.errors import InputError

#: Files looked at under one prompt or corpus folder; a folder named by mistake (`/`) is not walked
#: to its end.
MAX_FILES = 1000

Check = Callable[[Path], list[str]]


def validate_system(path: Path | str) -> System:
    """Load the manifest at `path` and check every file it references (see module doc)."""
    path = Path(path)
    system, source = load_system_and_source(path)
    problems: list[str] = []
    for loc, value, check in references(system):
        target = system.resolve(value)
        assert target is not None
        line, col = source.position(loc)
        where = f"{path}:{line}:{col}: {format_loc(loc)}"
        if not target.exists():
            problems.append(f"{where}: {value} does not exist (looked for {target})")
            continue
        try:
            problems += check(target)
        except InputError as exc:
            problems += str(exc).splitlines()
    if problems:
        raise InputError("\n".join(problems))
    return system


def references(system: System) -> list[tuple[Loc, str, Check]]:
    """`(field, path as written, check)` for each file or folder the manifest names."""
    c = system.components
    refs: list[tuple[Loc, str, Check]] = []
    if system.evals is not None:
        refs.append((("evals",), system.evals, _suite))
    if c.model is not None and c.model.canaries is not None:
        refs.append((("components", "model", "canaries"), c.model.canaries, _yaml(Canaries)))
    if c.prompt is not None:
        refs.append((("components", "prompt", "path"), c.prompt.path, _prompts))
    if c.retrieval is not None:
        refs.append((("components", "retrieval", "path"), c.retrieval.path, _corpus))
    if c.tools is not None:
        refs.append((("components", "tools", "contracts"), c.tools.contracts, _yaml(ToolContracts)))
    if c.inputs is not None:
        refs.append((("components", "inputs", "sample"), c.inputs.sample, _inputs))
    return refs


def _yaml(model: type[Canaries] | type[ToolContracts]) -> Check:
    def check(path: Path) -> list[str]:
        load_model(path, model)
        return []

    return check


def _suite(path: Path) -> list[str]:
    from drillkit.evals.suite import load_suite  # evals builds on config, not the other way round

    load_suite(path)
    return []


def _inputs(path: Path) -> list[str]:
    from drillkit.traffic.inputs import load_inputs

    load_inputs(path)
    return []


def _prompts(root: Path) -> list[str]:
    files = list(_files(root))
    if not files:
        return [f"{root}: holds no prompt files"]
    problems = []
    for file in files:
        try:
            text = read_text_file(file, what="prompt file")
        except InputError as exc:
            problems.append(str(exc))
            continue
        if not text.strip():
            problems.append(f"{file}:1:1: the prompt file is empty")
    return problems


def _corpus(root: Path) -> list[str]:
    problems = []
    found = False
    for file in _files(root):
        found = True
        try:
            empty = file.stat().st_size == 0
        except OSError as exc:
            problems.append(f"{file}: cannot read ({exc.strerror})")
            continue
        if empty:
            problems.append(f"{file}: the corpus document is empty")
    if not found:
        problems.append(f"{root}: holds no corpus documents")
    return problems


def _files(root: Path) -> Iterator[Path]:
    """`root` itself if it is a file, else the regular non-hidden files under it (at most MAX_FILES)."""
    if not root.is_dir():
        yield root
        return
    seen = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if name.startswith(".") or not path.is_file():
                continue
            seen += 1
            if seen > MAX_FILES:
                return
            yield path
