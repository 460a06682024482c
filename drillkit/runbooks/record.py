"""The incident record: `<home>/incidents/<id>/journal.jsonl` + `summary.json`, and reading it back.

The format is agreed with the review and evidence readers (`drillkit review draft`,
`drillkit evidence`); keep these kinds and keys, add fields rather than rename them. Each kind is
a model in `drillkit.journal.events` (the one registry that spells the kinds), named here after
the arrow; writers journal the model (`Session.emit`), readers match on `JournalEntry.event`:

    incident.started  {incident_id, runbook, title, system, operator, mode, drillkit, redaction,
                       runbook_file, system_file}                                  → IncidentStarted
    incident.resumed  {after_seq, step}    a crashed or paused session picked up → IncidentResumed
    step.started      {step, title, type}                                        → StepStarted
    step.finished     {step, title, type, outcome, detail, started_at, duration_s, next, result}
                                                                                 → StepFinished
    step.skipped      {step, title, type, outcome, detail, started_at, duration_s, next}
                                                                                 → StepSkipped
    step.back         {step, next}                                               → StepBack
    eval              {pass_rate, threshold, inside_envelope, total, failed, by_tag, suite,
                       duration_s, failing}                                      → EvalResult
    diff              the DiffReport JSON (`drillkit diff --json`), against (`baseline` |
                       `no-baseline`), reused_evidence_snapshot                   → Diff
    revert_plan       {order, lines, entries, unknown, accepted, rebaseline}     → RevertPlan
    rollback.started  {component, run | http}                                    → RollbackStarted
    rollback.finished {component, ok, duration_s, expected_s, user_visible_cost, output}
                                                                                 → RollbackFinished
    evidence.hold     {path, components, traffic_minutes, files, snapshot_taken_at, failed}
                                                                                 → EvidenceHold
    note              {step, text}                                               → Note
    incident.finished {envelope, changed, revert_order, outcome}                 → IncidentFinished

`next` on step entries is the step the session goes to afterwards: it is what makes a session
resumable from its journal alone (`replay`). `summary.json` carries the `drillkit triage --json`
contract keys (`envelope`, `changed`, `evidence`, `revert_order`, `steps`) and the incident's
identity and timing. `evidence.<component>.confidence` says in a word how sure the diff is (`high`,
`medium`, `low`; the number is `confidence_score`, the reference it judged against `basis`);
`baseline` what the diff stood on (a baseline, `healthy` or not, or `no-baseline`); `rebaseline`
the changed components the eval envelope tolerates ("re-baseline?", not a revert).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from drillkit.components.types import DiffReport
from drillkit.journal import JournalEntry
from drillkit.journal.events import (
    Diff,
    EvalResult,
    IncidentFinished,
    IncidentStarted,
    Note,
    RevertPlan,
    RollbackFinished,
    RollbackStarted,
    StepBack,
    StepFinished,
    StepSkipped,
    StepStarted,
)

Outcome = Literal["resolved", "open", "aborted"]
Envelope = Literal["pass", "fail"]


def new_incident_id(runbook_id: str, now: datetime | None = None) -> str:
    """`20261128T101500Z-ai-output-incident-3f2a`: sortable by time, unique by the suffix."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{runbook_id}-{secrets.token_hex(2)}"


def incidents_dir(home: Path) -> Path:
    return home / "incidents"


class StepRecord(BaseModel):
    """One step as it ran (or was skipped): the `steps` entries of the summary."""

    step: str
    title: str
    type: str
    outcome: str
    started_at: str
    duration_s: float
    detail: str = ""


class IncidentSummary(BaseModel):
    """`summary.json` and `drillkit triage --json` (contract keys first)."""

    envelope: Envelope | None
    changed: list[str]
    evidence: dict[str, Any]
    revert_order: list[str]
    steps: list[StepRecord]
    incident_id: str
    runbook: str
    title: str
    system: str
    operator: str
    mode: str
    started_at: str
    finished_at: str | None
    outcome: Outcome
    unknown: list[str] = []
    revert_plan: list[str] = []
    #: Changed components the envelope tolerates: "re-baseline?" rather than a revert.
    rebaseline: list[str] = []
    #: What the diff compared against: `{reference: baseline, taken_at, healthy}` or `{reference:
    #: no-baseline, note}`; None before a diff ran.
    baseline: dict[str, Any] | None = None
    rolled_back: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    journal: str
    journal_head: str
    drillkit_version: str

    def write(self, path: Path, redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        """Write atomically, through the redaction policy first when one is given."""
        data = self.model_dump(mode="json")
        if redact is not None:
            data = redact(data)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)


class Replay(BaseModel):
    """What a journal says about a session so far: enough to rebuild its state and carry on."""

    started: IncidentStarted
    started_at: str
    finished: bool = False
    next_step: str | None = None  # None: start at the runbook's first step
    envelope: Envelope | None = None
    diff: DiffReport | None = None
    plan: RevertPlan | None = None
    attempted: list[str] = []
    rolled_back: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    steps: list[StepRecord] = []
    history: list[str] = []
    last_seq: int = 0


def replay(entries: list[JournalEntry]) -> Replay:
    """Rebuild a session's state from its journal entries (see the module doc for the kinds).

    The next step is the `next` of the last step entry; a step that started but never finished
    (the crash came mid-step) is run again.
    """
    started = entries[0].event if entries else None
    if not isinstance(started, IncidentStarted):
        raise ValueError(f"not an incident journal: the first entry is not {IncidentStarted.KIND}")
    state = Replay(started=started, started_at=entries[0].ts)
    open_step: str | None = None  # the step that started and has not finished yet
    for entry in entries:
        state.last_seq = entry.seq
        match entry.event:
            case StepStarted(step=step):
                open_step = state.next_step = _step_id(step)
            case StepFinished() as ev:
                open_step = None
                state.history.append(_step_id(ev.step))
                state.next_step = ev.next
                state.steps.append(_record(ev, entry.ts, ev.outcome or "error"))
            case StepSkipped() as ev:
                state.history.append(_step_id(ev.step))
                state.next_step = ev.next
                state.steps.append(_record(ev, entry.ts, "skipped"))
            case StepBack(next=target):
                if state.history:
                    state.history.pop()
                state.next_step = target
            case EvalResult(inside_envelope=inside):
                state.envelope = "pass" if inside else "fail"
            case Diff() as ev:
                state.diff = DiffReport.model_validate(ev.data())
            case RevertPlan() as ev:
                state.plan = ev
            case RollbackStarted(component=component):
                state.attempted.append(_step_id(component))
            case RollbackFinished() as ev:
                state.rolled_back.append(ev.data())
            case Note() as ev:
                state.notes.append({**ev.data(), "ts": entry.ts})
            case IncidentFinished():
                state.finished = True
    if open_step is not None:
        state.next_step = open_step
    return state


def _step_id(value: str | None) -> str:
    """A step id (or component) the entry must name: a journal without one is not a session's."""
    if value is None:
        raise ValueError("a step entry names no step")
    return value


def _record(ev: StepFinished | StepSkipped, ts: str, outcome: str) -> StepRecord:
    step = _step_id(ev.step)
    return StepRecord(
        step=step,
        title=step if ev.title is None else ev.title,
        type=ev.type or "",
        outcome=outcome,
        started_at=ev.started_at or ts,
        duration_s=float(ev.duration_s or 0.0),
        detail=ev.detail or "",
    )


__all__ = [
    "IncidentSummary",
    "Replay",
    "StepRecord",
    "incidents_dir",
    "new_incident_id",
    "replay",
]
