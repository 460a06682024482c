"""A run's `summary.json` (contract keys: run_id, scenario, verdict, ttd_s, rollback_s, ttr_s,
rto_target_s, faults, breached, verify), built from the phases' results (`summarize`), and its
JUnit XML rendering for CI pipelines.

The verdict is `pass` only when every phase ran to its end with no reason to fail; `aborted` when
the run was stopped; `fail` otherwise.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape, quoteattr

from pydantic import BaseModel

from drillkit import __version__

if TYPE_CHECKING:  # the CLI imports this module at start-up: the run's machinery only when summarizing
    from drillkit.gameday.context import RunContext
    from drillkit.gameday.results import Outcome

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


def summarize(ctx: RunContext, outcome: Outcome, started_at: datetime, operator: str) -> Summary:
    """The summary of a finished run: the phases' results, and what the window monitor measured."""
    from drillkit.gameday.observe import ttr_s

    stopped = ctx.control.reason
    if stopped:
        verdict: Verdict = "aborted"
    elif outcome.reasons or not outcome.completed:
        verdict = "fail"
    else:
        verdict = "pass"
    finished = datetime.now(UTC)
    breach, scenario = ctx.breach, ctx.scenario
    return Summary(
        run_id=ctx.run_id,
        scenario=scenario.id,
        verdict=verdict,
        ttd_s=ctx.since_inject(ctx.detected_at) if ctx.detected_at is not None else None,
        detect_lag_s=(
            round(ctx.detected_at - breach.since - scenario.timeline.window, 3)
            if ctx.detected_at is not None and breach is not None
            else None
        ),
        rollback_s=outcome.rollback.rollback_s if outcome.rollback is not None else None,
        ttr_s=ttr_s(ctx),
        rto_target_s=ctx.system.rto_target,
        faults=[
            {
                "type": i.fault.type,
                "target": i.fault.target,
                "name": i.active.name if i.active else i.fault.name,
                "layer": i.active.layer if i.active else i.fault.layer,
                "removed": i.removed or i.active is None,
            }
            for i in ctx.injected
        ],
        breached=breach.slos if breach is not None else [],
        verify=outcome.verify.data() if outcome.verify is not None else {},
        title=scenario.title,
        layer=scenario.layer,
        severity=scenario.severity,
        system=ctx.system.name,
        operator=operator,
        rollback_mode=ctx.options.mode or scenario.rollback.mode,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - started_at).total_seconds(), 3),
        reasons=([stopped] if stopped else []) + outcome.reasons,
        expect=scenario.expect.model_dump(mode="json"),
        requests=ctx.load.stats.model_dump() if ctx.load is not None else {},
        journal=str(ctx.run_dir / "journal.jsonl"),
        drillkit_version=__version__,
    )


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
