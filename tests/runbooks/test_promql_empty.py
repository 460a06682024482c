"""A `promql` query that returns no samples comes to the check's `empty` outcome (`pass`, `fail`,
or `unknown`, the default), against the same real Prometheus-API-shaped server as the other probe
tests, driven through `drillkit triage --auto --json`; and a runbook that branches on an outcome
its step cannot come to is refused before an incident starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from tests.runbooks import servers
from tests.runbooks.helpers import journal_of, triage_json, write_runbook, write_system
from tests.runbooks.servers import probe_server
from tests.runbooks.test_probes import chain

EMPTY_MATRIX = "absent_metric[5m]"


def test_no_samples_comes_to_the_empty_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A range query over a series that does not exist: Prometheus answers an empty matrix.
    empty_matrix = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    monkeypatch.setitem(servers.PROMETHEUS, EMPTY_MATRIX, (200, empty_matrix))
    with probe_server() as (url, _):
        prom = {"type": "promql", "url": url, "value": 1}
        rows = [
            ("by-default", "unknown", {**prom, "query": "absent_metric"}),
            ("said-unknown", "unknown", {**prom, "query": "absent_metric", "empty": "unknown"}),
            ("absence-passes", "pass", {**prom, "query": "absent_metric", "empty": "pass"}),
            ("absence-fails", "fail", {**prom, "query": "absent_metric", "empty": "fail"}),
            ("empty-matrix", "unknown", {**prom, "query": EMPTY_MATRIX}),
            # `empty` only speaks for no samples: samples are still compared, a bad query is still an error.
            ("samples", "pass", {**prom, "query": "scalar(vector(3))", "op": "==", "value": 3, "empty": "fail"}),
            ("bad", "error", {**prom, "query": "rate(", "empty": "pass"}),
        ]
        runbook = write_runbook(tmp_path, chain(rows, {"type": "http", "url": url + "/status/200"}))
        out = triage_json(tmp_path / "home", "--runbook", str(runbook), "--system", str(write_system(tmp_path)))

    assert [(s["step"], s["outcome"]) for s in out["steps"]] == [(sid, want) for sid, want, _ in rows] + [
        ("final", "pass")
    ]
    detail = {s["step"]: s["detail"] for s in out["steps"]}
    for sid in ("by-default", "said-unknown", "absence-passes", "absence-fails", "empty-matrix"):
        assert "the query returned no samples" in detail[sid], detail[sid]
    assert "is the metric scraped?" in detail["by-default"]
    finished = {e.data["step"]: e.data for e in journal_of(tmp_path / "home", out["incident_id"])
                if e.kind == "step.finished"}  # fmt: skip
    assert finished["by-default"]["outcome"] == "unknown" and finished["by-default"]["result"]["samples"] == []
    assert finished["by-default"]["next"] == "said-unknown"


def test_an_unknown_last_measurement_leaves_the_incident_open(tmp_path: Path) -> None:
    with probe_server() as (url, _):
        steps = [{"id": "errors", "title": "errors", "check": {"type": "promql", "url": url, "query": "absent_metric",
                                                                 "value": 1}, "next": {"unknown": "end"}}]  # fmt: skip
        runbook = write_runbook(tmp_path, steps)
        out = triage_json(tmp_path / "home", "--runbook", str(runbook), "--system", str(write_system(tmp_path)),
                          exit_code=1)  # fmt: skip
    assert out["steps"][0]["outcome"] == "unknown" and out["outcome"] == "open"


def validate(tmp_path: Path, step: dict[str, Any]) -> tuple[int, str]:
    path = write_runbook(tmp_path, [{"id": "s", "title": "s", **step}])
    r = CliRunner().invoke(cli, ["runbook", "validate", str(path)])
    return r.exit_code, r.stderr


PROM = {"type": "promql", "url": "http://127.0.0.1:9", "query": "up", "value": 1}


@pytest.mark.parametrize(
    ("step", "field", "expected"),
    [
        ({"check": {**PROM, "empty": "fail"}, "next": {"unknown": "end"}}, "steps[0].next.unknown",
         "this step cannot end 'unknown': only a promql check with `empty: unknown`"),
        ({"check": {"type": "http", "url": "http://127.0.0.1:9"}, "next": {"unknown": "end"}}, "steps[0].next.unknown",
         "this step cannot end 'unknown': only a promql check"),
        ({"next": {"unknown": "end"}}, "steps[0].next.unknown", "it has no check or action"),
        ({"check": {**PROM, "empty": "error"}}, "steps[0].check.empty", "expected one of 'pass', 'fail', 'unknown'"),
        ({"check": {"type": "ask", "choices": ["known", "unknown"]}}, "steps[0].check.choices",
         "choice 'unknown' clashes"),
    ],
)  # fmt: skip
def test_runbooks_that_cannot_come_to_their_branches_are_refused(
    tmp_path: Path, step: dict[str, Any], field: str, expected: str
) -> None:
    code, err = validate(tmp_path, step)
    assert code == 2, err
    assert field in err and expected in err, err


def test_branching_on_unknown_validates_where_the_step_can_come_to_it(tmp_path: Path) -> None:
    code, err = validate(tmp_path, {"check": PROM, "next": {"unknown": "end", "pass": "end"}})
    assert code == 0, err
