"""The facts of a triage incident's review, read from its journal and summary.json.

Incidents have no traffic windows: their impact is the envelope check (eval pass rate against the
threshold, the weakest tags, with the case counts it rests on) and, when the envelope was seen
failing and later passing, the time between those checks (a lower bound of the time outside the
envelope). Detection is when triage started (the record cannot know when the problem began: the
draft asks); rollback timings are each component's, against what the manifest expected and the RTO
when the summary carries one. A component the diff found changed and no rollback reverted is said
to be left unreverted, in the summary and the resolution.

Every figure and sentence cites the journal entries it was read from (`Record.say`). One function
per section: `incident_impact`, `incident_detection`, `incident_layers`, `incident_resolution`,
`incident_findings`; what they share with run reviews is in `review_sections`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    when there is none), its start and finish entries, the envelope checks, the evidence holds and
    the rollbacks that finished."""

    record: Record
    summary: IncidentRecord
    started: IncidentStarted
    finished: IncidentFinished
    finished_entry: JournalEntry | None
    evals: list[tuple[JournalEntry, EvalResult]]
    held: list[tuple[JournalEntry, EvidenceHold]]
    rollbacks: list[tuple[JournalEntry, RollbackFinished]]

    @classmethod
    def of(cls, record: Record, summary: IncidentRecord | None) -> Incident:
        finished = record.pair(IncidentFinished, last=True)
        return cls(
            record, summary or lenient(IncidentRecord, {}), record.first(IncidentStarted) or IncidentStarted(),
            finished[1] if finished else IncidentFinished(), finished[0] if finished else None,
            record.pairs(EvalResult), record.pairs(EvidenceHold), record.pairs(RollbackFinished),
        )  # fmt: skip

    @property
    def first_fail(self) -> JournalEntry | None:
        """The first envelope check that failed."""
        return next((e for e, ev in self.evals if ev.inside_envelope is False), None)

    @property
    def held_first(self) -> bool:
        """Evidence was held before the first rollback started (or no rollback started)."""
        rollback = self.record.entry(RollbackStarted)
        return bool(self.held) and (rollback is None or self.held[0][0].seq < rollback.seq)

    def changed(self) -> tuple[list[str], list[str]]:
        """The components found changed, and where that was read (incident.finished, the summary
        or the last diff)."""
        diffs = self.record.pairs(Diff)
        if self.finished.changed:
            return list(self.finished.changed), self.record.cite(self.finished_entry, *diffs)
        if self.summary.changed:
            return list(self.summary.changed), [self.record.summary_cite, *self.record.cite(*diffs)]
        if diffs:
            return list(diffs[-1][1].changed), self.record.cite(diffs[-1])
        return [], []

    def unreverted(self) -> tuple[list[str], list[str]]:
        """Changed components no rollback reverted (none that finished ok), with the cites."""
        changed, cites = self.changed()
        reverted = {str(ev.component) for _, ev in self.rollbacks if ev.ok}
        left = [c for c in changed if c not in reverted]
        tried = [(e, ev) for e, ev in self.rollbacks if str(ev.component) in left]
        return left, [*cites, *self.record.cite(*tried)]


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
        notes=[record.say(f"{note.step or ''}: {note.text or ''}", entry) for entry, note in record.pairs(Note)],
    )
    review.summary, review.went_well, review.went_poorly = incident_findings(review, inc)
    review.citations = record.statements()
    return review


def incident_impact(inc: Incident) -> Impact:
    record = inc.record
    impact = Impact(eval=inc.evals[0][0].data if inc.evals else None)  # the first check, as recorded
    if inc.evals:
        impact.cites["eval"] = record.cite(inc.evals[0])
    if inc.held:
        impact.traffic_minutes = inc.held[0][1].traffic_minutes
        impact.cites["traffic_minutes"] = record.cite(inc.held[0])
    fail = inc.first_fail
    if fail is not None:
        passed = next((e for e, ev in inc.evals if e.seq > fail.seq and ev.inside_envelope), None)
        if passed is not None:
            impact.envelope_s = between(fail, passed)
            impact.cites["envelope_s"] = record.cite(fail, passed)
    return impact


def incident_detection(inc: Incident) -> Detection:
    started, record = inc.started, inc.record
    start = record.entries[0]
    diagnosed = next((e for e, ev in record.pairs(StepFinished) if ev.type == "diff"), None)
    first_check = "outside" if inc.first_fail is not None else "inside" if inc.evals else "not run"
    detection = Detection(
        how=(
            f"triage started by {started.operator or 'someone'} ({started.mode or ''} mode, runbook "
            f"{started.runbook or ''}); first envelope check: {first_check}"
        ),
        detected_at=start.ts,
        diagnosed_s=between(start, diagnosed) if diagnosed is not None else None,
    )
    detection.cites.update(how=record.cite(start, inc.evals[0] if inc.evals else None), detected_at=record.cite(start))
    if diagnosed is not None:
        detection.cites["diagnosed_s"] = record.cite(start, diagnosed)
    return detection


def incident_layers(inc: Incident) -> dict[str, Layer]:
    """The diff's findings and the revert plan (`incident_resolution` adds each rollback's)."""
    layers = new_layers()
    diff_section(layers, inc.record, lambda _diff: "against the last known good baseline")
    plan = inc.record.pair(RevertPlan, last=True)
    for pos, component in enumerate(plan[1].order if plan else [], 1):
        layer_of(layers, component).findings.append(inc.record.say(f"Revert plan: position {pos}", plan))
    return layers


