"""`http`, `command` and `promql` checks, against a real Prometheus-API-shaped server and real processes,
driven through `drillkit triage --auto --json` with a runbook whose branches only line up when every
outcome is the expected one."""

from __future__ import annotations

import sys
from pathlib import Path

from drillkit.journal import verify_chain
from tests.runbooks.helpers import closed_port, journal_of, triage_json, write_runbook, write_system
from tests.runbooks.servers import probe_server

PY = sys.executable


def chain(rows: list[tuple[str, str, dict]], final: dict) -> list[dict]:
    """Steps that go on to the next row only when their outcome is the expected one (else to `wrong`)."""
    steps = []
    for i, (sid, expect, check) in enumerate(rows):
        then = rows[i + 1][0] if i + 1 < len(rows) else "final"
        steps.append({"id": sid, "title": sid, "check": check, "next": {expect: then, "default": "wrong"}})
    return [
        *steps,
        {"id": "final", "title": "final", "check": final, "next": {"pass": "end"}},
        {"id": "wrong", "title": "an outcome was not the expected one", "check": final},
    ]


ERRORS = "sum(rate(errors[5m])) / sum(rate(requests[5m]))"


def test_probe_outcomes_drive_the_branches(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    with probe_server() as (url, seen):
        prom = {"type": "promql", "url": url}
        rows = [
            ("errors", "pass", {**prom, "query": ERRORS, "op": "<", "value": 0.02}),
            ("latency", "fail", {**prom, "url": url + "/api/v1/query", "query": "histogram_quantile(0.95, latency)",
                                 "op": "<=", "value": 1.0}),
            ("scalar", "pass", {**prom, "query": "scalar(vector(3))", "op": "==", "value": 3}),
            ("absent", "unknown", {**prom, "query": "absent_metric", "value": 1}),
            ("bad", "error", {**prom, "query": "rate(", "value": 1}),
            ("nan", "fail", {**prom, "query": "nan_metric", "op": "<", "value": 1}),
            ("down", "error", {**prom, "url": dead, "query": "up", "value": 1, "timeout": "2s"}),
            ("http-ok", "pass", {"type": "http", "url": url + "/status/204", "expect_status": [200, 204]}),
            ("http-503", "fail", {"type": "http", "url": url + "/status/503"}),
            ("http-down", "error", {"type": "http", "url": dead + "/healthz", "timeout": "2s"}),
            ("cmd-ok", "pass", {"type": "command", "run": [PY, "-c", "import sys; sys.exit(3)"], "expect_exit": 3}),
            ("cmd-fail", "fail", {"type": "command", "run": [PY, "-c", "print('boom'); raise SystemExit(1)"]}),
            ("cmd-missing", "error", {"type": "command", "run": [str(tmp_path / "no-such-tool")]}),
            ("cmd-slow", "error", {"type": "command", "run": [PY, "-c", "import time; time.sleep(30)"],
                                   "timeout": "300ms"}),
            ("ask", "skipped", {"type": "ask", "question": "Is it serious?", "choices": ["yes", "no"]}),
        ]  # fmt: skip
        runbook = write_runbook(tmp_path, chain(rows, {"type": "http", "url": url + "/status/200"}))
        system = write_system(tmp_path)
        out = triage_json(tmp_path / "home", "--runbook", str(runbook), "--system", str(system), exit_code=0)

    ran = [(s["step"], s["outcome"]) for s in out["steps"]]
    assert ran == [(sid, expect) for sid, expect, _ in rows] + [("final", "pass")]
    assert out["outcome"] == "resolved"
    assert out["envelope"] is None and out["changed"] == [] and out["revert_order"] == []
    detail = {s["step"]: s["detail"] for s in out["steps"]}
    assert '{provider="fallback"} 2.5 not <= 1' in detail["latency"]
    assert "the query returned no samples" in detail["absent"]
    assert "bad_data" in detail["bad"] and "parse error" in detail["bad"]
    assert "boom" in detail["cmd-fail"] and "exit 1" in detail["cmd-fail"]
    assert "timed out" in detail["cmd-slow"]
    assert "no one to ask" in detail["ask"]
    assert out["steps"][-1]["duration_s"] < 5
    # The queries reached the server URL-encoded, on the Prometheus API path.
    assert any(p.startswith("/api/v1/query?query=histogram_quantile") for p in seen)
    # The journal is intact and says where each step went next.
    journal = tmp_path / "home" / "incidents" / out["incident_id"] / "journal.jsonl"
    assert verify_chain(journal) == []
    finished = [e.data for e in journal_of(tmp_path / "home", out["incident_id"]) if e.kind == "step.finished"]
    assert finished[0]["next"] == "latency" and finished[0]["result"]["samples"][0]["value"] == 0.01
    assert finished[-1]["next"] == "end"
