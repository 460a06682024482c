"""Shipped data (runbooks, scenarios, templates): found in a built wheel and in a clone alike.

A wheel carries them as `drillkit/_data/<kind>/`; an editable install or a plain clone reads the
top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("runbooks", "scenarios", "templates", "gamedays")
_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(kind: str) -> Path:
    """The folder of shipped `kind` files; FileNotFoundError if neither layout has it."""
    if kind not in KINDS:
        raise ValueError(f"unknown shipped data kind {kind!r}")
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped {kind} not found (looked in {_PACKAGE / '_data'} and {_PACKAGE.parent})")


def shipped_files(kind: str, pattern: str = "*.yaml") -> list[Path]:
    return sorted(shipped_dir(kind).glob(pattern))
