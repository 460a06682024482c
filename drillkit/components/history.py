"""What a prompt or corpus folder's own history says changed lately, for triage without a baseline.

With no last known good to compare against, the files themselves still tell when they changed:

- **git** (the folder is in a git work tree with at least one tracked file): uncommitted edits
  are a change nobody committed (`changed`, high confidence); a commit touching the folder in the
  last `LOOKBACK_S` is a recent change (medium: committed is not always deployed); otherwise the
  folder is unchanged lately (medium: a version switched through a lever leaves no commit). The
  last commit's hash, author and time are the evidence. Git runs as an argv list, never a shell
  (`drillkit.components.prompt.git_info`).
- **file dates** otherwise. Files are grouped by modification time (a gap of more than
  `GAP_S` starts a new group: one copy or deploy writes its files together); the largest group is
  the folder as deployed. Files written after it within `LOOKBACK_S` changed (medium); a recent
  deploy of only part of the folder is a change (low); a whole folder written together lately is
  *unknown* — a fresh deploy or copy, which cannot say what changed. Nothing written within
  `LOOKBACK_S`: unchanged (medium: a copy that keeps dates, or an index rebuilt elsewhere, leaves
  no trace).
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit.components.common import unknown
from drillkit.components.prompt import git_info
from drillkit.components.types import Component, ComponentDiff

#: How far back a change counts as "lately" when there is no baseline (and no newer reference).
LOOKBACK_S = 24 * 3600.0
#: Files written less than this apart belong to one write (a copy, a deploy, a checkout).
GAP_S = 2.0


def folder_history(component: Component, root: Path, now: float | None = None) -> ComponentDiff:
    """The recent history of `root` (a folder or one file) as a verdict on `component`."""
    now = time.time() if now is None else now
    git = git_info(root)
    if git is not None and git.get("files"):
        return _from_git(component, root, git, now)
    return _from_dates(component, root, now)


def _from_git(component: Component, root: Path, git: dict[str, Any], now: float) -> ComponentDiff:
    where = _name(root)
    commits = sorted(git["files"].items(), key=lambda kv: kv[1].get("date", ""), reverse=True)
    path, last = commits[0]
    when = _parse(last.get("date", ""))
    age = now - when if when is not None else None
    said = f"{last.get('commit', '')[:10]} by {last.get('author') or '?'}"
    said += f", {ago(age)}" if age is not None else ""
    evidence: dict[str, Any] = {
        "git": {"repo": git.get("repo"), "last_commit": {**last, "path": path}, "uncommitted": git.get("uncommitted")}
    }
    dirty = [p for p in git.get("uncommitted", []) if not any(part.startswith(".") for part in Path(p).parts)]
    if dirty:
        summary = f"uncommitted edits to {_few(dirty)} in {where} (last commit {said})"
        return _verdict(component, True, summary, evidence, confidence=0.8, score=1.0, basis="git")
    if age is not None and age <= LOOKBACK_S:
        summary = f"last commit to {where} {said} ({path})"
        return _verdict(component, True, summary, evidence, confidence=0.6, score=0.6, basis="git")
    summary = f"no commit to {where} in the last {ago(LOOKBACK_S, suffix='')} (last: {said})"
    return _verdict(component, False, summary, evidence, confidence=0.6, score=0.0, basis="git")


def _from_dates(component: Component, root: Path, now: float) -> ComponentDiff:
    stamps = _mtimes(root)
    if not stamps:
        return unknown(component, f"no files in {root} to date")
    groups = _groups(stamps)
    bulk = max(groups, key=len)  # ties: the earliest (max keeps the first)
    bulk_end = max(stamps[f] for f in bulk)
    after = sorted((f for f in stamps if stamps[f] > bulk_end + GAP_S and now - stamps[f] <= LOOKBACK_S),
                   key=lambda f: stamps[f], reverse=True)  # fmt: skip
    evidence: dict[str, Any] = {
        "files": len(stamps),
        "bulk": {"files": len(bulk), "written_at": _iso(bulk_end)},
        "written_after": {f: _iso(stamps[f]) for f in after},
    }
    if after:
        newest = stamps[after[0]]
        summary = (f"{_few(after)} written {ago(now - newest)}, after the other {len(stamps) - len(after)} "
                   f"(written together {ago(now - bulk_end)})")  # fmt: skip
        share = len(after) / len(stamps)
        return _verdict(component, True, summary, evidence, confidence=0.6, score=0.5 + share / 2, basis="file dates")
    if now - bulk_end <= LOOKBACK_S:
        if len(bulk) == len(stamps) and len(stamps) > 1:
            return _together(component, root, len(stamps), now - bulk_end, evidence)
        what = "written" if len(stamps) == 1 else f"{len(bulk)} of {len(stamps)} files written together"
        summary = f"{_name(root)}: {what} {ago(now - bulk_end)}"
        return _verdict(component, True, summary, evidence, confidence=0.4, score=0.5, basis="file dates")
    newest_file = max(stamps, key=lambda f: stamps[f])
    summary = (f"no file in {_name(root)} written in the last {ago(LOOKBACK_S, suffix='')} "
               f"(newest: {newest_file}, {ago(now - stamps[newest_file])})")  # fmt: skip
    evidence["newest"] = {newest_file: _iso(stamps[newest_file])}
    return _verdict(component, False, summary, evidence, confidence=0.5, score=0.0, basis="file dates")


def _together(component: Component, root: Path, n: int, age: float, evidence: dict[str, Any]) -> ComponentDiff:
    reason = (f"all {n} files in {_name(root)} were written together {ago(age)} (a deploy or a copy): "
              "which of them changed cannot be told without a baseline")  # fmt: skip
    diff = unknown(component, reason)
    diff.evidence, diff.basis = evidence, "file dates"
    return diff


def _verdict(
    component: Component,
    changed: bool,
    summary: str,
    evidence: dict[str, Any],
    *,
    confidence: float,
    score: float,
    basis: str,
) -> ComponentDiff:
    return ComponentDiff(
        component=component,
        changed=changed,
        summary=summary,
        evidence=evidence,
        confidence=confidence,
        score=round(min(1.0, score), 3),
        basis=basis,
    )


def _mtimes(root: Path) -> dict[str, float]:
    """`{relative path: mtime}` of the files the fingerprints hash (dotfiles skipped)."""
    if root.is_file():
        return {root.name: root.stat().st_mtime}
    if not root.is_dir():
        return {}
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = path.stat().st_mtime
    return out


def _groups(stamps: dict[str, float]) -> list[list[str]]:
    """Files split where consecutive modification times are more than GAP_S apart, oldest first."""
    ordered = sorted(stamps, key=lambda f: stamps[f])
    groups = [[ordered[0]]]
    for prev, name in itertools.pairwise(ordered):
        if stamps[name] - stamps[prev] > GAP_S:
            groups.append([])
        groups[-1].append(name)
    return groups


def ago(seconds: float, suffix: str = " ago") -> str:
    """`45 s ago`, `12 min ago`, `3.5 h ago`, `12 days ago` (suffix '' for a span: `24 h`)."""
    s = max(0.0, seconds)
    if s < 90:
        text = f"{s:.0f} s"
    elif s < 90 * 60:
        text = f"{s / 60:.0f} min"
    elif s < 48 * 3600:
        text = f"{s / 3600:.1f} h".replace(".0 h", " h")
    else:
        text = f"{s / 86400:.0f} days"
    return text + suffix


def _few(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _name(root: Path) -> str:
    return root.name + ("/" if root.is_dir() else "")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


__all__ = ["GAP_S", "LOOKBACK_S", "ago", "folder_history"]
