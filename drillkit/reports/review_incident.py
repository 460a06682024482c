"""The facts of a triage incident's review, read from its journal and summary.json.

Incidents have no traffic windows: their impact is the envelope check (eval pass rate against the
threshold, the weakest tags) and, when the envelope was seen failing and later passing, the time
between those checks (a lower bound of the time outside the envelope). Detection is when triage
started (the record cannot know when the problem began: the draft asks); rollback timings are
each component's, against what the manifest expected and the RTO when the summary carries one.

One function per section: `incident_impact`, `incident_detection`, `incident_layers`,
`incident_resolution`, `incident_findings`; what they share with run reviews is in `review_sections`.
"""

from __future__ import annotations

from dataclasses import dataclass

from drillkit.journal.events import (
    EvalResult,
    EvidenceHold,
    IncidentFinished,
    IncidentStarted,
    Note,
    RevertPlan,
    RollbackFinished,
    RollbackStarted,
    StepFinished,
    StepSkipped,
)
from drillkit.journal.events import format_seconds as secs
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review_model import Detection, Impact, Layer, Resolution, Review, RollbackStep
from drillkit.reports.review_sections import (
    Record,
    assemble,
    between,
    clock,
    diff_section,
    judge_rto,
    layer_of,
    new_layers,
)
from drillkit.reports.review_timeline import incident_timeline
from drillkit.reports.summaries import IncidentRecord, lenient


@dataclass
class Incident:
    """What every section of an incident's review reads: the record, its summary (an empty one
    when there is none), its start and finish entries, the envelope checks and the evidence holds."""

    record: Record
    summary: IncidentRecord
    started: IncidentStarted
    finished: IncidentFinished
    evals: list[tuple[JournalEntry, EvalResult]]
    held: list[tuple[JournalEntry, EvidenceHold]]

    @classmethod
    def of(cls, record: Record, summary: IncidentRecord | None) -> Incident:
        return cls(
            record,
            summary or lenient(IncidentRecord, {}),
            record.first(IncidentStarted) or IncidentStarted(),
            record.first(IncidentFinished) or IncidentFinished(),
            record.pairs(EvalResult),
            record.pairs(EvidenceHold),
        )

    @property
    def first_fail(self) -> JournalEntry | None:
        """The first envelope check that failed."""
        return next((e for e, ev in self.evals if ev.inside_envelope is False), None)

    @property
    def held_first(self) -> bool:
        """Evidence was held before the first rollback started (or no rollback started)."""
        rollback = self.record.entry(RollbackStarted)
        return bool(self.held) and (rollback is None or self.held[0][0].seq < rollback.seq)


def incident_review(record: Record, summary: IncidentRecord | None) -> Review:
    inc = Incident.of(record, summary)
    s, started, finished = inc.summary, inc.started, inc.finished
    detection = incident_detection(inc)
    layers = incident_layers(inc)
    resolution = incident_resolution(inc, layers)
    layers["operations"].findings.extend(_operations_findings(inc, detection))
    review = assemble(
        "incident",
        record,
        id=started.incident_id or s.incident_id or "",
        title=s.title or started.title or "",
        outcome=finished.outcome or s.outcome or "open",
        system=started.system or "",
        operator=started.operator or "",
        source=started.runbook or "",
        mode=started.mode or "",
        impact=incident_impact(inc),
        detection=detection,
        timeline=incident_timeline(record),
        layers=layers,
        resolution=resolution,
        notes=[f"{note.step or ''}: {note.text or ''}" for note in record.all(Note)],
    )
    review.summary, review.went_well, review.went_poorly = incident_findings(review, inc)
    return review


def incident_impact(inc: Incident) -> Impact:
    impact = Impact(eval=inc.evals[0][0].data if inc.evals else None)  # the first check, as recorded
    if inc.held:
        impact.traffic_minutes = inc.held[0][1].traffic_minutes
    fail = inc.first_fail
    if fail is not None:
        passed = next((e for e, ev in inc.evals if e.seq > fail.seq and ev.inside_envelope), None)
        if passed is not None:
            impact.envelope_s = between(fail, passed)
    return impact


