"""The report's "failures and open gaps": what a risk reader should act on, most serious first.

A gap is stated as a fact with its consequence, never as a score: "the retrieval rollback path was
never rehearsed" rather than "retrieval: 0 %". Severity: high = the rollback capability is not
shown (never rehearsed, last rehearsal failed, RTO missed, evidence not intact); medium = shown but
stale or incomplete (overdue, failed runs since passed, open incidents, a control that passed:
the rehearsal cannot show its rollback failing); low = bookkeeping. Only rehearsals are judged as
evidence about a path; a control's failure is its design, and exploratory runs count for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from drillkit.reports.evidence_chart import seconds_label
from drillkit.reports.evidence_model import Gap, days_label

if TYPE_CHECKING:
    from drillkit.reports.evidence_model import EvidenceReport
    from drillkit.reports.evidence_verify import Verification

_ORDER = {"high": 0, "medium": 1, "low": 2}


def find_gaps(report: EvidenceReport, verification: Verification) -> list[Gap]:
    gaps: list[Gap] = []

    def add(severity: str, area: str, text: str) -> None:
        gaps.append(Gap(severity=severity, area=area, text=text))

    if not verification.ok:
        n, first = len(verification.errors), verification.errors[0]
        add("high", "integrity", f"The evidence record is not intact: {n} problem(s), first: {first}. "
            "Rows below may not be what was recorded.")  # fmt: skip
    _path_gaps(report, add)
    _run_gaps(report, add)
    for incident in report.incidents:
        if incident.outcome != "resolved":
            add("medium", "incident", f"Incident {incident.id} ({incident.title or incident.runbook}) "
                f"is {incident.outcome}.")  # fmt: skip
        for rb in incident.rollbacks:
            if rb.ok is False:
                add("high", "incident", f"During incident {incident.id} the {rb.component} rollback failed.")
    every = [*report.runs, *report.control_runs, *report.exploratory_runs]
    unrecorded = [r.id for r in every if not r.recorded] + [i.id for i in report.incidents if not i.recorded]
    if unrecorded:
        listed = ", ".join(unrecorded[:5]) + (" …" if len(unrecorded) > 5 else "")
        add("low", "record", f"{len(unrecorded)} run(s) or incident(s) are not in the signed ledger "
            f"(record them with 'drillkit evidence record --all'): {listed}.")  # fmt: skip
    if report.integrity.checkpoint_size is not None and report.integrity.trusted_by is None:
        add("medium", "integrity", "The ledger checkpoint is signed by a key this check was not told to trust; "
            "compare its fingerprint with the published one.")  # fmt: skip
    return sorted(gaps, key=lambda g: _ORDER.get(g.severity, 3))


def _path_gaps(report: EvidenceReport, add: Callable[[str, str, str], None]) -> None:
    manifest_known = any(c.designed for c in report.cadence)
    for path in report.cadence:
        name = path.label.lower()
        if path.status == "undesigned" and path.last_rehearsal is not None:
            add("medium", path.label, f"The manifest designs no {name} rollback path: its rehearsals (last "
                f"{path.last_rehearsal}, {path.last_verdict}) exercised a way back the manifest does not name, so "
                f"the path is not current; add it under rollbacks.{path.path}.")  # fmt: skip
        elif path.status == "undesigned" or (path.status == "never" and manifest_known and not path.designed):
            add("high", path.label, f"The manifest designs no {name} rollback path and none was rehearsed: "
                f"there is no shown way back from a {name} failure.")  # fmt: skip
        elif path.status == "never":
            add("high", path.label, f"The {name} rollback path has never been rehearsed: there is no evidence "
                "that it works or of how long it takes.")  # fmt: skip
        elif path.status == "failing":
            since = f"last pass {path.last_pass}" if path.last_pass else "it has never passed"
            add("high", path.label, f"The last rehearsal of the {name} rollback path ({path.last_rehearsal}) "
                f"did not pass; {since}.")  # fmt: skip
        elif path.status == "overdue":
            add("medium", path.label, f"The {name} rollback path last passed a rehearsal on {path.last_pass}; "
                f"its cadence is every {days_label(path.rehearse_every_days)} days, so the next was due "
                f"{(path.due or '')[:10]} (last rehearsed {path.last_rehearsal}, {path.days_since} days before "
                "the end of the period).")  # fmt: skip


def _run_gaps(report: EvidenceReport, add: Callable[[str, str, str], None]) -> None:
    for run in report.runs:
        area = run.path_label or "run"
        if run.verdict in ("fail", "aborted"):
            why = f": {run.reasons[0]}" if run.reasons else ""
            what = "failed" if run.verdict == "fail" else "was aborted"
            add("medium", area, f"Rehearsal {run.scenario} on {run.date} {what}{why}.")
        if run.within_rto is False:
            took, target = seconds_label(run.ttr_s or 0), seconds_label(run.rto_target_s or 0)
            add("high", area, f"Rehearsal {run.scenario} on {run.date} recovered in {took}, "
                f"beyond the RTO target of {target}.")  # fmt: skip
        if run.verdict == "incomplete":
            add("low", "record", f"Run {run.id} has no summary: it stopped before it finished "
                "(its journal is kept and checked).")  # fmt: skip
    for run in report.control_runs:
        area = run.path_label or "control"
        if run.verdict == "pass":
            add("medium", area, f"Control {run.scenario} on {run.date} passed: the rehearsal did not notice a "
                "rollback built to fail, so its passes prove less than they seem until it can fail.")  # fmt: skip
        elif run.verdict != "fail":
            add("low", area, f"Control {run.scenario} on {run.date} did not finish ({run.verdict}): it proved nothing.")


__all__ = ["find_gaps"]
