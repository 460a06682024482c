"""A run's `summary.json` (contract keys: run_id, scenario, verdict, ttd_s, rollback_s, ttr_s,
rto_target_s, faults, breached, verify) and its JUnit XML rendering for CI pipelines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from pydantic import BaseModel

Verdict = Literal["pass", "fail", "aborted"]


class Summary(BaseModel):
    run_id: str
    scenario: str
    verdict: Verdict
    ttd_s: float | None
    rollback_s: float | None
    ttr_s: float | None
    rto_target_s: float
    faults: list[dict[str, Any]]
    breached: list[str]
    verify: dict[str, Any]
    # beyond the contract
    title: str = ""
    layer: str = ""
    severity: str = ""
    system: str = ""
    operator: str = ""
    rollback_mode: str = ""
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    reasons: list[str] = []
    expect: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    journal: str = ""
    journal_head: str = ""
    drillkit_version: str = ""
    detect_lag_s: float | None = None  # detection − end of the first breaching window
    exit_code: int | None = None  # 2 when the run stopped on bad input found mid-run

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|\x1b\\[[0-9;]*[A-Za-z]")


def _xml_safe(text: str) -> str:
    """Drop terminal escapes and characters XML 1.0 cannot carry (step output may hold both)."""
    return _NOT_XML.sub("", text)


def junit_xml(summary: Summary) -> str:
    name = quoteattr(summary.scenario)
    case = f'    <testcase classname="drillkit.gameday" name={name} time="{summary.duration_s:.3f}"'
    props = "".join(
        f'      <property name="{k}" value={quoteattr("" if v is None else str(v))}/>\n'
        for k, v in (
            ("run_id", summary.run_id),
            ("ttd_s", summary.ttd_s),
            ("rollback_s", summary.rollback_s),
            ("ttr_s", summary.ttr_s),
            ("rto_target_s", summary.rto_target_s),
        )
    )
    body = f"    <properties>\n{props}    </properties>\n".replace("    <prop", "      <prop")
    reasons = escape("\n".join(summary.reasons)) or summary.verdict
    if summary.verdict == "fail":
        inner = f"      <failure message={quoteattr(reasons[:200])}>{reasons}</failure>\n"
    elif summary.verdict == "aborted":
        inner = f"      <error message={quoteattr(reasons[:200])}>{reasons}</error>\n"
    else:
        inner = ""
    failures = int(summary.verdict == "fail")
    errors = int(summary.verdict == "aborted")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites><testsuite name="drillkit.gameday" tests="1" failures="{failures}" errors="{errors}" '
        f'time="{summary.duration_s:.3f}">\n'
        f"{case}>\n{inner}{body}    </testcase>\n</testsuite></testsuites>\n"
    )
