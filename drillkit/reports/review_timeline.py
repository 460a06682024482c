"""A review's timeline: one line per event that matters, in UTC, each pointing at its journal entry.

Runs: offsets are from the first fault (`T+3.1 s`), because every game-day timing is measured from
there. SLO windows are shown only where the state changes (healthy → breaching and back), so a
minute of traffic is two lines, not sixty. Incidents: offsets from the start of triage; a step is
shown when it finishes (with its outcome), not when it starts.

Each row cites its entry (`<journal id>#<seq>`). Each line is the event's own sentence
(`Event.describe()`, `drillkit.journal.events`): the live view says the same thing. An entry whose
kind this version does not know shows its kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drillkit.journal.events import (
    Diff,
    EvalResult,
    Event,
    FaultInjected,
    Fingerprint,
    InjectClock,
    JournalRepaired,
    PreflightLayer,
    StepStarted,
    TrafficStopped,
    Window,
)
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review_model import TimelineRow
from drillkit.reports.review_sections import Record

#: Entries that never make a timeline line (the windows are summarised by their state changes).
QUIET = frozenset(
    model.KIND
    for model in (InjectClock, PreflightLayer, TrafficStopped, Window, StepStarted, EvalResult, Diff, Fingerprint,
                  JournalRepaired)
)  # fmt: skip


def run_timeline(record: Record, slos: dict[str, float]) -> list[TimelineRow]:
    fault = record.entry(FaultInjected)
    origin = fault.time if fault is not None else _start(record)
    rows: list[TimelineRow] = []
    state = "healthy"
    for entry, event in record:
        if isinstance(event, Window):
            if event.state in ("healthy", "breaching") and event.state != state:
                rows.append(_row(record, entry, origin, _window(event, slos)))
                state = event.state
        elif entry.kind not in QUIET:
            rows.append(_row(record, entry, origin, describe(entry, event)))
    return rows


def incident_timeline(record: Record) -> list[TimelineRow]:
    origin = _start(record)
    return [_row(record, entry, origin, describe(entry, event)) for entry, event in record if entry.kind not in QUIET]


def describe(entry: JournalEntry, event: Event) -> str:
    """The event's sentence; its kind when the event is untyped (a kind this version does not know)."""
    return event.describe() if event.KIND else entry.kind


def _window(w: Window, slos: dict[str, float]) -> str:
    if w.state == "breaching":
        parts = [f"{s} {_value(s, w.value(s))} (objective {_value(s, slos.get(s))})" for s in w.breached]
        return f"Window {w.index} breaching: " + ", ".join(parts)
    return f"Window {w.index} healthy again"


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


def _start(record: Record) -> datetime | None:
    return record.entries[0].time if record.entries else None


def _row(record: Record, e: JournalEntry, origin: datetime | None, event: str) -> TimelineRow:
    offset = None if origin is None else round((e.time - origin).total_seconds(), 3)
    ts = e.ts.replace("T", " ").rstrip("Z")
    return TimelineRow(ts=ts, offset_s=offset, event=event, seq=e.seq, cite=record.cite(e)[0])
