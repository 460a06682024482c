"""A review's timeline: one line per event that matters, in UTC, each pointing at its journal entry.

Runs: offsets are from the first fault (`T+3.1 s`), because every game-day timing is measured from
there. SLO windows are shown only where the state changes (healthy → breaching and back), so a
minute of traffic is two lines, not sixty. Incidents: offsets from the start of triage; a step is
shown when it finishes (with its outcome), not when it starts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drillkit.journal.writer import JournalEntry
from drillkit.reports.markdown import format_seconds
from drillkit.reports.review import TimelineRow

#: Entries that never make a timeline line (the windows are summarised by their state changes).
QUIET = frozenset({"inject.clock", "preflight.layer", "traffic.stopped", "window", "step.started", "eval", "diff",
                   "fingerprint", "journal.repaired"})  # fmt: skip


def run_timeline(entries: list[JournalEntry], slos: dict[str, float]) -> list[TimelineRow]:
    origin = next((e.time for e in entries if e.kind == "fault.injected"), entries[0].time if entries else None)
    rows: list[TimelineRow] = []
    state = "healthy"
    for e in entries:
        if e.kind == "window":
            new = e.data.get("state")
            if new in ("healthy", "breaching") and new != state:
                rows.append(_row(e, origin, _window(e.data, slos)))
                state = new
            continue
        if e.kind in QUIET:
            continue
        rows.append(_row(e, origin, describe_run(e.kind, e.data)))
    return rows


def incident_timeline(entries: list[JournalEntry]) -> list[TimelineRow]:
    origin = entries[0].time if entries else None
    return [_row(e, origin, describe_incident(e.kind, e.data)) for e in entries if e.kind not in QUIET]


def describe_run(kind: str, d: dict[str, Any]) -> str:
    if kind == "run.started":
        return f"Game-day {d.get('scenario')} started by {d.get('operator')} ({d.get('mode')} rollback)"
    if kind == "phase":
        return f"Phase: {d.get('phase')}"
    if kind == "fault.injected":
        if d.get("type") == "change":
            return f"Change applied as the fault: {d.get('name')}"
        return f"Fault injected: {d.get('type')} on {d.get('target')}"
    if kind == "fault.removed":
        return f"Fault removed: {d.get('name')} ({d.get('why', '')})" + ("" if d.get("ok", True) else " — FAILED")
    if kind == "slo.breach":
        return f"SLO breach: {', '.join(d.get('slos', []))} (windows {_nums(d.get('windows'))})"
    if kind == "detected":
        return f"Detected: {', '.join(d.get('slos', []))}, TTD {_s(d.get('ttd_s'))}"
    if kind == "rollback.started":
        return f"Rollback started ({d.get('mode')}" + (f", {d['steps']} step(s))" if d.get("steps") else ")")
    if kind in ("rollback.step", "restore.step", "leftovers.restored"):
        what = {"rollback.step": "Rollback step", "restore.step": "Restore step"}.get(kind, "Owed restore step")
        return f"{what} {d.get('name')!r}: {'ok' if d.get('ok') else 'FAILED'} in {_s(d.get('duration_s'))}"
    if kind == "rollback.finished":
        if d.get("aborted"):
            return "Rollback aborted"
        return f"Rollback finished: {'ok' if d.get('ok') else 'FAILED'} in {_s(d.get('rollback_s'))}"
    if kind == "recovered":
        return f"Recovered: TTR {_s(d.get('ttr_s'))} (windows {_nums(d.get('windows'))})"
    if kind == "verify":
        parts = []
        if d.get("evals"):
            parts.append(f"evals {d['evals'].get('pass_rate', 0):.1%}")
        parts += [f"{k} {'ok' if v.get('ok') else 'FAILED'}" for k, v in (d.get("fingerprint") or {}).items()]
        return "Verify: " + (", ".join(parts) or "nothing to check")
    if kind == "guardrail.tripped":
        return f"Guardrail tripped: {', '.join(d.get('guardrails', []))}"
    if kind == "run.finished":
        return f"Run finished: {d.get('verdict')}"
    if kind == "preflight.warning":
        return f"Preflight warning: {d.get('message')}"
    if kind == "absorbed":
        return f"No breach: the fault was absorbed ({_s(d.get('held_s'))})"
    return kind


def describe_incident(kind: str, d: dict[str, Any]) -> str:
    if kind == "incident.started":
        return f"Triage started by {d.get('operator')} (runbook {d.get('runbook')}, {d.get('mode')})"
    if kind == "incident.resumed":
        return f"Triage resumed at step {d.get('step')}"
    if kind == "step.finished":
        detail = " ".join(str(d.get("detail") or "").split())
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        return f"Step {d.get('step')} ({d.get('type')}): {d.get('outcome')}" + (f" — {detail}" if detail else "")
    if kind in ("step.skipped", "step.back"):
        return f"Step {d.get('step')}: {'skipped' if kind == 'step.skipped' else 'went back'}"
    if kind == "revert_plan":
        return f"Revert plan: {' → '.join(d.get('order', [])) or 'nothing to revert'}"
    if kind == "rollback.started":
        return f"Rollback of {d.get('component')} started"
    if kind == "rollback.finished":
        ok = "ok" if d.get("ok") else "FAILED"
        return (
            f"Rollback of {d.get('component')}: {ok} in {_s(d.get('duration_s'))} (expected {_s(d.get('expected_s'))})"
        )
    if kind == "evidence.hold":
        return f"Evidence held: {', '.join(d.get('components', []))}"
    if kind == "note":
        return f"Note ({d.get('step')}): {d.get('text')}"
    if kind == "incident.finished":
        return f"Incident finished: {d.get('outcome')} (envelope {d.get('envelope')})"
    return kind


def _window(d: dict[str, Any], slos: dict[str, float]) -> str:
    if d.get("state") == "breaching":
        parts = [f"{s} {_value(s, d.get(s))} (objective {_value(s, slos.get(s))})" for s in d.get("breached", [])]
        return f"Window {d.get('index')} breaching: " + ", ".join(parts)
    return f"Window {d.get('index')} healthy again"


def _value(slo: str, v: Any) -> str:
    if v is None:
        return "—"
    if slo in ("eval_pass_rate", "error_rate"):
        return f"{v:.0%}"
    if slo.endswith("_ms"):
        return f"{v:.0f} ms"
    if slo.endswith("_usd"):
        return f"${v:.4f}"
    return f"{v:g}"


def _row(e: JournalEntry, origin: datetime | None, event: str) -> TimelineRow:
    offset = None if origin is None else round((e.time - origin).total_seconds(), 3)
    return TimelineRow(ts=e.ts.replace("T", " ").rstrip("Z"), offset_s=offset, event=event, seq=e.seq)


def _nums(values: Any) -> str:
    return ", ".join(str(v) for v in values or []) or "—"


def _s(value: Any) -> str:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    return format_seconds(number)
