"""Who changed an input, where git knows (`drillkit.watch.attribution`): the newest commit among the
touched files, or nobody when the edit is uncommitted or git knows nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from drillkit.config.system import load_system
from drillkit.journal.events import InputChanged
from drillkit.watch.attribution import attribute

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
IDENT = ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", "-c", "commit.gpgsign=false"]
MANIFEST = "apiVersion: drillkit/v1\nkind: System\nname: shop\nservice: {url: 'http://127.0.0.1:9/a'}\n"


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *IDENT, *args], check=True, capture_output=True)


def edited(component: str, key: str, name: str) -> InputChanged:
    return InputChanged(component=component, summary=f"edited {name}",
                        evidence={key: {"added": [], "removed": [], "changed": [{"id": name}]}})  # fmt: skip


def test_the_commit_names_who_and_an_uncommitted_edit_names_nobody(tmp_path: Path) -> None:
    (tmp_path / "drillkit.yaml").write_text(MANIFEST + "components:\n  prompt: {path: prompts/}\n")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "v3.md").write_text("Answer briefly.\n")
    git(prompts, "init", "-q")
    git(prompts, "add", "-A")
    git(prompts, "commit", "-q", "-m", "v3")
    system = load_system(tmp_path / "drillkit.yaml")
    change = attribute(edited("prompt", "files", "v3.md"), system)
    assert change.who == "Ada Lovelace" and change.commit and change.committed_at and change.uncommitted is None
    assert change.data()["who"] == "Ada Lovelace"
    (prompts / "v3.md").write_text("Answer in one sentence.\n")
    change = attribute(edited("prompt", "files", "v3.md"), system)
    assert change.who is None and change.uncommitted is True


def test_git_knows_nothing_of_a_lever_or_a_folder_outside_git(tmp_path: Path) -> None:
    (tmp_path / "drillkit.yaml").write_text(MANIFEST + "components:\n  retrieval: {path: corpus/}\n")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.md").write_text("30 days\n")
    system = load_system(tmp_path / "drillkit.yaml")
    assert attribute(edited("retrieval", "documents", "a.md"), system).who is None
    lever = InputChanged(component="prompt", summary="active prompt version v2 (was v3)", evidence={"active": {}})
    assert attribute(lever, system).data() == lever.data()
