"""The interpreter's session: loop guard, redaction, the ledger, and resuming after a real crash."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drillkit.journal import verify_chain
from drillkit.journal.ledger import read_ledger
from drillkit.runbooks import MAX_STEPS
from tests.runbooks.helpers import journal_of, triage, triage_json, write_runbook, write_system
from tests.runbooks.servers import probe_server

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def test_a_looping_runbook_stops_after_max_steps(tmp_path: Path) -> None:
    with probe_server() as (url, seen):
        rb = write_runbook(
            tmp_path,
            [
                {
                    "id": "again",
                    "title": "again",
                    "check": {"type": "http", "url": url + "/status/200"},
                    "next": {"default": "again"},
                }
            ],
        )
        out = triage_json(tmp_path / "home", "--runbook", str(rb), "--system", str(write_system(tmp_path)), exit_code=1)
    assert len(out["steps"]) == MAX_STEPS == len(seen)
    assert out["outcome"] == "open"
    assert out["notes"][0]["text"] == f"stopped after {MAX_STEPS} steps: the runbook loops"


def test_records_are_redacted_and_a_finished_incident_enters_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DRILLKIT_OPERATOR", "Sam Responder")  # a person, not the OS user ("root")
    with probe_server() as (url, _):
        rb = write_runbook(
            tmp_path, [{"id": "up", "title": "up", "check": {"type": "http", "url": url + "/status/200"}}]
        )
        r = triage(
            home,
            "--auto",
            "--json",
            "--runbook",
            str(rb),
            "--system",
            str(write_system(tmp_path)),
            "--title",
            "paged by jane.doe@example.com",
        )
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert "jane.doe" not in r.stdout and out["title"].startswith("paged by <email:")
    incident = home / "incidents" / out["incident_id"]
    assert "jane.doe" not in (incident / "journal.jsonl").read_text()
    started = journal_of(home, out["incident_id"])[0]
    assert started.kind == "incident.started" and started.data["redaction"]["version"].startswith("drillkit-redact/")
    assert started.data["mode"] == "auto" and started.data["runbook"] == "probe-test"
    assert started.data["operator"] == out["operator"] == "Sam Responder"
    # summary.json is what --json printed; the ledger holds the incident, bound to the journal's head.
    assert json.loads((incident / "summary.json").read_text()) == out
    entries = [e for e in read_ledger(home) if e.id == out["incident_id"]]
    assert len(entries) == 1 and entries[0].kind == "incident" and entries[0].journal_head == out["journal_head"]
    assert entries[0].operator == "Sam Responder"


def test_resume_after_sigkill_reruns_the_interrupted_step_once(tmp_path: Path) -> None:
    home, marker = tmp_path / "home", tmp_path / "marker"
    # The first time, the step records its pid and hangs (the crash comes then); the second time it passes.
    hang = (
        f"import os, pathlib, sys, time\nm = pathlib.Path({str(marker)!r})\n"
        "if m.exists(): sys.exit(0)\nm.write_text(str(os.getpid()))\ntime.sleep(60)\n"
    )
    rb = write_runbook(
        tmp_path,
        [
            {"id": "first", "title": "first", "check": {"type": "command", "run": [PY, "-c", "pass"]}},
            {"id": "hangs", "title": "hangs once", "check": {"type": "command", "run": [PY, "-c", hang]}},
            {"id": "last", "title": "last", "check": {"type": "command", "run": [PY, "-c", "pass"]}},
        ],
    )
    system = write_system(tmp_path)
    env = {**os.environ, "DRILLKIT_HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [PY, "-m", "drillkit", "triage", "--auto", "--runbook", str(rb), "--system", str(system)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the hanging step never started"
        proc.kill()  # SIGKILL: no cleanup, no summary, no incident.finished
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if marker.exists() and marker.read_text():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(marker.read_text()), signal.SIGKILL)
    (incident,) = (home / "incidents").iterdir()
    journal = incident / "journal.jsonl"
    with journal.open("ab") as f:  # and the crash came mid-write: half a line at the end
        f.write(b'{"seq": 99, "kind": "step.fin')
    before = [e.kind for e in journal_of(home, incident.name)]
    assert before[-1] == "step.started" and "incident.finished" not in before

    out = triage_json(home, "--resume", incident.name, exit_code=0)
    entries = journal_of(home, incident.name)
    kinds = [e.kind for e in entries]
    assert "journal.repaired" in kinds
    resumed = next(e for e in entries if e.kind == "incident.resumed")
    assert resumed.data["step"] == "hangs"
    assert [s["step"] for s in out["steps"]] == ["first", "hangs", "last"]
    assert [e.data["step"] for e in entries if e.kind == "step.finished"] == ["first", "hangs", "last"]
    assert out["outcome"] == "resolved" and out["finished_at"] is not None
    assert verify_chain(journal) == []

    # A finished incident cannot be resumed: exit 2, one line.
    r = triage(home, "--resume", incident.name, "--auto")
    assert r.exit_code == 2 and "already finished" in r.stderr
    r = triage(home, "--resume", "20260101T000000Z-nope-0000", "--auto")
    assert r.exit_code == 2 and f"incidents here: {incident.name}" in r.stderr


def test_interactive_needs_a_terminal(tmp_path: Path) -> None:
    r = triage(tmp_path, "--system", str(write_system(tmp_path)))
    assert r.exit_code == 2 and "use --auto" in r.stderr


def test_no_usable_baseline_is_no_reason_to_refuse(tmp_path: Path) -> None:
    """A live incident is when triage is needed most: without a usable baseline it still runs, and
    its diff says what it stood on (here a manifest with no components: nothing to compare)."""
    home, system = tmp_path / "home", write_system(tmp_path)
    baselines = {
        "no baseline in": None,
        "is the baseline of 'other', not 'probe-test'": json.dumps(
            {"format": 1, "taken_at": "2026-11-28T10:00:00.000Z", "system": "other", "drillkit_version": "0"}
        ),
        "the baseline is unreadable": '{"broken',
    }
    for why, content in baselines.items():
        if content is not None:
            (home / "baseline.json").write_text(content)
        r = triage(home, "--auto", "--json", "--system", str(system))
        assert r.exit_code in (0, 1), r.stderr
        assert "Traceback" not in r.stderr
        out = json.loads(r.stdout)
        assert out["changed"] == [] and out["baseline"]["reference"] == "no-baseline"
        assert why in out["baseline"]["note"]
        diff = next(s for s in out["steps"] if s["step"] == "what-changed")
        assert diff["outcome"] == "error" and "fingerprints no component" in diff["detail"]
    assert len(list((home / "incidents").iterdir())) == 3


def test_a_ledger_that_refuses_does_not_swallow_the_result(tmp_path: Path) -> None:
    home, system = tmp_path / "home", write_system(tmp_path)
    rb = write_runbook(tmp_path, [{"id": "ok", "title": "ok", "check": {"type": "command", "run": [PY, "-c", "pass"]}}])
    first = triage_json(home, "--runbook", str(rb), "--system", str(system), exit_code=0)
    ledger = home / "ledger.jsonl"
    ledger.write_text(ledger.read_text().replace('"incident"', '"incidenx"'))  # edited: nothing more is signed
    r = triage(home, "--auto", "--json", "--runbook", str(rb), "--system", str(system))
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["outcome"] == "resolved" and out["incident_id"] != first["incident_id"]
    assert "is not in the evidence ledger" in r.stderr and f"drillkit evidence record {home}" in r.stderr


def test_resume_takes_an_incident_id_not_a_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    other = home / "runs" / "r1" / "journal.jsonl"
    other.parent.mkdir(parents=True)
    other.write_bytes(b'{"seq": 0, "kind": "run.sta')  # a half line a crash-repair would cut
    for ref in ("../runs/r1", str(other.parent), "..", ".hidden"):
        r = triage(home, "--auto", "--resume", ref)
        assert r.exit_code == 2 and "expected an incident id" in r.stderr, (ref, r.stderr)
    assert other.read_bytes() == b'{"seq": 0, "kind": "run.sta'


def test_resume_refuses_a_runbook_that_lost_the_step(tmp_path: Path) -> None:
    home, system = tmp_path / "home", write_system(tmp_path)
    steps = [
        {"id": "first", "title": "first", "check": {"type": "command", "run": [PY, "-c", "pass"]}},
        {"id": "ask", "title": "ask", "check": {"type": "ask", "choices": ["yes", "no"]}},
    ]
    rb = write_runbook(tmp_path, steps)
    out = triage_json(home, "--runbook", str(rb), "--system", str(system), exit_code=0)
    journal = home / "incidents" / out["incident_id"] / "journal.jsonl"
    # Cut the journal back to where the session stood on `ask` (as a crash would leave it).
    lines = journal.read_text().splitlines(keepends=True)
    kinds = [json.loads(line)["kind"] for line in lines]
    journal.write_text("".join(lines[: kinds.index("step.started", kinds.index("step.finished"))]))
    (incident_dir := journal.parent).joinpath("summary.json").unlink()
    write_runbook(tmp_path, [steps[0], {**steps[1], "id": "asked"}])  # the step was renamed since
    before = journal.read_bytes()
    r = triage(home, "--auto", "--resume", incident_dir.name)
    assert r.exit_code == 2, r.stderr
    assert "step(s) ask that" in r.stderr and "no longer has" in r.stderr and "Traceback" not in r.stderr
    assert journal.read_bytes() == before  # nothing journaled (no incident.resumed)
