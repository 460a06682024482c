"""A folder's own history, for triage without a baseline: file dates, else git (run as an argv list)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from drillkit.components.history import GAP_S, LOOKBACK_S, folder_history

HOUR = 3600.0


def corpus(root: Path, names: list[str], at: float) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_text(f"# {name}\n")
        os.utime(root / name, (at, at))
    return root


def test_a_file_written_after_the_rest_lately_is_a_change(tmp_path: Path) -> None:
    now = time.time()
    root = corpus(tmp_path / "corpus", ["a.md", "b.md", "c.md", "d.md"], now - 3 * HOUR)
    os.utime(root / "c.md", (now - 120, now - 120))
    (root / ".hidden").write_text("skipped, as the fingerprints skip it")
    diff = folder_history("retrieval", root, now=now)
    assert diff.changed is True and diff.basis == "file dates" and diff.certainty == "medium"
    assert diff.summary.startswith("c.md written 2 min ago, after the other 3 (written together 3 h ago)")
    assert list(diff.evidence["written_after"]) == ["c.md"]


def test_a_folder_written_together_lately_is_unknown_and_an_old_one_unchanged(tmp_path: Path) -> None:
    now = time.time()
    fresh = corpus(tmp_path / "fresh", ["a.md", "b.md", "c.md"], now - 30)
    os.utime(fresh / "b.md", (now - 30 + GAP_S / 2, now - 30 + GAP_S / 2))  # one copy takes a moment
    diff = folder_history("retrieval", fresh, now=now)
    assert diff.changed is None and "all 3 files in fresh/ were written together 29 s ago (a deploy" in diff.summary
    old = corpus(tmp_path / "old", ["a.md", "b.md"], now - LOOKBACK_S - HOUR)
    diff = folder_history("prompt", old, now=now)
    assert (
        diff.changed is False
        and diff.certainty == "medium"
        and "no file in old/ written in the last 24 h" in diff.summary
    )
    assert folder_history("prompt", tmp_path / "missing", now=now).changed is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_in_a_git_repository_uncommitted_edits_and_recent_commits_are_changes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    prompts = corpus(repo / "prompts", ["v1.md", "v2.md"], time.time())
    (repo / "README.md").write_text("not a prompt\n")

    def git(*args: str, when: str | None = None) -> None:
        env = {**os.environ, **({"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {})}
        ident = ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", "-c", "commit.gpgsign=false"]
        subprocess.run(["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, env=env)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "prompts", when="2020-01-02T03:04:05+00:00")
    diff = folder_history("prompt", prompts)
    assert diff.changed is False and diff.basis == "git"
    assert "no commit to prompts/ in the last 24 h" in diff.summary and "by Ada Lovelace" in diff.summary

    (prompts / "v2.md").write_text("# v2\nAlways answer in one word.\n")
    (repo / "README.md").write_text("edited, but not under prompts/\n")
    diff = folder_history("prompt", prompts)
    assert diff.changed is True and diff.certainty == "high"
    assert diff.summary.startswith("uncommitted edits to v2.md in prompts/ (last commit ")
    assert diff.evidence["git"]["uncommitted"] == ["v2.md"]

    git("commit", "-q", "-am", "terser v2")
    diff = folder_history("prompt", prompts)
    assert diff.changed is True and diff.certainty == "medium"
    assert "last commit to prompts/" in diff.summary and "by Ada Lovelace" in diff.summary
    assert diff.evidence["git"]["last_commit"]["path"] == "v2.md"
