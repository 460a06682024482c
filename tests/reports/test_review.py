"""`drillkit review draft`: the facts of a run and of an incident, read from journals written with
the real `Journal` writer (and a real ledger), rendered through the shipped template.

A real game-day's review is checked in `tests/gameday/test_redaction_e2e.py` (same run, no extra
cost); a real triage incident's in `test_review_triage.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.gameday.summary import Summary
from drillkit.journal import Journal
from drillkit.journal.ledger import record
from drillkit.journal.redact import Redactor

T0 = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
RUN_ID = "20261128T100000Z-swap-test-ab12"
INCIDENT_ID = "20261128T110000Z-ai-output-incident-3f2a"
SECTIONS = [
    "# Post-incident review:", "## Summary", "## Impact", "## Detection", "## Timeline (UTC)",
    "## Contributing factors", "### Model and provider", "### Prompt", "### Retrieval corpus", "### Tools",
    "### Inputs", "### Operational practice", "## Resolution and recovery", "## What went well",
    "## What went poorly", "## Where we got lucky", "## What surprised us", "## Action items",
    "## Communications", "## Supporting evidence",
]  # fmt: skip


class Clock:
    """The journal's clock, moved by the test: exact timestamps, so exact durations."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> Clock:
        self.now = T0 + timedelta(seconds=seconds)
        return self


def window(
    index: int,
    *,
    count: int = 20,
    state: str = "healthy",
    breached: list[str] | None = None,
    errors: int = 0,
    rate: float | None = 1.0,
    cost: float = 0.001,
    p95: float = 100.0,
) -> dict[str, Any]:
    return {"index": index, "count": count, "errors": errors, "error_rate": errors / count, "latency_p95_ms": p95,
            "latency_p99_ms": p95 * 1.5, "eval_count": 10 if rate is not None else 0, "eval_pass_rate": rate,
            "cost_per_request_usd": cost, "by_provider": {"primary": count}, "by_model": {"sim-pro": count},
            "state": state, "breached": breached or []}  # fmt: skip


