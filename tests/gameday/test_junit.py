"""`drillkit gameday run --junit FILE`: the report validates against the Ant JUnit schema that
Jenkins-style tooling checks reports with (data/JUnit.xsd), for real runs (passed, aborted by a
signal, stopped by bad input found mid-run) and for every verdict the writer knows."""

from __future__ import annotations

import json
import re
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from drillkit.gameday.summary import Summary, junit_xml
from tests.gameday.test_gameday import SWAP, demo_down, gameday, journal_of, start, wait_for_kind, write

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "JUnit.xsd")
#: The schema's timestamp: ISO 8601 without a zone or a fraction.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
#: A testsuite's children, in the schema's order.
SUITE_CHILDREN = ["properties", "testcase", "system-out", "system-err"]


def valid_report(xml: str) -> ET.Element:
    """The report's root, once it validates and no attribute anywhere is empty."""
    errors = [f"{e.path}: {e.reason}" for e in SCHEMA.iter_errors(xml)]
    assert errors == [], "\n".join(errors) + "\n" + xml
    root = ET.fromstring(xml)
    empty = [(el.tag, name) for el in root.iter() for name, value in el.attrib.items() if not value.strip()]
    assert empty == [], xml
    return root


def properties(root: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in root.iterfind("./testsuite/properties/property")}


def test_a_passing_rehearsal_writes_a_report_the_schema_accepts(tmp_path: Path) -> None:
    junit = tmp_path / "gameday.xml"
    r = gameday(tmp_path, write(tmp_path, {**SWAP, "id": "swap-junit"}), "--junit", str(junit))
    demo_down(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    root = valid_report(junit.read_text(encoding="utf-8"))
    suite = root.find("testsuite")
    assert suite is not None and [child.tag for child in suite] == SUITE_CHILDREN
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert TIMESTAMP.fullmatch(suite.get("timestamp", ""))
    assert summary["started_at"].startswith(suite.get("timestamp", "-"))  # the run's start, in UTC
    assert suite.get("hostname")
    case = suite.find("testcase")
    assert case is not None and case.get("name") == "swap-junit" and len(case) == 0
    props = properties(root)
    assert props["run_id"] == summary["run_id"] and props["verdict"] == "pass"
    for measured in ("ttd_s", "rollback_s", "ttr_s", "rto_target_s"):
        assert float(props[measured]) == summary[measured]
    assert props["breached"] == "eval_pass_rate"


def test_an_aborted_rehearsal_is_a_schema_valid_error(tmp_path: Path) -> None:
    junit = tmp_path / "gameday.xml"
    scenario = {**SWAP, "id": "swap-junit-term", "rollback": {**SWAP["rollback"], "decide_after": "60s"}}
    proc = start(tmp_path, write(tmp_path, scenario), "--junit", str(junit))
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        wait_for_kind(journal_of(tmp_path), "detected")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        demo_down(tmp_path)
    root = valid_report(junit.read_text(encoding="utf-8"))
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("errors")) == ("0", "1")
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "aborted" and error.text
    assert suite.find("testcase/failure") is None
    props = properties(root)
    assert props["verdict"] == "aborted" and float(props["ttd_s"]) > 0
    assert "ttr_s" not in props and "rollback_s" not in props  # never measured: left out, not 0


def test_bad_input_found_mid_run_is_a_schema_valid_input_error(tmp_path: Path) -> None:
    (tmp_path / "drillkit.yaml").write_text(
        "apiVersion: drillkit/v1\nkind: System\nname: junit-test\n"
        "service: {url: 'http://127.0.0.1:9/v1/answer', headers: {Authorization: 'Bearer ${DRILLKIT_JUNIT_UNSET}'}}\n"
    )
    (tmp_path / "shift.jsonl").write_text('{"question": "x"}\n')
    scenario = {
        "apiVersion": "drillkit/v1", "kind": "Scenario", "id": "bad-header", "title": "t", "layer": "inputs",
        "system": "drillkit.yaml", "faults": [{"type": "input_shift", "attributes": {"inputs": "shift.jsonl"}}],
        "rollback": {"mode": "auto", "steps": [{"name": "n", "run": ["true"]}]},
    }  # fmt: skip
    junit = tmp_path / "gameday.xml"
    r = gameday(tmp_path, write(tmp_path, scenario), "--junit", str(junit))
    assert r.returncode == 2, r.stdout + r.stderr
    root = valid_report(junit.read_text(encoding="utf-8"))
    error = root.find("./testsuite/testcase/error")
    assert error is not None and error.get("type") == "input-error"
    assert "DRILLKIT_JUNIT_UNSET" in error.get("message", "") and "DRILLKIT_JUNIT_UNSET" in (error.text or "")
    assert not {"ttd_s", "detect_lag_s", "rollback_s", "ttr_s", "breached"} & set(properties(root))


def summary(**changes: Any) -> Summary:
    base: dict[str, Any] = {
        "run_id": "20261201T100000Z-swap-1a2b", "scenario": "swap", "verdict": "pass", "ttd_s": 3.2,
        "rollback_s": 1.5, "ttr_s": 7.0, "rto_target_s": 30.0, "faults": [], "breached": ["eval_pass_rate"],
        "verify": {}, "system": "acme", "started_at": "2026-12-01T11:00:00+01:00", "duration_s": 21.25,
    }  # fmt: skip
    return Summary.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("changes", "child", "kind", "counts"),
    [
        ({}, None, None, ("0", "0")),
        ({"verdict": "fail", "ttr_s": None, "reasons": ["not recovered within 8s"]}, "failure", "fail", ("1", "0")),
        ({"verdict": "fail", "reasons": []}, "failure", "fail", ("1", "0")),
        ({"verdict": "aborted", "reasons": ["SIGTERM"]}, "error", "aborted", ("0", "1")),
        ({"verdict": "aborted", "exit_code": 2, "reasons": ["bad input"]}, "error", "input-error", ("0", "1")),
    ],
)
def test_every_verdict_is_schema_valid(
    changes: dict[str, Any], child: str | None, kind: str | None, counts: tuple[str, str]
) -> None:
    root = valid_report(junit_xml(summary(**changes)))
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("errors")) == counts
    assert suite.get("timestamp") == "2026-12-01T10:00:00"  # converted to UTC, zone dropped
    case = suite.find("testcase")
    assert case is not None and [c.tag for c in case] == ([child] if child else [])
    if child:
        assert case[0].get("type") == kind and case[0].get("message") and case[0].text


def test_unknown_values_are_left_out_never_empty_or_zero() -> None:
    root = valid_report(junit_xml(summary(verdict="fail", ttd_s=None, rollback_s=None, ttr_s=None, breached=[])))
    props = properties(root)
    assert not {"ttd_s", "detect_lag_s", "rollback_s", "ttr_s", "breached", "journal"} & set(props)
    assert props["rto_target_s"] == "30.0" and props["verdict"] == "fail"


def test_reasons_are_escaped_once_and_stripped_of_what_xml_cannot_carry() -> None:
    reasons = ["step 'probe' said: a < b & \"c\" \x1b[31mred\x1b[0m\x07", "x" * 500]
    root = valid_report(junit_xml(summary(verdict="fail", reasons=reasons)))
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None
    message = failure.get("message", "")
    assert message.startswith("step 'probe' said: a < b & \"c\" red;") and len(message) == 200
    assert failure.text == "step 'probe' said: a < b & \"c\" red\n" + "x" * 500
