"""`drillkit triage` driven through a real pseudo-terminal: the layered walk with a confirmed, timed
rollback; notes, skip and back; quitting and resuming."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect

from drillkit.journal import verify_chain
from tests.runbooks.conftest import REPO, Demo
from tests.runbooks.helpers import journal_of, write_runbook, write_system

MENU = r"quit \(resume later\)"
# pexpect compiles patterns with re.DOTALL: a bare `.*` may run past the line it was meant for
# (and swallow the next step's header when both arrive in one read), so patterns use [^\n]*?.


def spawn(d: Demo | dict[str, str], *args: str) -> pexpect.spawn:
    env = {**(d.env if isinstance(d, Demo) else d), "NO_COLOR": "1", "COLUMNS": "160", "TERM": "dumb"}
    child = pexpect.spawn(
        sys.executable, ["-m", "drillkit", "triage", *args], env=env, encoding="utf-8", timeout=30, dimensions=(50, 160)
    )
    child.logfile_read = sys.stdout  # shown by pytest on failure
    return child


def at_step(child: pexpect.spawn, n: int, step: str) -> None:
    child.expect(rf"step {n} · {step} ·")
    child.expect(MENU)


def incident_of(d: Demo, child_output: str) -> str:
    return child_output.split("incident ", 1)[1].split()[0]


def test_layered_walk_with_a_confirmed_rollback(live: Demo) -> None:
    live.swap_model()
    child = spawn(live)
    child.expect(r"incident (\S+)")
    incident = child.match.group(1)
    child.expect(r"step 1 · envelope · eval · \d{4}-\d\d-\d\dT")  # every step is timestamped
    child.expect("Runs the evaluation suite")  # the guidance, rendered from Markdown
    child.expect(MENU)
    child.sendline("note")
    child.expect("note")
    child.sendline("support says answers lost their citations")
    child.expect(MENU)
    child.sendline("")  # run (the default)
    child.expect(r"✗ fail in [\d.]+s  pass rate")
    at_step(child, 2, "hold")
    child.sendline("run")
    child.expect(r"✓ pass [^\n]*? held ")
    at_step(child, 3, "what-changed")
    child.sendline("run")
    child.expect(r"✗ fail [^\n]*? model: ")
    at_step(child, 4, "revert-order")
    child.sendline("run")
    child.expect(r"1\. model — ")
    child.expect(r"Follow this order\?")
    child.sendline("y")
    child.expect("revert order: model")
    at_step(child, 5, "rollback")
    child.sendline("run")
    child.expect(r"Roll back model now: drillkit demo ctl pin sim-pro-2025-06 [^\n]*?user-visible cost low")
    child.sendline("y")
    child.expect(r"✓ pass in [\d.]+s  model: [^\n]*? → ok in [\d.]+s")
    at_step(child, 6, "confirm")
    child.sendline("run")
    child.expect(r"✓ pass in [\d.]+s  pass rate")
    child.expect("outcome resolved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    entries = journal_of(live.home, incident)
    kinds = [e.kind for e in entries]
    assert kinds.index("evidence.hold") < kinds.index("rollback.started") < kinds.index("rollback.finished")
    note = next(e.data for e in entries if e.kind == "note")
    assert note == {"step": "envelope", "text": "support says answers lost their citations"}
    done = next(e.data for e in entries if e.kind == "rollback.finished")
    assert done["component"] == "model" and done["ok"] is True
    assert done["expected_s"] == 5 and done["user_visible_cost"] == "low" and 0 < done["duration_s"] < 30
    started = entries[0].data
    assert started["mode"] == "interactive"
    assert entries[-1].data["outcome"] == "resolved"
    summary = json.loads((live.home / "incidents" / incident / "summary.json").read_text())
    assert summary["revert_order"] == ["model"] and summary["rolled_back"][0]["ok"] is True
    assert [s["step"] for s in summary["steps"]] == [
        "envelope",
        "hold",
        "what-changed",
        "revert-order",
        "rollback",
        "confirm",
    ]
    assert all(s["started_at"].endswith("Z") for s in summary["steps"])
    assert verify_chain(live.home / "incidents" / incident / "journal.jsonl") == []
    # The rollback really happened: the service pins the previous weights while the swap fault stays.
    assert "sim-pro-2025-06" in live.ok("demo", "status").stdout


def test_skip_back_quit_then_resume(live: Demo) -> None:
    child = spawn(live)
    child.expect(r"incident (\S+)")
    incident = child.match.group(1)
    at_step(child, 1, "envelope")
    child.sendline("skip")
    child.expect("– skipped")
    at_step(child, 2, "what-changed")  # a skipped step follows its default branch
    child.sendline("back")
    at_step(child, 3, "envelope")
    child.sendline("run")
    child.expect(r"✓ pass")
    at_step(child, 4, "what-changed")
    child.sendline("quit")
    child.expect(r"Keep the incident open")
    child.sendline("y")
    child.expect("paused; resume with")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    summary = json.loads((live.home / "incidents" / incident / "summary.json").read_text())
    assert summary["finished_at"] is None and summary["outcome"] == "open"

    child = spawn(live, "--resume", incident)
    child.expect(rf"resuming {incident}")
    at_step(child, 3, "what-changed")  # numbered after the two steps recorded before the pause
    child.sendline("run")
    child.expect(r"✓ pass [^\n]*? nothing changed")
    at_step(child, 4, "capacity")
    child.sendline("run")
    child.expect(r"✓ pass [^\n]*? every judged SLO met", timeout=40)
    child.expect("outcome resolved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    entries = journal_of(live.home, incident)
    kinds = [e.kind for e in entries]
    assert kinds.count("incident.started") == 1 and kinds.count("incident.resumed") == 1
    assert kinds.count("incident.finished") == 1
    assert "step.skipped" in kinds and "step.back" in kinds
    resumed = next(e.data for e in entries if e.kind == "incident.resumed")
    assert resumed["step"] == "what-changed"
    assert verify_chain(live.home / "incidents" / incident / "journal.jsonl") == []
    assert entries[-1].kind == "incident.finished" and entries[-1].data["outcome"] == "resolved"


def test_provider_outage_shifts_traffic_after_confirmation(live: Demo) -> None:
    # The primary provider answers 1.5 s late: latency breaches; the fallback route carries the load.
    live.ok("chaos", "inject", "provider:primary", "latency", "--set", "latency=1500")
    child = spawn(live, "--runbook", "provider-outage")
    child.expect(r"incident (\S+)")
    incident = child.match.group(1)
    at_step(child, 1, "slo")
    child.sendline("run")
    child.expect(r"✗ fail [^\n]*? breached: latency_p95_ms")
    at_step(child, 2, "shift")
    child.sendline("run")
    child.expect(r"Roll back provider now: drillkit demo ctl route fallback")
    child.sendline("y")
    child.expect(r"✓ pass [^\n]*? provider: [^\n]*? → ok")
    at_step(child, 3, "carries")
    child.sendline("run")
    child.expect(r"✓ pass [^\n]*? every judged SLO met")
    at_step(child, 4, "quality")
    child.sendline("run")
    child.expect(r"✓ pass [^\n]*? pass rate")
    child.expect("outcome resolved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    entries = journal_of(live.home, incident)
    done = next(e.data for e in entries if e.kind == "rollback.finished")
    assert done["component"] == "provider" and done["ok"] is True
    probes = [e.data["result"] for e in entries if e.kind == "step.finished" and e.data["type"] == "slo"]
    assert probes[0]["breached"] and not probes[1]["breached"]
    assert probes[1]["by_provider"].get("fallback", 0) > 0


def test_ctrl_c_leaves_the_incident_resumable(live: Demo) -> None:
    child = spawn(live)
    child.expect(r"incident (\S+)")
    incident = child.match.group(1)
    at_step(child, 1, "envelope")
    child.sendintr()
    child.expect(rf"interrupted; the incident stays open: drillkit triage --resume {incident}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    kinds = [e.kind for e in journal_of(live.home, incident)]
    assert kinds == ["incident.started"]
    summary = json.loads((live.home / "incidents" / incident / "summary.json").read_text())
    assert summary["outcome"] == "open" and summary["finished_at"] is None


def test_an_answer_routes_but_does_not_resolve(tmp_path: Path) -> None:
    # quota-exhaustion's shape: a failing measurement, then "is it the quota?" -> "no" -> end.
    # The SLO still failed, so the incident is open, not resolved because someone answered.
    steps = [
        {"id": "errors", "title": "errors", "check": {"type": "command", "run": [sys.executable, "-c", "exit(1)"]}},
        {"id": "quota", "title": "quota?", "check": {"type": "ask", "choices": ["yes", "no"]}, "next": {"no": "end"}},
        {"id": "fix", "title": "fix", "check": {"type": "command", "run": [sys.executable, "-c", "pass"]}},
    ]
    rb, system, home = write_runbook(tmp_path, steps), write_system(tmp_path), tmp_path / "home"
    env = {**os.environ, "DRILLKIT_HOME": str(home), "PYTHONPATH": str(REPO)}
    child = spawn(env, "--runbook", str(rb), "--system", str(system))
    child.expect(r"incident (\S+)")
    incident = child.match.group(1)
    at_step(child, 1, "errors")
    child.sendline("run")
    child.expect("✗ fail")
    at_step(child, 2, "quota")
    child.sendline("run")
    child.expect(r"\[yes/no/skip\]")
    child.sendline("no")
    child.expect("outcome open")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    summary = json.loads((home / "incidents" / incident / "summary.json").read_text())
    assert summary["outcome"] == "open" and [s["outcome"] for s in summary["steps"]] == ["fail", "no"]