def write_run(home: Path) -> Path:
    """A silent-swap run: 4 healthy windows, a breach over windows 4–7, recovery, verify, the ledger."""
    run_dir = home / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    clock = Clock(T0)
    redactor = Redactor()
    with Journal(run_dir / "journal.jsonl", fsync=False, redact=redactor, clock=clock) as j:
        j.append(
            "run.started",
            {
                "run_id": RUN_ID,
                "scenario": "swap-test",
                "title": "Silent swap <script>x</script>",
                "severity": "high",
                "system": "acme-support",
                "operator": "alice",
                "mode": "auto",
                "slos": {"eval_pass_rate": 0.9, "latency_p95_ms": 800},
                "redaction": redactor.policy,
            },
        )
        j.append("phase", {"phase": "warmup"})
        for i in range(3):
            clock.at(i + 1)
            j.append("window", window(i))
        clock.at(3.5)
        j.append(
            "fault.injected",
            {
                "type": "model_swap",
                "target": "primary",
                "layer": "l7",
                "name": "model_swap",
                "toxicity": 1,
                "attributes": {"serve_model": "sim-pro-2025-11"},
                "at_s": 0,
            },
        )
        clock.at(4)
        j.append("window", window(3))
        clock.at(5)
        j.append("window", window(4, state="breaching", breached=["eval_pass_rate"], errors=1, rate=0.5, cost=0.002))
        clock.at(6)
        j.append(
            "window",
            window(
                5, state="breaching", breached=["eval_pass_rate", "latency_p95_ms"], rate=0.6, cost=0.002, p95=900.0
            ),
        )
        j.append("slo.breach", {"slos": ["eval_pass_rate"], "windows": [4, 5]})
        clock.at(6.1)
        j.append("detected", {"ttd_s": 2.6, "slos": ["eval_pass_rate"], "after_first_breaching_window_s": 0.1})
        clock.at(6.2)
        j.append("rollback.started", {"mode": "auto", "at_s": 2.7, "steps": 1})
        clock.at(7)
        j.append("window", window(6, count=2, state="insufficient", rate=None, cost=0.002))
        clock.at(7.2)
        j.append(
            "rollback.step",
            {
                "name": "pin previous weights",
                "ok": True,
                "duration_s": 1.0,
                "exit_code": 0,
                "status": None,
                "detail": "pinned sim-pro-2025-06\nmail ops@acme.example",
            },
        )
        j.append("rollback.finished", {"ok": True, "rollback_s": 1.0})
        clock.at(8)
        j.append("window", window(7, state="breaching", breached=["eval_pass_rate"], rate=0.8, cost=0.0015))
        for i, t in ((8, 9), (9, 10)):
            clock.at(t)
            j.append("window", window(i))
        clock.at(10.1)
        j.append("recovered", {"ttr_s": 5.5, "windows": [8, 9]})
        verify = {"evals": {"pass_rate": 1.0, "threshold": 0.9, "inside_envelope": True},
                  "fingerprint": {"model": {"expected": "sim-pro-2025-06", "served": {"sim-pro-2025-06": 40},
                                            "ok": True}}}  # fmt: skip
        clock.at(11)
        j.append("verify", verify)
        j.append(
            "diff",
            {
                "against": "preflight",
                "changed": ["model"],
                "components": {
                    "model": {
                        "component": "model",
                        "changed": True,
                        "summary": "primary answers differ",
                        "confidence": 0.9,
                    },
                    "prompt": {"component": "prompt", "changed": False, "summary": "v3 active", "confidence": 1.0},
                    "tools": {"component": "tools", "changed": None, "reason": "contract tests could not run"},
                },
            },
        )
        clock.at(11.2)
        j.append("fault.removed", {"name": "model_swap", "target": "primary", "why": "cleanup", "was_active": True})
        clock.at(12)
        j.append("restore.step", {"name": "reset", "ok": True, "duration_s": 0.8, "detail": "ok"})
        clock.at(12.1)
        j.append("run.finished", {"verdict": "pass", "reasons": []})
        head = j.head
    summary = Summary(
        run_id=RUN_ID, scenario="swap-test", verdict="pass", ttd_s=2.6, rollback_s=1.0, ttr_s=5.5, rto_target_s=300,
        faults=[{"type": "model_swap", "target": "provider:primary", "name": "model_swap", "layer": "l7",
                 "removed": True}], breached=["eval_pass_rate"], verify=verify, title="Silent swap <script>x</script>",
        layer="model", severity="high", system="acme-support", operator="alice", rollback_mode="auto",
        expect={"detect_within": "15s", "recover_within": "25s", "breach": ["eval_pass_rate"]},
        requests={"sent": 162}, journal_head=head, detect_lag_s=0.1,
    )  # fmt: skip
    summary.write(run_dir / "summary.json")
    record(home, "run", RUN_ID, run_dir / "journal.jsonl", summary)
    return run_dir


