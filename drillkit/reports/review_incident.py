"""The facts of a triage incident's review, read from its journal and summary.json.

Incidents have no traffic windows: their impact is the envelope check (eval pass rate against the
threshold, the weakest tags) and, when the envelope was seen failing and later passing, the time
between those checks (a lower bound of the time outside the envelope). Detection is when triage
started (the record cannot know when the problem began: the draft asks); rollback timings are
each component's, against what the manifest expected and the RTO when the summary carries one.
"""

from __future__ import annotations

from typing import Any

from drillkit.journal.writer import JournalEntry
from drillkit.reports.markdown import format_seconds as secs
from drillkit.reports.review import LAYERS, Detection, Evidence, Impact, Layer, Resolution, Review, RollbackStep
from drillkit.reports.review_facts import COMPONENT_LAYER, between, clock, diff_findings, first, first_entry, last
from drillkit.reports.review_timeline import incident_timeline


def incident_review(entries: list[JournalEntry], summary: dict[str, Any]) -> Review:
    started = first(entries, "incident.started") or {}
    finished = first(entries, "incident.finished") or {}
    evals = [e for e in entries if e.kind == "eval"]
    impact = Impact(eval=evals[0].data if evals else None)
    held = [e for e in entries if e.kind == "evidence.hold"]
    if held:
        impact.traffic_minutes = held[0].data.get("traffic_minutes")
    first_fail = next((e for e in evals if e.data.get("inside_envelope") is False), None)
    recovered = next(
        (e for e in evals if first_fail is not None and e.seq > first_fail.seq and e.data.get("inside_envelope")), None
    )
    if first_fail is not None and recovered is not None:
        impact.envelope_s = between(first_fail, recovered)

    diagnosed = next((e for e in entries if e.kind == "step.finished" and e.data.get("type") == "diff"), None)
    detection = Detection(
        how=(
            f"triage started by {started.get('operator', 'someone')} ({started.get('mode', '')} mode, runbook "
            f"{started.get('runbook', '')}); first envelope check: "
            + ("outside" if first_fail is not None else "inside" if evals else "not run")
        ),
        detected_at=entries[0].ts,
        diagnosed_s=between(entries[0], diagnosed) if diagnosed is not None else None,
    )

    layers = {key: Layer(key=key, title=title) for key, title in LAYERS}
    for e in entries:
        if e.kind == "diff":
            diff_findings(layers, e.data, "against the last known good baseline")
    plan = last(entries, "revert_plan") or {}
    for pos, component in enumerate(plan.get("order", []), 1):
        layers[COMPONENT_LAYER.get(component, "operations")].findings.append(f"Revert plan: position {pos}")
    res = Resolution(
        mode=started.get("mode", ""),
        revert_order=summary.get("revert_order") or finished.get("revert_order") or plan.get("order", []),
    )
    for e in entries:
        if e.kind == "rollback.finished":
            d = e.data
            step = RollbackStep(
                name=str(d.get("component")),
                ok=d.get("ok"),
                duration_s=d.get("duration_s"),
                expected_s=d.get("expected_s"),
                user_visible_cost=d.get("user_visible_cost"),
                output=str(d.get("output") or ""),
            )
            res.steps.append(step)
            layers[COMPONENT_LAYER.get(step.name, "operations")].findings.append(
                f"Rolled back: {'ok' if step.ok else 'FAILED'} in {secs(step.duration_s)} "
                f"(expected {secs(step.expected_s)}, user-visible cost {step.user_visible_cost or '?'})"
            )
    if res.steps:
        res.rollback_s = round(sum(s.duration_s or 0 for s in res.steps), 3)
    res.rto_target_s = summary.get("rto_target_s")
    if res.rto_target_s is not None and res.rollback_s is not None:
        res.within_rto = res.rollback_s <= res.rto_target_s
    for e in evals[1:]:
        res.verify.append(
            f"envelope check at {clock(e.ts)}: {e.data.get('pass_rate', 0):.1%} "
            + ("inside" if e.data.get("inside_envelope") else "OUTSIDE")
        )

    ops = layers["operations"]
    outcome = finished.get("outcome") or summary.get("outcome", "unknown")
    ops.findings.append(f"Mode: {started.get('mode', 'unknown')}; outcome: {outcome}")
    first_rollback = first_entry(entries, "rollback.started")
    if held:
        when = "before" if first_rollback is None or held[0].seq < first_rollback.seq else "AFTER"
        ops.findings.append(f"Evidence held {when} the first change ({held[0].data.get('path')})")
    elif first_rollback is not None:
        ops.findings.append("No evidence hold before rolling back")
    skipped = [str(e.data.get("step")) for e in entries if e.kind == "step.skipped"]
    if skipped:
        ops.findings.append(f"Steps skipped: {', '.join(skipped)}")
    if detection.diagnosed_s is not None:
        ops.findings.append(f"Time from the start of triage to the five-input diff: {secs(detection.diagnosed_s)}")

    review = Review(
        kind="incident",
        id=started.get("incident_id") or summary.get("incident_id", ""),
        title=summary.get("title") or started.get("title", ""),
        outcome=finished.get("outcome") or summary.get("outcome") or "open",
        system=started.get("system", ""),
        operator=started.get("operator", ""),
        source=started.get("runbook", ""),
        mode=started.get("mode", ""),
        started_at=entries[0].ts,
        finished_at=entries[-1].ts,
        duration_s=between(entries[0], entries[-1]),
        impact=impact,
        detection=detection,
        timeline=incident_timeline(entries),
        layers=list(layers.values()),
        resolution=res,
        notes=[f"{e.data.get('step', '')}: {e.data.get('text', '')}" for e in entries if e.kind == "note"],
        evidence=Evidence(journal="", entries=0, head="", chain_ok=True),
    )
    envelope = finished.get("envelope") or summary.get("envelope")
    changed = finished.get("changed") or summary.get("changed") or []
    review.summary = [
        f"Triage incident with runbook {review.source} on {review.system or 'the system'}: {review.outcome}.",
        f"Evaluation envelope: {envelope or 'not checked'}; changed: {', '.join(changed) or 'nothing found'}; "
        f"revert order: {', '.join(res.revert_order) or '—'}.",
    ]
    if res.steps:
        review.went_well += [
            f"Rolled back {s.name} in {secs(s.duration_s)}"
            for s in res.steps
            if s.ok and (s.expected_s is None or (s.duration_s or 0) <= s.expected_s)
        ]
        review.went_poorly += [
            f"Rollback of {s.name}: {'failed' if not s.ok else 'slower than expected'}"
            for s in res.steps
            if not s.ok or (s.expected_s is not None and (s.duration_s or 0) > s.expected_s)
        ]
    if held and (first_rollback is None or held[0].seq < first_rollback.seq):
        review.went_well.append("Evidence was held before anything was changed")
    if review.outcome != "resolved":
        review.went_poorly.append(f"The incident record ends {review.outcome}")
    return review
