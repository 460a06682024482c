"""Reviews where every number is traceable (issue 15 item 7): drafts of pass, fail, control,
absorbed, manual and aborted game-days run for real against the demo, and of an incident written
with drillkit's own `Journal` and event models; each statement is checked against the journal
entry it cites (`tests/reports/citations.py`), and each draft against the facts the issue found
wrong: recovery vs rollback time, the manual rollback and its time, sample sizes next to rates,
changes left unreverted, the owner from the manifest, what a control proved.
"""

from __future__ import annotations

import copy
import json
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.journal import Journal
from drillkit.journal.events import (
    Diff,
    EvalResult,
    EvidenceHold,
    IncidentFinished,
    IncidentStarted,
    Note,
    RevertPlan,
    RollbackFinished,
    RollbackStarted,
    StepFinished,
)
from drillkit.journal.ledger import record
from tests.gameday.test_gameday import SWAP, env_for, gameday, start, wait_for_kind, write
from tests.reports.citations import check_review
from tests.reports.test_review import T0, Clock

INCIDENT_ID = "20261128T110000Z-ai-output-incident-9c1e"


def scenario(ident: str, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SWAP), "id": ident, **changes}


NOOP = {"mode": "auto", "steps": [{"name": "no-op", "run": ["true"]}]}
PIN = ["drillkit", "demo", "ctl", "pin", "sim-pro-2025-06"]


def drillkit(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], env=env_for(home), capture_output=True,
                          text=True, timeout=90)  # fmt: skip


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Path]:
    """A home whose demo stays up for all the game-days of one test."""
    home = tmp_path / "home"
    up = drillkit(home, "demo", "up", "--port", "0", "--latency-scale", "0")
    assert up.returncode == 0, up.stderr
    try:
        yield home
    finally:
        drillkit(home, "demo", "down")


def run(home: Path, spec: dict[str, Any], *extra: str, code: int = 0) -> dict[str, Any]:
    r = gameday(home, write(home.parent, spec), *extra)
    assert r.returncode == code, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout)


def review(home: Path, run_id: str) -> tuple[dict[str, Any], str]:
    """The draft's facts (checked against the journal) and its Markdown."""
    env = {"DRILLKIT_HOME": str(home)}
    facts = CliRunner().invoke(cli, ["review", "draft", run_id, "--json"], env=env, catch_exceptions=False)
    text = CliRunner().invoke(cli, ["review", "draft", run_id], env=env, catch_exceptions=False)
    assert facts.exit_code == 0 and text.exit_code == 0, facts.output + text.output
    data = json.loads(facts.stdout)
    assert check_review(home, data) >= 5
    return data, text.stdout


def cites_of(facts: dict[str, Any], text: str) -> list[str]:
    return next(c["cites"] for c in facts["citations"] if c["text"] == text)


def journal_entry(home: Path, cite: str) -> dict[str, Any]:
    ident, _, seq = cite.rpartition("#")
    lines = (home / "runs" / ident / "journal.jsonl").read_text().splitlines()
    return json.loads(lines[int(seq) - 1])


def test_pass_fail_and_control_reviews_cite_the_journal(demo: Path) -> None:
    passed = run(demo, scenario("cite-pass"))
    # filed under another rollback path than its layer (`rollback.path`), as a degradation drill is
    failed = run(demo, scenario("cite-noop", rollback={**NOOP, "path": "degradation"},
                                expect={**SWAP["expect"], "recover_within": "6s"}), code=1)  # fmt: skip
    control = run(demo, scenario("cite-noop", rollback=NOOP, expect={**SWAP["expect"], "recover_within": "6s"}),
                  "--purpose", "control")  # fmt: skip

    facts, text = review(demo, passed["run_id"])
    recovered = f"Recovered {passed['ttr_s']:.1f} s after the fault (RTO 5.0 min)."
    assert recovered in facts["summary"]
    (cite,) = [c for c in cites_of(facts, recovered) if "#" in c]
    assert journal_entry(demo, cite)["data"]["ttr_s"] == passed["ttr_s"]  # the recovered entry itself
    assert any(w.startswith(f"Recovery {passed['ttr_s']:.1f} s after the fault") for w in facts["went_well"])
    assert facts["owner"] and "| Owner | _TBD_ |" not in text  # the demo manifest's owner (redacted: an address)
    assert "| Rollback path owner | ML platform team (`model`) |" in text
    # The suite's run after the rollback is journalled with its case counts, and the review says them.
    lines = (demo / "runs" / passed["run_id"] / "journal.jsonl").read_text().splitlines()
    evals = next(e for e in map(json.loads, lines) if e["kind"] == "verify")["data"]["evals"]
    assert evals["total"] >= 20 and evals["failed"] == len(evals["failing"]) == 0, evals
    assert f"100.0% pass (0 of {evals['total']} cases failing), inside the envelope" in text
    # Sample sizes next to rates: each count is "n of N answers".
    served = facts["impact"]["served_during_breach"]["by_provider"]
    assert f"`primary` {served['primary']} of {facts['impact']['served_answers']['by_provider']} answers" in text

    facts, text = review(demo, failed["run_id"])
    assert failed["ttr_s"] is None and facts["resolution"]["within_rto"] is None
    # The rollback's time is not a recovery: nothing "went well" against the RTO; it never recovered.
    assert not any("RTO" in w for w in facts["went_well"]), facts["went_well"]
    assert any(line.startswith("Not recovered: no healthy streak") for line in facts["resolution"]["lines"])
    assert "not recovered within 6s of injection" in facts["went_poorly"]
    assert "Rollback took **0.0 s**." in text and "**within**" not in text
    assert facts["layer"] == "model" and "| Rollback path owner | SRE on-call (`degradation`) |" in text

    facts, text = review(demo, control["run_id"])
    assert (facts["purpose"], facts["outcome"], facts["as_expected"]) == ("control", "fail", True)
    proved = next(line for line in facts["summary"] if line.startswith("What the control proved"))
    assert proved.startswith("What the control proved: the rehearsal can fail. With this rollback ('no-op')")
    assert "This was a **control**" in text and "| Purpose | control |" in text
    assert facts["went_poorly"] == []  # its failure is its design, said in the summary

    # The evidence report of this home counts the two rehearsals, and shows the control apart.
    report = CliRunner().invoke(cli, ["evidence", "report", "--json"], env={"DRILLKIT_HOME": str(demo)})
    data = json.loads(report.stdout)
    assert [r["id"] for r in data["runs"]] == [passed["run_id"], failed["run_id"]]
    assert [r["path"] for r in data["runs"]] == ["model", "degradation"]
    cadence = {c["path"]: c for c in data["cadence"]}
    assert cadence["model"]["status"] == "ok" and cadence["degradation"]["last_verdict"] == "fail"
    assert [r["id"] for r in data["control_runs"]] == [control["run_id"]]
    assert data["control_runs"][0]["proved"].startswith("the rehearsal can fail")
    assert data["totals"]["runs"] == 2 and data["totals"]["controls_as_expected"] == 1