def write_incident(home: Path) -> Path:
    """An interactive ai-output-incident, written *without* redaction (as an old drillkit would)."""
    folder = home / "incidents" / INCIDENT_ID
    folder.mkdir(parents=True)
    clock = Clock(T0)
    with Journal(folder / "journal.jsonl", fsync=False, clock=clock) as j:
        j.append(
            "incident.started",
            {
                "incident_id": INCIDENT_ID,
                "runbook": "ai-output-incident",
                "title": "Answers stopped citing sources",
                "system": "acme-support",
                "operator": "bob",
                "mode": "interactive",
                "drillkit": "0.1.0",
                "redaction": Redactor().policy,
            },
        )
        j.append("step.started", {"step": "envelope", "title": "Inside the envelope?", "type": "eval"})
        clock.at(1)
        j.append(
            "eval",
            {
                "pass_rate": 0.65,
                "threshold": 0.9,
                "inside_envelope": False,
                "total": 46,
                "failed": 16,
                "by_tag": {
                    "policy": {"pass_rate": 0.5556, "passed": 20, "total": 36},
                    "orders": {"pass_rate": 1.0, "passed": 10, "total": 10},
                },
            },
        )
        j.append(
            "step.finished",
            {
                "step": "envelope",
                "title": "Inside the envelope?",
                "type": "eval",
                "outcome": "fail",
                "detail": "pass rate 65.2% < 90%",
                "duration_s": 1.0,
            },
        )
        clock.at(2)
        j.append(
            "evidence.hold",
            {
                "path": str(folder / "evidence" / "hold-0004"),
                "traffic_minutes": 15,
                "components": ["model", "prompt", "retrieval", "tools", "inputs"],
            },
        )
        clock.at(3)
        j.append(
            "diff",
            {
                "changed": ["model"],
                "components": {
                    "model": {
                        "component": "model",
                        "changed": True,
                        "summary": "primary now sim-pro-2025-11",
                        "confidence": 1.0,
                    },
                    "retrieval": {"component": "retrieval", "changed": None, "reason": "no baseline for the corpus"},
                    "prompt": {"component": "prompt", "changed": False, "summary": "v3 active", "confidence": 1.0},
                },
            },
        )
        j.append(
            "step.finished",
            {
                "step": "what-changed",
                "title": "Which component changed?",
                "type": "diff",
                "outcome": "fail",
                "detail": "model changed",
                "duration_s": 0.1,
            },
        )
        clock.at(4)
        j.append("revert_plan", {"order": ["model"], "lines": ["1. model — revert cost low, ~5 s"]})
        clock.at(5)
        j.append(
            "rollback.started", {"component": "model", "run": ["drillkit", "demo", "ctl", "pin", "sim-pro-2025-06"]}
        )
        clock.at(9)
        j.append(
            "rollback.finished",
            {
                "component": "model",
                "ok": True,
                "duration_s": 4.0,
                "expected_s": 5,
                "user_visible_cost": "low",
                "output": "pinned sim-pro-2025-06",
            },
        )
        clock.at(10)
        j.append("note", {"step": "mitigate", "text": "customer jane.roe@example.com reported it first"})
        clock.at(12)
        j.append(
            "eval",
            {"pass_rate": 0.96, "threshold": 0.9, "inside_envelope": True, "total": 46, "failed": 2, "by_tag": {}},
        )
        j.append("step.skipped", {"step": "comms"})
        clock.at(13)
        j.append(
            "incident.finished",
            {"envelope": "pass", "changed": ["model"], "revert_order": ["model"], "outcome": "resolved"},
        )
    (folder / "summary.json").write_text(json.dumps({
        "envelope": "pass", "changed": ["model"], "evidence": {}, "revert_order": ["model"], "steps": [],
        "incident_id": INCIDENT_ID, "runbook": "ai-output-incident", "title": "Answers stopped citing sources",
        "outcome": "resolved", "rto_target_s": 300}))  # fmt: skip
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    write_run(home)
    write_incident(home)
    yield home


def drillkit(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"DRILLKIT_HOME": str(home)}, catch_exceptions=False)


