"""The prompt fingerprint: a hash per prompt file, the active version, and who last committed each file.

Files under `components.prompt.path` (a folder or one file) are hashed. Where they sit in a git
repository, the last commit touching each file (hash, author, date) and whether it has
uncommitted edits are recorded, so the diff can say who changed a prompt — or that nobody
committed the change. The `active` probe reads which version the running service renders.

Scoring: switching the active version or editing the active file changes behaviour for every
request (score 1); editing another version's file changes nothing served until it is activated
(score 0.3) but is still a change.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx

from drillkit.components.common import (
    active_change,
    active_unknown,
    compare_manifests,
    file_manifest,
    probe_active,
    unchanged,
)
from drillkit.components.types import ComponentDiff
from drillkit.config.system import System

GIT_TIMEOUT_S = 5.0


async def fingerprint(system: System, client: httpx.AsyncClient) -> dict[str, Any]:
    comp = system.components.prompt
    assert comp is not None
    root = system.resolve(comp.path)
    assert root is not None
    files, git = await asyncio.gather(asyncio.to_thread(file_manifest, root), asyncio.to_thread(git_info, root))
    data: dict[str, Any] = {"path": str(root), "files": files, "git": git}
    data |= await probe_active(client, comp.active)
    return data


def git_info(root: Path) -> dict[str, Any] | None:
    """Last commit per file and uncommitted paths, when `root` is inside a git work tree; else None."""
    folder = root if root.is_dir() else root.parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    spec = root.name if root.is_file() else "."
    # One `git log` for the whole folder: newest first, so the first sighting of a path wins.
    log = _git(folder, "log", "--format=%x1e%H%x1f%an%x1f%aI", "--name-only", "--relative", "--", spec) or ""
    last: dict[str, dict[str, str]] = {}
    for record in log.split("\x1e")[1:]:
        head, _, names = record.partition("\n")
        commit, author, date = [*head.split("\x1f"), "", "", ""][:3]
        for name in filter(None, (n.strip() for n in names.splitlines())):
            last.setdefault(name, {"commit": commit, "author": author, "date": date})
    # Porcelain paths are relative to the repository root: make them relative to `folder`.
    prefix = (_git(folder, "rev-parse", "--show-prefix") or "").strip()
    status = _git(folder, "status", "--porcelain", "--untracked-files=all", "--", spec) or ""
    paths = (line[3:].strip().strip('"') for line in status.splitlines() if len(line) > 3)
    dirty = sorted(p.removeprefix(prefix) for p in paths)
    return {"repo": top.strip(), "files": last, "uncommitted": dirty}


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def compare(base: dict[str, Any], live: dict[str, Any], system: System) -> ComponentDiff:
    files = compare_manifests(base.get("files", {}), live.get("files", {}))
    moved = active_change(base, live)
    active = str(live.get("active", ""))
    evidence: dict[str, Any] = {"files": files}
    lines, score = [], 0.0
    if moved is not None:
        evidence["active"] = moved
        lines.append(f"active prompt version {moved['now']} (was {moved['was']})")
        score = 1.0
    touched = [*files["added"], *files["removed"], *(c["id"] for c in files["changed"])]
    if touched:
        git = live.get("git") or {}
        for c in files["changed"]:
            c["git"] = git.get("files", {}).get(c["id"])
            c["uncommitted"] = c["id"] in git.get("uncommitted", [])
        hits_active = bool(active) and any(Path(t).stem == active for t in touched)
        what = ", ".join(
            [f"edited {c['id']}" for c in files["changed"]]
            + [f"added {a}" for a in files["added"]]
            + [f"removed {r}" for r in files["removed"]]
        )
        lines.append(what + (" (the active version)" if hits_active else ""))
        score = max(score, 1.0 if hits_active or not active else 0.3)
    if not lines:
        n = len(live.get("files", {}))
        return active_unknown(
            unchanged("prompt", f"{n} prompt file(s) unchanged" + (f", {active} active" if active else ""), evidence),
            base,
            live,
        )
    return ComponentDiff(
        component="prompt", changed=True, summary="; ".join(lines), evidence=evidence, confidence=1.0, score=score
    )


def problems(data: dict[str, Any]) -> list[str]:
    return [data["active_error"]] if "active_error" in data else []
