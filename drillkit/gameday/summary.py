"""A run's `summary.json` (contract keys: run_id, scenario, verdict, ttd_s, rollback_s, ttr_s,
rto_target_s, faults, breached, verify), built from the phases' results (`summarize`), and its
JUnit XML rendering for CI pipelines.

The verdict is `pass` only when every phase ran to its end with no reason to fail; `aborted` when
the run was stopped; `fail` otherwise. The verdict is what happened; the `outcome` (DESIGN §9.4)
says whether that is what the run was for: a passing rehearsal and a control that failed (it
proves the rehearsal can fail) are `as_expected`; an exploratory run is, unless it was aborted.
Exit codes and JUnit follow the outcome, never the raw verdict.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, model_validator

from drillkit import __version__

if TYPE_CHECKING:  # the CLI imports this module at start-up: the run's machinery only when summarizing
    from drillkit.gameday.context import RunContext
    from drillkit.gameday.results import Outcome

Verdict = Literal["pass", "fail", "aborted"]
Purpose = Literal["rehearsal", "control", "exploratory"]
RunOutcome = Literal["as_expected", "unexpected"]


def outcome_of(purpose: str, verdict: str) -> RunOutcome:
    """Whether `verdict` is what a run of `purpose` is for (an aborted run never is)."""
    if verdict == "aborted":
        return "unexpected"
    wanted = {"rehearsal": verdict == "pass", "control": verdict == "fail", "exploratory": True}[purpose]
    return "as_expected" if wanted else "unexpected"


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
    rollback_path: str = ""  # the rollback path the run proves (`rollback.path`, else `layer`); "" before it existed
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
    # DESIGN §9.4: the worst judged value per SLO in the windows after the rollback began, and the
    # breaches the rollback started (None: no rollback began); `findings` states those no
    # `expect.rollback_impact` bound judged, next to the verdict.
    rollback_impact: dict[str, Any] | None = None
    findings: list[str] = []
    purpose: Purpose = "rehearsal"
    outcome: RunOutcome | None = None  # None when built by hand: derived from purpose and verdict
    recovered: bool = False  # a recovery was declared (an absorb rehearsal that held: never left healthy)
    unjudged: list[str] = []  # configured SLOs no window of the run could judge
    judged: dict[str, dict[str, int]] = {}  # per SLO: {judged: windows that judged it, windows: all}
    exit_code: int | None = None  # 2 when the run stopped on bad input found mid-run

    @model_validator(mode="after")
    def _outcome(self) -> Summary:
        if self.outcome is None:
            self.outcome = outcome_of(self.purpose, self.verdict)
        return self

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
        rollback_path=scenario.rollback_path,
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
        rollback_impact=ctx.impact.data(),
        **_honesty(ctx, outcome),
        findings=list(outcome.impact.findings) if outcome.impact is not None else [],
        journal=str(ctx.run_dir / "journal.jsonl"),
        drillkit_version=__version__,
    )


# The escape sequence first: its ESC alone is also a character XML cannot carry.
def _honesty(ctx: RunContext, outcome: Outcome) -> dict[str, Any]:
    """DESIGN §9.4's keys: purpose (the outcome follows from it), recovered, what was never judged."""
    absorbed = outcome.detect is not None and outcome.detect.absorbed
    return {
        "purpose": ctx.options.purpose or ctx.scenario.purpose,
        "recovered": ctx.recovery is not None or absorbed,
        "unjudged": [name for name, (judged, _) in ctx.judged.items() if judged == 0],
        "judged": {name: {"judged": judged, "windows": total} for name, (judged, total) in ctx.judged.items()},
    }