def facts(home: Path, ref: str) -> dict[str, Any]:
    r = drillkit(home, "review", "draft", ref, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_run_facts_are_computed_from_the_windows(home: Path) -> None:
    f = facts(home, RUN_ID)
    i = f["impact"]
    # The breach spans windows 4..7 (7 breached again after the insufficient window 6).
    assert (i["requests_affected"], i["errors_affected"], i["failed_answers_affected"]) == (62, 1, 11)
    assert i["requests_total"] == 162 and i["window_s"] == 1.0
    slos = {s["slo"]: s for s in i["slos"]}
    assert slos["eval_pass_rate"] == {"slo": "eval_pass_rate", "objective": 0.9, "worst": 0.5, "windows": 3,
                                      "seconds_outside": 3.0}  # fmt: skip
    assert slos["latency_p95_ms"]["worst"] == 900.0 and slos["latency_p95_ms"]["seconds_outside"] == 1.0
    assert i["cost_total_usd"] == pytest.approx(0.234)
    assert i["baseline_cost_per_request_usd"] == pytest.approx(0.001)
    assert i["extra_cost_usd"] == pytest.approx(0.052)
    d = f["detection"]
    assert (d["ttd_s"], d["target_s"], d["detect_lag_s"]) == (2.6, 15.0, 0.1)
    assert d["slos"] == ["eval_pass_rate"] and "windows 4, 5" in d["how"]
    res = f["resolution"]
    assert (res["rollback_s"], res["ttr_s"], res["rto_target_s"], res["within_rto"]) == (1.0, 5.5, 300.0, True)
    assert res["steps"][0]["name"] == "pin previous weights" and res["steps"][0]["ok"] is True
    layers = {layer["key"]: layer for layer in f["layers"]}
    assert list(layers) == ["model", "prompt", "retrieval", "tools", "inputs", "operations"]
    model = " | ".join(layers["model"]["findings"])
    assert "model_swap on primary" in model and "serve_model=sim-pro-2025-11" in model
    assert "Fingerprint check after the rollback held" in model and "Changed against preflight" in model
    assert layers["model"]["changed"] is True and layers["prompt"]["changed"] is False
    assert any("Unknown against preflight" in x for x in layers["tools"]["findings"])
    assert layers["retrieval"]["findings"] == [] and layers["inputs"]["findings"] == []
    ev = f["evidence"]
    assert ev["chain_ok"] and ev["entries"] == 24 and ev["journal"] == f"runs/{RUN_ID}/journal.jsonl"
    assert ev["ledger"]["seq"] == 1 and ev["ledger"]["of"] == 1 and ev["ledger"]["matches_journal"] is True
    assert ev["head"] == ev["ledger"]["journal_head"]


def test_run_draft_has_every_section_timings_and_layer_findings(home: Path) -> None:
    r = drillkit(home, "review", "draft", RUN_ID)
    assert r.exit_code == 0, r.output
    text = r.stdout
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    assert "Time to detect: **2.6 s** after the fault (target 15.0 s: met)" in text
    assert "Rollback took **1.0 s**; recovered **5.5 s** after the fault, against an RTO of 5.0 min: **within**" in text
    assert "| `eval_pass_rate` | 90.0 % | 50.0 % | 3 | 3.0 s (0.05 min) |" in text
    assert "| Requests in the breach (affected) | 62 |" in text and "$0.0520" in text
    # The UTC timeline: the fault is T+0, window state changes only, each row names its entry.
    assert "| 2026-11-28 10:00:03.500 | 0.0 s | Fault injected: model\\_swap on primary | #6 |" in text
    assert "| -0.0 s |" not in text and "| +0.0 s |" not in text
    assert "Window 4 breaching: eval\\_pass\\_rate 50% (objective 90%)" in text and "Window 8 healthy again" in text
    assert "Window 5 breaching" not in text  # still breaching: not a state change
    assert "Detected: eval\\_pass\\_rate, TTD 2.6 s" in text
    # Judgement is left to the authors, clearly marked, once per layer at least.
    assert text.count("> _Author:") >= 6 + 10
    assert (
        "| Model and provider | _mitigate / prevent / process_ | _TBD (this layer changed)_ | @owner | _TBD_ |" in text
    )
    assert "Ledger: entry **1 of 1**" in text and "hash chain intact" in text
    # The step's output is a fenced block (nothing in it is interpreted); values are escaped (the
    # title carried a tag).
    assert "```text\npinned sim-pro-2025-06\nmail <email:1>\n```" in text and "ops@acme.example" not in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_incident_facts_follow_the_agreed_record_format(home: Path) -> None:
    f = facts(home, INCIDENT_ID)
    assert f["kind"] == "incident" and f["outcome"] == "resolved" and f["source"] == "ai-output-incident"
    i = f["impact"]
    assert i["eval"]["pass_rate"] == 0.65 and i["envelope_s"] == 11.0 and i["traffic_minutes"] == 15
    assert f["detection"]["diagnosed_s"] == 3.0 and f["detection"]["detected_at"] == "2026-11-28T10:00:00.000Z"
    res = f["resolution"]
    assert res["revert_order"] == ["model"] and res["rollback_s"] == 4.0 and res["within_rto"] is True
    assert res["steps"] == [{"name": "model", "ok": True, "duration_s": 4.0, "expected_s": 5.0,
                             "user_visible_cost": "low", "output": "pinned sim-pro-2025-06"}]  # fmt: skip
    layers = {layer["key"]: layer for layer in f["layers"]}
    assert layers["model"]["changed"] is True
    assert "Rolled back: ok in 4.0 s (expected 5.0 s, user-visible cost low)" in layers["model"]["findings"]
    assert any(x.startswith("Unknown against") for x in layers["retrieval"]["findings"])
    ops = " | ".join(layers["operations"]["findings"])
    assert "Evidence held before the first change" in ops and "Steps skipped: comms" in ops
    assert "Evidence was held before anything was changed" in f["went_well"]
    assert "Rolled back model in 4.0 s" in f["went_well"]
    # Written unredacted: the review redacts it anyway.
    assert f["notes"] == ["mitigate: customer <email:1> reported it first"]
    assert f["evidence"]["ledger"] is None and f["evidence"]["holds"][0].endswith("hold-0004")


def test_incident_draft_renders_every_section(home: Path) -> None:
    text = drillkit(home, "review", "draft", f"{home}/incidents/{INCIDENT_ID}").stdout  # a folder works too
    for section in SECTIONS:
        assert section in text
    assert "| Runbook | `ai-output-incident` |" in text
    assert "65.0 % pass (30/46) against a threshold of 90 % — **outside** the envelope" in text
    assert "Outside the envelope for at least 11.0 s" in text
    assert "| model | ok | 4.0 s | 5.0 s | low |" in text
    assert "Revert order: `model`" in text and "jane.roe@example.com" not in text
    assert "- mitigate: customer `<email:1>` reported it first" in text  # placeholders inline: code spans
    assert "Ledger: not recorded." in text


def test_records_are_found_by_id_prefix_or_folder_and_errors_name_what_is_wrong(home: Path) -> None:
    assert facts(home, "20261128T1000")["id"] == RUN_ID  # a unique prefix
    assert facts(home, str(home / "runs" / RUN_ID))["kind"] == "run"
    r = drillkit(home, "review", "draft", "20261128T")  # matches both records
    assert r.exit_code == 2 and "matches 2 records" in r.stderr
    r = drillkit(home, "review", "draft", "nope")
    assert r.exit_code == 2 and "no run or incident 'nope'" in r.stderr
    r = drillkit(home, "review", "draft", str(home))
    assert r.exit_code == 2 and "not a run or incident folder" in r.stderr


def test_out_writes_once_and_refuses_to_overwrite_an_authors_edits(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "reviews" / "swap.md"
    r = drillkit(home, "review", "draft", RUN_ID, "--out", str(out))
    assert r.exit_code == 0 and out.read_text().startswith("# Post-incident review:")
    out.write_text("edited by the author")
    r = drillkit(home, "review", "draft", RUN_ID, "--out", str(out))
    assert r.exit_code == 2 and "--force" in r.stderr and out.read_text() == "edited by the author"
    assert drillkit(home, "review", "draft", RUN_ID, "--out", str(out), "--force").exit_code == 0
    assert out.read_text().startswith("# Post-incident review:")


def test_a_team_template_overrides_the_shipped_one(home: Path, tmp_path: Path) -> None:
    (home / "templates").mkdir()
    (home / "templates" / "review.md.j2").write_text("HOME {{ r.id }} TTD {{ r.detection.ttd_s | secs }}\n")
    assert drillkit(home, "review", "draft", RUN_ID).stdout == f"HOME {RUN_ID} TTD 2.6 s\n"
    team = tmp_path / "team"
    team.mkdir()
    (team / "review.md.j2").write_text("TEAM {{ r.title }}\n")
    r = drillkit(home, "review", "draft", RUN_ID, "--templates", str(team))
    assert r.stdout == "TEAM Silent swap &lt;script&gt;x&lt;/script&gt;\n"  # --templates first; values escaped
    (team / "review.md.j2").write_text("{% if %}\n")
    r = drillkit(home, "review", "draft", RUN_ID, "--templates", str(team))
    assert r.exit_code == 2 and "review.md.j2:1: template syntax error" in r.stderr
    (team / "review.md.j2").write_text("{{ r.no_such_field }}\n")
    r = drillkit(home, "review", "draft", RUN_ID, "--templates", str(team))
    assert r.exit_code == 2 and "no_such_field" in r.stderr
    r = drillkit(home, "review", "draft", RUN_ID, "--templates", str(tmp_path / "missing"))
    assert r.exit_code == 2 and "no such folder" in r.stderr


def test_markdown_and_html_in_recorded_values_are_neutralised(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home / "incidents" / INCIDENT_ID
    folder.mkdir(parents=True)
    with Journal(folder / "journal.jsonl", fsync=False) as j:
        j.append("incident.started", {"incident_id": INCIDENT_ID, "runbook": "rb", "operator": "eve",
                                      "title": "[click](javascript:alert(1)) ![x](http://tracker.example/p.png)",
                                      "mode": "interactive"})  # fmt: skip
        j.append("note", {"step": "s", "text": "<img src=x onerror=alert(1)> | cell | **bold**\n# heading"})
    text = drillkit(home, "review", "draft", INCIDENT_ID).stdout
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "[click](javascript:" not in text and "\\[click\\]" in text and "!\\[x\\]" in text
    assert "\\| cell \\|" in text and "\\*\\*bold\\*\\* # heading" in text  # one line, nothing active


def test_a_broken_chain_is_reported_in_the_evidence(home: Path) -> None:
    journal = home / "runs" / RUN_ID / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b'"primary"', b'"fallbk"')
    journal.write_bytes(b"".join(lines))
    f = facts(home, RUN_ID)
    assert f["evidence"]["chain_ok"] is False and f["evidence"]["chain_problems"]
    assert f["evidence"]["ledger"]["matches_journal"] is True  # the head entry itself was not edited
    assert "hash chain **BROKEN**" in drillkit(home, "review", "draft", RUN_ID).stdout


def test_a_run_killed_before_its_summary_drafts_from_the_journal_alone(home: Path) -> None:
    (home / "runs" / RUN_ID / "summary.json").unlink()
    f = facts(home, RUN_ID)
    assert f["outcome"] == "pass" and f["source"] == "swap-test"  # from run.started / run.finished
    assert f["detection"]["ttd_s"] == 2.6 and f["resolution"]["rollback_s"] == 1.0 and f["resolution"]["ttr_s"] == 5.5
    assert f["impact"]["requests_affected"] == 62 and f["evidence"]["summary_file"] is None
    text = drillkit(home, "review", "draft", RUN_ID).stdout
    assert "## Contributing factors" in text and "Rollback took **1.0 s**" in text


def test_a_breach_that_cost_less_is_not_reported_as_a_negative_extra_cost(home: Path) -> None:
    from drillkit.reports.review import draft, render

    review = draft(home, RUN_ID)
    review.impact.extra_cost_usd = -0.0362
    text = render(review, home=home)
    assert "| Extra cost during the breach | none: $0.0362 less than at the pre-fault cost (pre-fault $" in text
    assert "-$" not in text
    review.impact.served_during_breach = {"by_provider": {"primary": 92, "fallback": 1}}
    review.impact.served_answers = {"by_provider": 93}
    assert "as the answers reported it (answers that named no provider or model are not counted): by provider " \
        "`primary` 92 of 93 answers, `fallback` 1 of 93 answers (the breach held 62 requests)." \
        in render(review, home=home)  # fmt: skip


def test_the_timeline_says_what_each_event_says(tmp_path: Path) -> None:
    """Every row is the event's own sentence (`drillkit.journal.events`, the live view's too): the
    reasons a run finished with, what preflight cleaned up, a fault lost; an entry no model reads
    (a newer kind, data its model refuses) shows its kind."""
    home = tmp_path / "home"
    run_dir = home / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    with Journal(run_dir / "journal.jsonl", fsync=False, clock=Clock(T0)) as j:
        j.append("run.started", {"run_id": RUN_ID, "scenario": "swap-test", "operator": "alice", "mode": "auto"})
        j.append("leftovers.removed", {"faults": [{"name": "old"}]})
        j.append("fault.injected", {"type": "latency", "name": "slow-primary", "at_s": 0})  # no target
        j.append("fault.lost", {"faults": ["slow-primary"]})
        j.append("detected", {"ttd_s": "soon", "slos": ["error_rate"]})
        j.append("some.future.kind", {"x": 1})
        j.append("run.finished", {"verdict": "fail", "reasons": ["not detected", "recovery not within 25s"]})
    f = facts(home, RUN_ID)
    assert [row["event"] for row in f["timeline"]] == [
        "Game-day swap-test started by alice (auto rollback)",
        "Faults an earlier run left behind removed: 1",
        "Fault injected: latency on slow-primary",
        "Fault lost before the rollback: slow-primary",
        "detected",
        "some.future.kind",
        "Run finished: fail: not detected; recovery not within 25s",
    ]
    assert f["detection"]["ttd_s"] is None and f["detection"]["how"].startswith("not detected")


def test_an_old_or_partial_summary_is_read_for_what_it_has(home: Path) -> None:
    # No contract keys but a few, and a number written as a string: read field by field, not a crash.
    (home / "runs" / RUN_ID / "summary.json").write_text(
        json.dumps({"run_id": RUN_ID, "verdict": "fail", "layer": "prompt", "ttd_s": "2.6", "reasons": ["slow"]})
    )
    f = facts(home, RUN_ID)
    assert (f["outcome"], f["layer"], f["title"]) == ("fail", "prompt", "Silent swap <script>x</script>")
    assert f["resolution"]["rollback_s"] is None and f["resolution"]["rto_target_s"] is None  # not in the summary
    ops = {layer["key"]: layer for layer in f["layers"]}["operations"]["findings"]
    assert "Reason the verdict records: slow" in ops and not any(x.startswith("Detection:") for x in ops)
    assert "slow" in f["went_poorly"]
    assert "## Contributing factors" in drillkit(home, "review", "draft", RUN_ID).stdout


def test_an_incident_eval_without_case_counts_still_drafts(home: Path) -> None:
    """An eval entry that never recorded `total`/`failed` (hand-written, or an older writer):
    the draft says the counts are not recorded instead of failing to render."""
    journal = home / "incidents" / INCIDENT_ID / "journal.jsonl"
    lines = journal.read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    copy = home / "incidents" / (INCIDENT_ID + "-nocounts")
    copy.mkdir()
    with Journal(copy / "journal.jsonl", fsync=False, clock=Clock(T0)) as j:
        for e in entries:
            data = {k: v for k, v in e["data"].items() if not (e["kind"] == "eval" and k in ("total", "failed"))}
            j.append(e["kind"], data)
    r = drillkit(home, "review", "draft", str(copy))
    assert r.exit_code == 0, r.output
    assert "65.0 % pass (case counts not recorded) against a threshold of 90 %" in r.stdout