def manual(home: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """A manual rollback at a terminal: wait for ROLL BACK NOW, pin the weights, press Enter."""
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "drillkit", "gameday", "run", str(write(home.parent, spec)), "--manual",
            "--no-live", "--json", "--latency-scale", "0"]  # fmt: skip
    proc = subprocess.Popen(argv, env=env_for(home), stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    os.close(slave)
    lines: queue.Queue[str] = queue.Queue()
    err: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        while "ROLL BACK NOW" not in lines.get(timeout=60):
            pass
        assert drillkit(home, *PIN[1:]).returncode == 0
        os.write(master, b"\n")
        out, _ = proc.communicate(timeout=90)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + "".join(err)
    return json.loads(out)


def test_absorbed_manual_and_aborted_reviews_cite_the_journal(demo: Path) -> None:
    absorbed = run(demo, scenario("cite-absorb", faults=[{"type": "down", "target": "provider:primary"}],
                                  expect={"detect_within": "5s", "absorb": True}, verify={}))  # fmt: skip
    by_hand = {"mode": "manual", "instructions": "Pin the previous weights.", "steps": [{"name": "pin", "run": PIN}]}
    manually = manual(demo, scenario("cite-manual", rollback=by_hand))
    before = set((demo / "runs").iterdir())
    proc = start(demo, write(demo.parent, scenario("cite-abort", rollback={**SWAP["rollback"], "decide_after": "60s"})))
    try:
        deadline = time.monotonic() + 60
        while not (new := set((demo / "runs").iterdir()) - before) and time.monotonic() < deadline:
            time.sleep(0.2)
        (folder,) = new
        wait_for_kind(folder / "journal.jsonl", "detected")  # stopped while the rollback waits to decide
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 3

    facts, _ = review(demo, absorbed["run_id"])
    assert "No rollback was run: the system absorbed the fault." in facts["resolution"]["lines"]
    assert any(w.startswith("The system absorbed the fault: no SLO breached") for w in facts["went_well"])

    facts, text = review(demo, manually["run_id"])
    said = (f"The operator rolled back by hand (manual rollback) and confirmed it done after "
            f"{manually['rollback_s']:.1f} s: that is the rollback's time, not a recovery.")  # fmt: skip
    assert said in facts["resolution"]["lines"] and said in facts["summary"]
    cite = next(c for c in cites_of(facts, said) if journal_entry(demo, c)["kind"] == "rollback.finished")
    assert journal_entry(demo, cite)["data"]["rollback_s"] == manually["rollback_s"]
    assert "No rollback was run" not in text and f"Rollback took **{manually['rollback_s']:.1f} s**" in text

    facts, text = review(demo, folder.name)
    assert facts["outcome"] == "aborted"
    assert "No rollback was run: the run ended (aborted) before a rollback began." in facts["resolution"]["lines"]


# -- an incident, written with drillkit's own writer ----------------------------------------------


def write_incident(home: Path, manifest: Path) -> Path:
    """Model and retrieval changed; the model was rolled back, the retrieval rollback failed and was
    never retried: retrieval is left unreverted."""
    folder = home / "incidents" / INCIDENT_ID
    folder.mkdir(parents=True)
    clock = Clock(T0)
    diff = {"model": {"component": "model", "changed": True, "summary": "primary now sim-pro-2025-11",
                      "confidence": 1.0},
            "retrieval": {"component": "retrieval", "changed": True, "summary": "14 documents, 1 new",
                          "confidence": 0.9}}  # fmt: skip
    with Journal(folder / "journal.jsonl", fsync=False, clock=clock) as j:
        j.record(IncidentStarted(incident_id=INCIDENT_ID, runbook="ai-output-incident", title="Wrong refund answers",
                                 system="acme-support", operator="bob", mode="interactive",
                                 system_file=str(manifest)))  # fmt: skip
        j.record(EvalResult(pass_rate=0.6, threshold=0.9, inside_envelope=False, total=40, failed=16))
        clock.at(2)
        j.record(EvidenceHold(path=str(folder / "evidence" / "hold"), traffic_minutes=15))
        clock.at(3)
        j.record(Diff(changed=["model", "retrieval"], components=diff))
        j.record(StepFinished(step="what-changed", type="diff", outcome="fail", duration_s=0.2))
        clock.at(4)
        j.record(RevertPlan(order=["model", "retrieval"], lines=["1. model", "2. retrieval"]))
        j.record(RollbackStarted(component="model"))
        clock.at(8.5)
        j.record(RollbackFinished(component="model", ok=True, duration_s=4.5, expected_s=5, user_visible_cost="low"))
        j.record(RollbackStarted(component="retrieval"))
        clock.at(10)
        j.record(RollbackFinished(component="retrieval", ok=False, duration_s=1.5, expected_s=30,
                                  output="no previous corpus version"))  # fmt: skip
        clock.at(12)
        j.record(EvalResult(pass_rate=0.925, threshold=0.9, inside_envelope=True, total=40, failed=3))
        j.record(Note(step="mitigate", text="kept the new corpus: the old one lacks the refund policy"))
        clock.at(13)
        j.record(IncidentFinished(envelope="pass", changed=["model", "retrieval"], revert_order=["model", "retrieval"],
                                  outcome="resolved"))  # fmt: skip
    summary = {"incident_id": INCIDENT_ID, "runbook": "ai-output-incident", "title": "Wrong refund answers",
               "outcome": "resolved", "envelope": "pass", "changed": ["model", "retrieval"],
               "revert_order": ["model", "retrieval"], "rto_target_s": 300}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    record(home, "incident", INCIDENT_ID, folder / "journal.jsonl", summary)
    return folder


@pytest.fixture
def incident_home(tmp_path: Path) -> Path:
    manifest = tmp_path / "acme.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "drillkit/v1", "kind": "System", "name": "acme-support",
                                        "owner": "Dana Reyes (AI platform)",
                                        "service": {"url": "http://127.0.0.1:9/v1/answer"}}))  # fmt: skip
    home = tmp_path / "home"
    write_incident(home, manifest)
    return home


