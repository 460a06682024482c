"""With the evals passing, a responder at the terminal is asked whether a change was meant: yes records
the live state as the new last known good (journaled), no turns the plan into reverts after all."""

from __future__ import annotations

import json
import shutil

import pexpect

from tests.runbooks.conftest import Demo
from tests.runbooks.helpers import journal_of
from tests.runbooks.test_interactive import at_step, spawn


def edit_prompt(d: Demo) -> None:
    with (d.workdir / "prompts" / "v3.md").open("a") as f:
        f.write("\nAlways answer in one short sentence.\n")


def walk_to_the_plan(child: pexpect.spawn) -> None:
    at_step(child, 1, "envelope")
    child.sendline("run")
    child.expect(r"✓ pass in [\d.]+s  pass rate")
    at_step(child, 2, "what-changed")
    child.sendline("run")
    child.expect(r"✗ fail [^\n]*? prompt: edited v3\.md")
    at_step(child, 3, "revert-order")
    child.sendline("run")
    child.expect(r"re-baseline\? prompt — edited v3\.md")
    child.expect(r"Were the changes to prompt meant \(re-baseline now\)\?")


def test_meant_rebaselines_and_not_meant_reverts(live: Demo) -> None:
    baseline = live.home / "baseline.json"
    kept = live.home.parent / "baseline.kept.json"
    shutil.copy2(baseline, kept)
    try:
        edit_prompt(live)
        before = json.loads(baseline.read_text())
        child = spawn(live)
        child.expect(r"incident (\S+)")
        incident = child.match.group(1)
        walk_to_the_plan(child)
        child.sendline("y")
        child.expect(r"✗ fail in [\d.]+s  nothing to revert: the evals hold with prompt changed; re-baselined: ")
        at_step(child, 4, "capacity")
        child.sendline("quit")
        child.expect("Keep the incident open")
        child.sendline("n")
        child.expect(pexpect.EOF)
        child.close()
        after = json.loads(baseline.read_text())
        assert after["healthy"] is True and after["taken_at"] != before["taken_at"]
        assert json.loads((live.home / "baseline.previous.json").read_text()) == before
        notes = [e.data for e in journal_of(live.home, incident) if e.kind == "note"]
        assert notes and notes[0]["step"] == "revert-order" and notes[0]["text"].startswith("re-baselined: ")

        # Against the old baseline again, the responder says the change was not meant: revert it.
        shutil.copy2(kept, baseline)
        child = spawn(live)
        walk_to_the_plan(child)
        child.sendline("n")
        child.expect(r"Revert prompt instead\?")
        child.sendline("y")
        child.expect(r"✓ pass in [\d.]+s  revert order: prompt")
        at_step(child, 4, "rollback")
        child.sendline("quit")
        child.expect("Keep the incident open")
        child.sendline("n")
        child.expect(pexpect.EOF)
        child.close()
    finally:
        shutil.copy2(kept, baseline)