def incident_detection(inc: Incident) -> Detection:
    started, entries = inc.started, inc.record.entries
    diagnosed = next((e for e, ev in inc.record.pairs(StepFinished) if ev.type == "diff"), None)
    first_check = "outside" if inc.first_fail is not None else "inside" if inc.evals else "not run"
    return Detection(
        how=(
            f"triage started by {started.operator or 'someone'} ({started.mode or ''} mode, runbook "
            f"{started.runbook or ''}); first envelope check: {first_check}"
        ),
        detected_at=entries[0].ts,
        diagnosed_s=between(entries[0], diagnosed) if diagnosed is not None else None,
    )


def incident_layers(inc: Incident) -> dict[str, Layer]:
    """The diff's findings and the revert plan (`incident_resolution` adds each rollback's)."""
    layers = new_layers()
    diff_section(layers, inc.record, lambda _diff: "against the last known good baseline")
    plan = inc.record.last(RevertPlan) or RevertPlan()
    for pos, component in enumerate(plan.order, 1):
        layer_of(layers, component).findings.append(f"Revert plan: position {pos}")
    return layers


def incident_resolution(inc: Incident, layers: dict[str, Layer]) -> Resolution:
    plan = inc.record.last(RevertPlan) or RevertPlan()
    res = Resolution(
        mode=inc.started.mode or "",
        revert_order=inc.summary.revert_order or inc.finished.revert_order or plan.order,
        rto_target_s=inc.summary.rto_target_s,
    )
    for done in inc.record.all(RollbackFinished):
        step = RollbackStep(
            name=str(done.component),
            ok=done.ok,
            duration_s=done.duration_s,
            expected_s=done.expected_s,
            user_visible_cost=done.user_visible_cost,
            output=str(done.output or ""),
        )
        res.steps.append(step)
        layer_of(layers, step.name).findings.append(
            f"Rolled back: {'ok' if step.ok else 'FAILED'} in {secs(step.duration_s)} "
            f"(expected {secs(step.expected_s)}, user-visible cost {step.user_visible_cost or '?'})"
        )
    if res.steps:
        res.rollback_s = round(sum(s.duration_s or 0 for s in res.steps), 3)
    judge_rto(res, res.rollback_s)
    for e, ev in inc.evals[1:]:
        inside = "inside" if ev.inside_envelope else "OUTSIDE"
        res.verify.append(f"envelope check at {clock(e.ts)}: {ev.pass_rate or 0:.1%} {inside}")
    return res


def _operations_findings(inc: Incident, detection: Detection) -> list[str]:
    outcome = inc.finished.outcome or inc.summary.outcome or "unknown"
    findings = [f"Mode: {inc.started.mode or 'unknown'}; outcome: {outcome}"]
    if inc.held:
        when = "before" if inc.held_first else "AFTER"
        findings.append(f"Evidence held {when} the first change ({inc.held[0][1].path})")
    elif inc.record.entry(RollbackStarted) is not None:
        findings.append("No evidence hold before rolling back")
    skipped = [str(ev.step) for ev in inc.record.all(StepSkipped)]
    if skipped:
        findings.append(f"Steps skipped: {', '.join(skipped)}")
    if detection.diagnosed_s is not None:
        findings.append(f"Time from the start of triage to the five-input diff: {secs(detection.diagnosed_s)}")
    return findings


def incident_findings(r: Review, inc: Incident) -> tuple[list[str], list[str], list[str]]:
    res = r.resolution
    envelope = inc.finished.envelope or inc.summary.envelope
    changed = inc.finished.changed or inc.summary.changed or []
    summary = [
        f"Triage incident with runbook {r.source} on {r.system or 'the system'}: {r.outcome}.",
        f"Evaluation envelope: {envelope or 'not checked'}; changed: {', '.join(changed) or 'nothing found'}; "
        f"revert order: {', '.join(res.revert_order) or '—'}.",
    ]
    slow = [s for s in res.steps if s.expected_s is not None and (s.duration_s or 0) > s.expected_s]
    well = [f"Rolled back {s.name} in {secs(s.duration_s)}" for s in res.steps if s.ok and s not in slow]
    poorly = [
        f"Rollback of {s.name}: {'failed' if not s.ok else 'slower than expected'}"
        for s in res.steps
        if not s.ok or s in slow
    ]
    if inc.held_first:
        well.append("Evidence was held before anything was changed")
    if r.outcome != "resolved":
        poorly.append(f"The incident record ends {r.outcome}")
    return summary, well, poorly
