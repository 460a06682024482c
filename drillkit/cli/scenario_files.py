"""Finding and loading scenario files: by path, or by a shipped scenario's id."""

from __future__ import annotations

from pathlib import Path

from drillkit.config.loader import load_model
from drillkit.config.scenario import Scenario
from drillkit.data import shipped_files
from drillkit.errors import InputError


def load_scenario(path: Path) -> Scenario:
    scenario = load_model(path, Scenario)
    scenario._base_dir = Path(path).resolve().parent
    return scenario


def find_scenario(ref: str) -> Path:
    """A scenario by file path, or by the id of a shipped one."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    shipped = {p.stem: p for p in shipped_files("scenarios")}
    if ref not in shipped:
        raise InputError(f"no scenario {ref!r}: give a file, or one of {', '.join(sorted(shipped))}")
    return shipped[ref]