def test_an_incident_review_says_what_was_left_unreverted_and_cites_it(incident_home: Path) -> None:
    env = {"DRILLKIT_HOME": str(incident_home)}
    facts = json.loads(CliRunner().invoke(cli, ["review", "draft", INCIDENT_ID, "--json"], env=env).stdout)
    assert check_review(incident_home, facts) >= 10
    left = "Changed and left unreverted at the end of the incident: retrieval."
    assert left in facts["summary"] and left in facts["resolution"]["lines"]
    assert cites_of(facts, left) == [f"{INCIDENT_ID}#{seq}" for seq in (4, 10, 13)]  # diff, failed rollback, end
    retrieval = next(layer for layer in facts["layers"] if layer["key"] == "retrieval")
    assert "Left unreverted: no rollback of it succeeded" in retrieval["findings"]
    assert facts["owner"] == "Dana Reyes (AI platform)"
    text = CliRunner().invoke(cli, ["review", "draft", INCIDENT_ID], env=env).stdout
    assert "| Owner | Dana Reyes (AI platform) |" in text
    assert f"- {left} (`{INCIDENT_ID}#4, #10, #13`)" in text
    assert "60.0 % pass (24/40)" in text  # the rate with the cases it rests on


def test_a_statement_citing_the_wrong_entry_fails_the_check(incident_home: Path) -> None:
    env = {"DRILLKIT_HOME": str(incident_home)}
    facts = json.loads(CliRunner().invoke(cli, ["review", "draft", INCIDENT_ID, "--json"], env=env).stdout)
    for citation in facts["citations"]:
        if citation["text"] == "Rolled back model in 4.5 s":
            citation["cites"] = [f"{INCIDENT_ID}#10"]  # the retrieval rollback: 1.5 s, not 4.5 s
    with pytest.raises(AssertionError, match=r"4\.5 is not in its sources"):
        check_review(incident_home, facts)
    facts["citations"] = [c for c in facts["citations"] if not c["text"].startswith("Changed and left")]
    with pytest.raises(AssertionError, match="has no citation"):
        check_review(incident_home, facts)
