"""Finding runbooks: the ones shipped with drillkit (by id) and files given by path."""

from __future__ import annotations

from pathlib import Path

from drillkit.config.loader import load_model
from drillkit.config.runbook import Runbook
from drillkit.data import shipped_files
from drillkit.errors import InputError

DEFAULT_RUNBOOK = "ai-output-incident"


def load_runbook(path: Path) -> Runbook:
    """A runbook file, validated (InputError naming file:line: field on a bad one)."""
    return load_model(path, Runbook)


def shipped_runbooks() -> dict[str, tuple[Path, Runbook]]:
    """Shipped runbooks by id, with their files."""
    found = {}
    for path in shipped_files("runbooks"):
        rb = load_runbook(path)
        found[rb.id] = (path, rb)
    return found


def find_runbook(ref: str | Path) -> tuple[Path, Runbook]:
    """A runbook by shipped id or by file path."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path, load_runbook(path)
    books = shipped_runbooks()
    if str(ref) not in books:
        raise InputError(
            f"no runbook {str(ref)!r}; shipped: {', '.join(sorted(books)) or 'none'} (or give a file path)"
        )
    return books[str(ref)]


__all__ = ["DEFAULT_RUNBOOK", "find_runbook", "load_runbook", "shipped_runbooks"]