_NOT_XML = re.compile("\x1b\\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: The suite's name, its package and the testcase's class in a CI's test tree.
JUNIT_SUITE = "drillkit.gameday"
#: How much of the reasons `failure@message` / `error@message` carries; the element's text has them all.
JUNIT_MESSAGE_CHARS = 200


def _xml_safe(text: str) -> str:
    """Drop terminal escapes and characters XML 1.0 cannot carry (step output may hold both)."""
    return _NOT_XML.sub("", text)


def junit_xml(summary: Summary) -> str:
    """The run as a JUnit XML report, valid against the Ant JUnit schema that Jenkins-style tooling
    validates with (a copy: tests/gameday/data/JUnit.xsd).

    `<testsuites>` holds one `<testsuite>`: the run's `<properties>` first (a measurement the run
    did not make, such as the TTR of a run that never recovered, is left out: never an empty value,
    never 0), one `<testcase>` named after the scenario, then an empty `<system-out/>` and
    `<system-err/>`. The testcase holds `<failure type="fail">` when the rehearsal failed,
    `<error type="aborted">` when it was stopped, `<error type="input-error">` when bad input found
    mid-run stopped it (exit 2); their message is the start of the reasons, their text all of them.
    `timestamp` is the run's start in UTC without a zone (the schema allows none); `hostname` is
    this machine's name, `localhost` when it has none.
    """
    problem = _junit_problem(summary)
    suite = ET.Element(
        "testsuite",
        name=JUNIT_SUITE,
        package=JUNIT_SUITE,  # the schema wants package and id on a suite inside <testsuites>
        id="0",
        timestamp=_junit_timestamp(summary),
        hostname=_hostname(),
        tests="1",
        failures=str(int(problem is not None and problem[0] == "failure")),
        errors=str(int(problem is not None and problem[0] == "error")),
        time=f"{summary.duration_s:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in _junit_properties(summary):
        ET.SubElement(properties, "property", name=name, value=value)
    case = ET.SubElement(
        suite, "testcase", classname=JUNIT_SUITE, name=_xml_safe(summary.scenario), time=f"{summary.duration_s:.3f}"
    )
    if problem is not None:
        tag, kind = problem
        reasons = [_xml_safe(r) for r in summary.reasons] or [summary.verdict]
        message = "; ".join(reasons)
        if len(message) > JUNIT_MESSAGE_CHARS:
            message = message[: JUNIT_MESSAGE_CHARS - 1] + "…"
        ET.SubElement(case, tag, type=kind, message=message).text = "\n".join(reasons)
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_problem(summary: Summary) -> tuple[str, str] | None:
    """(element, type) of the testcase's child, by outcome: None when the run went as its purpose
    wants (a passing rehearsal, a control that failed as designed)."""
    if summary.verdict == "aborted":
        return "error", "input-error" if summary.exit_code == 2 else "aborted"
    if summary.outcome == "as_expected":
        return None
    return "failure", "control-passed" if summary.purpose == "control" else summary.verdict


def _junit_properties(summary: Summary) -> list[tuple[str, str]]:
    """(name, value) of what the run measured and where its records are; unknown values left out."""
    values: dict[str, object] = {
        "run_id": summary.run_id,
        "scenario": summary.scenario,
        "verdict": summary.verdict,
        "purpose": summary.purpose,
        "outcome": summary.outcome,
        "system": summary.system,
        "rollback_mode": summary.rollback_mode,
        "ttd_s": summary.ttd_s,
        "detect_lag_s": summary.detect_lag_s,
        "rollback_s": summary.rollback_s,
        "ttr_s": summary.ttr_s,
        "rto_target_s": summary.rto_target_s,
        "breached": ",".join(summary.breached),
        "journal": summary.journal,
        "drillkit_version": summary.drillkit_version,
    }
    return [(name, _xml_safe(str(v))) for name, v in values.items() if v is not None and v != ""]


def _junit_timestamp(summary: Summary) -> str:
    """The run's start as `2026-12-01T10:00:00` in UTC (the schema's pattern has no zone and no
    fraction); the finish, else the time of writing, for a summary that records no start."""
    recorded = summary.started_at or summary.finished_at
    moment = datetime.fromisoformat(recorded) if recorded else datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _hostname() -> str:
    """This machine's name, as the schema asks: `localhost` when it cannot be determined."""
    try:
        name = _xml_safe(socket.gethostname()).strip()
    except OSError:
        name = ""
    return name or "localhost"