def incident_resolution(inc: Incident, layers: dict[str, Layer]) -> Resolution:
    record = inc.record
    plan = record.pair(RevertPlan, last=True)
    res = Resolution(
        mode=inc.started.mode or "",
        revert_order=inc.summary.revert_order or inc.finished.revert_order or (plan[1].order if plan else []),
        rto_target_s=inc.summary.rto_target_s,
    )
    res.cites["mode"] = record.cite(record.entries[0])
    if res.rto_target_s is not None:
        res.cites["rto_target_s"] = [record.summary_cite]
    for i, (entry, done) in enumerate(inc.rollbacks):
        step = RollbackStep(name=str(done.component), ok=done.ok, duration_s=done.duration_s,
                            expected_s=done.expected_s, user_visible_cost=done.user_visible_cost,
                            output=str(done.output or ""))  # fmt: skip
        res.steps.append(step)
        res.cites[f"steps.{i}"] = record.cite(entry)
        text = (
            f"Rolled back: {'ok' if step.ok else 'FAILED'} in {secs(step.duration_s)} "
            f"(expected {secs(step.expected_s)}, user-visible cost {step.user_visible_cost or '?'})"
        )
        layer_of(layers, step.name).findings.append(record.say(text, entry))
    if res.steps:
        res.rollback_s = round(sum(s.duration_s or 0 for s in res.steps), 3)
        res.cites["rollback_s"] = record.cite(*inc.rollbacks)
    judge_rto(res, res.rollback_s)
    res.lines = _resolution_lines(inc, layers)
    for e, ev in inc.evals[1:]:
        inside = "inside" if ev.inside_envelope else "OUTSIDE"
        res.verify.append(record.say(f"envelope check at {clock(e.ts)}: {ev.pass_rate or 0:.1%} {inside}", e))
    return res


def _resolution_lines(inc: Incident, layers: dict[str, Layer]) -> list[str]:
    """No rollback (and why), and the changes left unreverted (also in each one's layer)."""
    record, lines = inc.record, []
    if not inc.rollbacks:
        why = " (in --auto mode triage never changes the system)" if inc.started.mode == "auto" else ""
        lines.append(record.say(f"No rollback was run{why}.", record.entries[0], inc.finished_entry))
    left, cites = inc.unreverted()
    if left:
        text = f"Changed and left unreverted at the end of the incident: {', '.join(left)}."
        lines.append(record.state(text, cites))
        for component in left:
            layer_of(layers, component).findings.append(record.state("Left unreverted: no rollback of it succeeded",
                                                                      cites))  # fmt: skip
    return lines


def _operations_findings(inc: Incident, detection: Detection) -> list[str]:
    record = inc.record
    outcome = inc.finished.outcome or inc.summary.outcome or "unknown"
    where = record.cite(record.entries[0], inc.finished_entry) or [record.summary_cite]
    findings = [record.state(f"Mode: {inc.started.mode or 'unknown'}; outcome: {outcome}", where)]
    if inc.held:
        when = "before" if inc.held_first else "AFTER"
        text = f"Evidence held {when} the first change ({inc.held[0][1].path})"
        findings.append(record.say(text, inc.held[0], record.entry(RollbackStarted)))
    elif (rollback := record.entry(RollbackStarted)) is not None:
        findings.append(record.say("No evidence hold before rolling back", rollback))
    skipped = record.pairs(StepSkipped)
    if skipped:
        findings.append(record.say(f"Steps skipped: {', '.join(str(ev.step) for _, ev in skipped)}", *skipped))
    if detection.diagnosed_s is not None:
        text = f"Time from the start of triage to the five-input diff: {secs(detection.diagnosed_s)}"
        findings.append(record.state(text, detection.cites["diagnosed_s"]))
    return findings


def incident_findings(r: Review, inc: Incident) -> tuple[list[str], list[str], list[str]]:
    record, res = inc.record, r.resolution
    envelope = inc.finished.envelope or inc.summary.envelope
    changed, changed_cites = inc.changed()
    plan = record.pair(RevertPlan, last=True)
    outcome_cites = record.cite(record.entries[0], inc.finished_entry) or [record.summary_cite]
    summary = [
        record.state(f"Triage incident with runbook {r.source} on {r.system or 'the system'}: {r.outcome}.",
                     outcome_cites),
        record.state(
            f"Evaluation envelope: {envelope or 'not checked'}; changed: {', '.join(changed) or 'nothing found'}; "
            f"revert order: {', '.join(res.revert_order) or '—'}.",
            [*outcome_cites, *changed_cites, *record.cite(plan)],
        ),
        *res.lines,
    ]  # fmt: skip
    slow = [s for s in res.steps if s.expected_s is not None and (s.duration_s or 0) > s.expected_s]
    well = [record.state(f"Rolled back {s.name} in {secs(s.duration_s)}", res.cites[f"steps.{i}"])
            for i, s in enumerate(res.steps) if s.ok and s not in slow]  # fmt: skip
    poorly = [
        record.state(f"Rollback of {s.name}: {'failed' if not s.ok else 'slower than expected'}",
                     res.cites[f"steps.{i}"])
        for i, s in enumerate(res.steps)
        if not s.ok or s in slow
    ]  # fmt: skip
    if inc.held_first:
        well.append(record.say("Evidence was held before anything was changed", inc.held[0]))
    if r.outcome != "resolved":
        poorly.append(record.state(f"The incident record ends {r.outcome}", outcome_cites))
    return summary, well, poorly
