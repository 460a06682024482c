"""`drillkit triage` with no baseline at all, on the running demo: it never refuses (exit 0 or 1, not 2),
answers "what changed?" from what needs none — the served model against the pinned one, the tools'
contract tests, git history or file dates of prompts and corpus, the inputs against the eval suite's,
the last game-day's preflight fingerprints — and says how sure it is."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.components import take_snapshot
from drillkit.config.system import load_system
from drillkit.gameday.fingerprints import compact
from drillkit.journal import Journal
from drillkit.journal.events import Fingerprint, RunStarted
from tests.runbooks.conftest import Demo
from tests.runbooks.test_triage_demo import break_tool, shift_inputs

BUDGET_S = 10.0


def triage(d: Demo, home: Path) -> tuple[dict[str, Any], int, float]:
    """`drillkit triage --auto --json` on the demo's manifest, in a home with no baseline."""
    assert not (home / "baseline.json").exists()
    t0 = time.monotonic()
    r = CliRunner().invoke(
        cli,
        ["triage", "--auto", "--json", "--system", str(d.workdir / "drillkit.yaml")],
        env={"DRILLKIT_HOME": str(home)},
        catch_exceptions=False,
    )
    took = time.monotonic() - t0
    assert r.exit_code in (0, 1), r.stdout + r.stderr  # never 2: no baseline is no reason to refuse
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout), r.exit_code, took


def deployed(folder: Path, hours_ago: float) -> float:
    """Date every file of `folder` as one deploy `hours_ago` (the demo wrote them moments ago)."""
    then = time.time() - hours_ago * 3600
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))
    return then


def test_nothing_changed_is_answered_with_how_sure_each_verdict_is(tmp_path: Path, live: Demo) -> None:
    for folder in ("prompts", "corpus"):
        deployed(live.workdir / folder, hours_ago=48)  # nothing written in the last 24 h
    out, code, took = triage(live, tmp_path)
    assert out["envelope"] == "pass" and out["changed"] == [] and out["revert_order"] == []
    assert out["baseline"]["reference"] == "no-baseline" and "no baseline in" in out["baseline"]["note"]
    ev = out["evidence"]
    assert set(ev) == {"model", "prompt", "retrieval", "tools", "inputs"}
    assert {n: (e["changed"], e["basis"]) for n, e in ev.items()} == {
        "model": (False, "pinned"),
        "prompt": (False, "file dates"),
        "retrieval": (False, "file dates"),
        "tools": (False, "contracts"),
        "inputs": (False, "eval suite"),
    }
    assert ev["model"]["confidence"] == "high" and "as the pinned sim-pro-2025-06 does" in ev["model"]["summary"]
    assert ev["tools"]["confidence"] == "high" and ev["inputs"]["confidence"] == "medium"
    assert all(isinstance(e["confidence_score"], float) for e in ev.values())
    steps = {s["step"]: s for s in out["steps"]}
    assert (
        steps["what-changed"]["outcome"] == "pass" and "judged from what needs none" in steps["what-changed"]["detail"]
    )
    assert code == (0 if out["outcome"] == "resolved" else 1)
    assert took < BUDGET_S + 6  # the capacity probe sends traffic for 3 s


def test_a_silent_model_swap_is_seen_against_the_pinned_version(tmp_path: Path, live: Demo) -> None:
    live.swap_model()
    out, code, took = triage(live, tmp_path)
    assert code == 1 and out["envelope"] == "fail"
    assert out["changed"] == ["model"], out["evidence"]
    model = out["evidence"]["model"]
    assert model["confidence"] == "high" and model["basis"] == "pinned"
    assert "canaries differently from the pinned sim-pro-2025-06" in model["summary"]
    assert out["revert_order"] == ["model"] and "from pinned" in out["revert_plan"][0]
    assert took < BUDGET_S


