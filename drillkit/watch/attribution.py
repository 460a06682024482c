"""Who changed an input, where git knows: the last commit touching the files a change names.

Only the prompt and the corpus live in files; their folders may sit in a git work tree. A change
that touches an uncommitted file was made by nobody git can name (`uncommitted: true`); otherwise
the newest commit among the touched files names its author and time. A version switched through a
lever, a model swapped by the provider, a tool or the traffic mix changing: git knows nothing, and
the entry says nobody rather than guessing. Git runs as an argv list (`components.prompt.git_info`).
"""

from __future__ import annotations

from typing import Any

from drillkit.components.prompt import git_info
from drillkit.config.system import System
from drillkit.journal.events import InputChanged

#: The evidence key that lists touched files, per component.
FILES_KEY = {"prompt": "files", "retrieval": "documents"}


def touched(evidence: dict[str, Any], key: str) -> list[str]:
    files = evidence.get(key) or {}
    return [*files.get("added", []), *files.get("removed", []), *(c["id"] for c in files.get("changed", []))]


def attribute(change: InputChanged, system: System) -> InputChanged:
    """`change` with `who`, `commit`, `committed_at`, `uncommitted` set where git knows (blocking:
    runs git; call it in a thread)."""
    key = FILES_KEY.get(str(change.component))
    names = touched(change.evidence, key) if key else []
    if not names:
        return change
    comp = getattr(system.components, str(change.component))
    root = system.resolve(comp.path) if comp is not None else None
    git = git_info(root) if root is not None else None
    if git is None:
        return change
    dirty = [n for n in names if n in git.get("uncommitted", [])]
    if dirty:
        change.uncommitted = True
        return change
    commits = [git["files"][n] for n in names if n in git.get("files", {})]
    if commits:
        newest = max(commits, key=lambda c: c.get("date", ""))
        change.who, change.commit, change.committed_at = newest.get("author"), newest.get("commit"), newest.get("date")
    return change


__all__ = ["attribute", "touched"]
