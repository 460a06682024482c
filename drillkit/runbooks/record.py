"""The incident record: `<home>/incidents/<id>/journal.jsonl` + `summary.json`, and reading it back.

The format is agreed with the review and evidence readers (`drillkit review draft`,
`drillkit evidence`); keep these kinds and keys, add fields rather than rename them:

    incident.started  {incident_id, runbook, title, system, operator, mode, drillkit, redaction,
                       runbook_file, system_file}
    incident.resumed  {after_seq, step}                  a crashed or paused session picked up again
    step.started      {step, title, type}
    step.finished     {step, title, type, outcome, detail, duration_s, next, result}
    step.skipped      {step, next}        step.back {step, next}
    eval              {pass_rate, threshold, inside_envelope, total, failed, by_tag}
    diff              the DiffReport JSON (`drillkit diff --json`)
    revert_plan       {order, lines, entries, unknown}
    rollback.started  {component, run | http}
    rollback.finished {component, ok, duration_s, expected_s, user_visible_cost, output}
    evidence.hold     {path, components, traffic_minutes, files}
    note              {step, text}
    incident.finished {envelope, changed, revert_order, outcome}

`next` on step entries is the step the session goes to afterwards: it is what makes a session
resumable from its journal alone (`replay`). `summary.json` carries the `drillkit triage --json`
contract keys (`envelope`, `changed`, `evidence`, `revert_order`, `steps`) and the incident's
identity and timing.
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

INCIDENT_STARTED = "incident.started"
INCIDENT_RESUMED = "incident.resumed"
INCIDENT_FINISHED = "incident.finished"
STEP_STARTED = "step.started"
STEP_FINISHED = "step.finished"
STEP_SKIPPED = "step.skipped"
STEP_BACK = "step.back"
EVAL = "eval"
DIFF = "diff"
REVERT_PLAN = "revert_plan"
ROLLBACK_STARTED = "rollback.started"
ROLLBACK_FINISHED = "rollback.finished"
EVIDENCE_HOLD = "evidence.hold"
NOTE = "note"

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

    started: dict[str, Any]
    started_at: str
    finished: bool = False
    next_step: str | None = None  # None: start at the runbook's first step
    envelope: Envelope | None = None
    diff: DiffReport | None = None
    plan: dict[str, Any] | None = None
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
    if not entries or entries[0].kind != INCIDENT_STARTED:
        raise ValueError("not an incident journal: the first entry is not incident.started")
    state = Replay(started=dict(entries[0].data), started_at=entries[0].ts)
    open_step: dict[str, Any] | None = None
    for e in entries:
        d = e.data
        state.last_seq = e.seq
        if e.kind == STEP_STARTED:
            open_step = {**d, "ts": e.ts}
            state.next_step = d["step"]
        elif e.kind == STEP_FINISHED:
            open_step = None
            state.history.append(d["step"])
            state.next_step = d.get("next")
            state.steps.append(_record(d, e.ts, d.get("outcome", "error")))
        elif e.kind == STEP_SKIPPED:
            state.history.append(d["step"])
            state.next_step = d.get("next")
            state.steps.append(_record(d, e.ts, "skipped"))
        elif e.kind == STEP_BACK:
            if state.history:
                state.history.pop()
            state.next_step = d.get("next")
        elif e.kind == EVAL:
            state.envelope = "pass" if d.get("inside_envelope") else "fail"
        elif e.kind == DIFF:
            state.diff = DiffReport.model_validate(d)
        elif e.kind == REVERT_PLAN:
            state.plan = dict(d)
        elif e.kind == ROLLBACK_STARTED:
            state.attempted.append(d["component"])
        elif e.kind == ROLLBACK_FINISHED:
            state.rolled_back.append(dict(d))
        elif e.kind == NOTE:
            state.notes.append({**d, "ts": e.ts})
        elif e.kind == INCIDENT_FINISHED:
            state.finished = True
    if open_step is not None:
        state.next_step = open_step["step"]
    return state


def _record(data: dict[str, Any], ts: str, outcome: str) -> StepRecord:
    return StepRecord(
        step=data["step"],
        title=data.get("title", data["step"]),
        type=data.get("type", ""),
        outcome=outcome,
        started_at=data.get("started_at", ts),
        duration_s=float(data.get("duration_s", 0.0)),
        detail=data.get("detail", ""),
    )


__all__ = [
    "DIFF",
    "EVAL",
    "EVIDENCE_HOLD",
    "INCIDENT_FINISHED",
    "INCIDENT_RESUMED",
    "INCIDENT_STARTED",
    "NOTE",
    "REVERT_PLAN",
    "ROLLBACK_FINISHED",
    "ROLLBACK_STARTED",
    "STEP_BACK",
    "STEP_FINISHED",
    "STEP_SKIPPED",
    "STEP_STARTED",
    "IncidentSummary",
    "Replay",
    "StepRecord",
    "incidents_dir",
    "new_incident_id",
    "replay",
]