def test_a_corpus_edit_is_dated_and_with_the_evals_passing_leads_to_rebaseline(tmp_path: Path, live: Demo) -> None:
    deployed(live.workdir / "corpus", hours_ago=1)
    doc = live.workdir / "corpus" / "returns-policy.md"
    doc.write_text(doc.read_text().replace("30 days", "14 days"))
    time.sleep(1.1)  # the service re-reads its corpus at most every second
    out, _, _ = triage(live, tmp_path)
    assert "retrieval" in out["changed"], out["evidence"]
    retrieval = out["evidence"]["retrieval"]
    assert retrieval["basis"] == "file dates" and retrieval["confidence"] == "medium"
    assert (
        retrieval["summary"].startswith("returns-policy.md written ") and "after the other 12" in retrieval["summary"]
    )
    assert out["envelope"] == "pass" and out["revert_order"] == [] and "retrieval" in out["rebaseline"]
    assert any(line.startswith("re-baseline? retrieval — ") for line in out["revert_plan"])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_prompt_folder_in_git_names_the_uncommitted_edit_and_the_last_author(tmp_path: Path, live: Demo) -> None:
    prompts = live.workdir / "prompts"
    ident = ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "prompts as deployed"]):
        subprocess.run(["git", "-C", str(prompts), *ident, *args], check=True, capture_output=True)
    with (prompts / "v3.md").open("a") as f:
        f.write("\nAlways answer in one short sentence.\n")
    out, _, _ = triage(live, tmp_path)
    prompt = out["evidence"]["prompt"]
    assert prompt["changed"] is True and prompt["basis"] == "git" and prompt["confidence"] == "high"
    assert prompt["summary"].startswith("uncommitted edits to v3.md in prompts/ (last commit ")
    assert "by Ada Lovelace" in prompt["summary"]
    assert prompt["evidence"]["git"]["last_commit"]["author"] == "Ada Lovelace"


def test_a_broken_tool_contract_and_a_shifted_input_mix_need_no_baseline(tmp_path: Path, live: Demo) -> None:
    break_tool(live)
    shift_inputs(live)
    out, code, _ = triage(live, tmp_path)
    assert {"tools", "inputs"} <= set(out["changed"]), out["evidence"]
    tools, inputs = out["evidence"]["tools"], out["evidence"]["inputs"]
    assert tools["basis"] == "contracts" and tools["confidence"] == "high" and "breaks its contract" in tools["summary"]
    assert inputs["basis"] == "eval suite" and "no longer resemble what the eval suite asks" in inputs["summary"]
    assert out["revert_order"][0] == "tools"  # a broken contract is mitigated even with the evals holding
    assert code == 1


def test_the_last_game_days_preflight_settles_what_dates_cannot(tmp_path: Path, live: Demo) -> None:
    # Every file written together moments ago (as `demo up` did): file dates alone cannot tell.
    out, _, _ = triage(live, tmp_path)
    assert {"prompt", "retrieval"} <= set(out["unknown"]), out["evidence"]
    # A game-day's preflight fingerprinted this very state (journaled compactly, as game-days do).
    system = load_system(live.workdir / "drillkit.yaml")
    snapshot = asyncio.run(take_snapshot(system))
    (tmp_path / "runs" / "20270101T000000Z-swap").mkdir(parents=True)
    with Journal(tmp_path / "runs" / "20270101T000000Z-swap" / "journal.jsonl") as journal:
        journal.record(RunStarted(run_id="20270101T000000Z-swap", system=system.name))
        journal.record(Fingerprint(at="preflight", **compact(snapshot)))
    out, _, _ = triage(live, tmp_path)
    assert out["unknown"] == [] and out["changed"] == []
    for name in ("prompt", "retrieval"):
        assert out["evidence"][name]["basis"] == "game-day"
        assert out["evidence"][name]["summary"].startswith(
            "identical to the preflight of game-day 20270101T000000Z-swap"
        )
    # A document edited since, its date kept (a copy that preserves dates): the preflight still sees it.
    doc = live.workdir / "corpus" / "shipping-times.md"
    stat = doc.stat()
    doc.write_text(doc.read_text() + "\nExpress shipping is discontinued.\n")
    os.utime(doc, (stat.st_atime, stat.st_mtime))
    out, _, _ = triage(live, tmp_path)
    assert out["changed"] == ["retrieval"]
    assert out["evidence"]["retrieval"]["summary"].startswith("differs from the preflight of game-day")
    assert out["evidence"]["retrieval"]["confidence"] == "medium"
