"""Incident events (`drillkit triage`), one model per kind: the format `runbooks/record.py` describes."""

from __future__ import annotations

from typing import Any

from drillkit.journal.events.base import Event, Number, kind


@kind("incident.started")
class IncidentStarted(Event):
    incident_id: str | None = None
    runbook: str | None = None
    title: str | None = None
    system: str | None = None
    operator: str | None = None
    mode: str | None = None
    drillkit: str | None = None
    redaction: Any = None
    runbook_file: str | None = None
    system_file: str | None = None

    def describe(self) -> str:
        return f"Triage started by {self.operator} (runbook {self.runbook}, {self.mode})"


@kind("incident.resumed")
class IncidentResumed(Event):
    after_seq: int | None = None
    step: str | None = None

    def describe(self) -> str:
        return f"Triage resumed at step {self.step}"


@kind("step.started")
class StepStarted(Event):
    step: str | None = None
    title: str | None = None
    type: str | None = None

    def describe(self) -> str:
        return f"Step {self.step} ({self.type}) started"


@kind("step.finished")
class StepFinished(Event):
    step: str | None = None
    title: str | None = None
    type: str | None = None
    outcome: str | None = None
    detail: str | None = None
    started_at: str | None = None
    duration_s: Number | None = None
    next: str | None = None
    result: dict[str, Any] = {}

    def describe(self) -> str:
        detail = " ".join(str(self.detail or "").split())
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        return f"Step {self.step} ({self.type}): {self.outcome}" + (f" — {detail}" if detail else "")


@kind("step.skipped")
class StepSkipped(Event):
    step: str | None = None
    title: str | None = None
    type: str | None = None
    outcome: str | None = None
    detail: str | None = None
    started_at: str | None = None
    duration_s: Number | None = None
    next: str | None = None

    def describe(self) -> str:
        return f"Step {self.step}: skipped"


@kind("step.back")
class StepBack(Event):
    step: str | None = None
    next: str | None = None

    def describe(self) -> str:
        return f"Step {self.step}: went back"


@kind("eval")
class EvalResult(Event):
    pass_rate: Number | None = None
    threshold: Number | None = None
    inside_envelope: bool | None = None
    total: int | None = None
    failed: int | None = None
    by_tag: dict[str, Any] = {}
    suite: str | None = None
    duration_s: Number | None = None
    failing: list[str] = []

    def describe(self) -> str:
        rate = "—" if self.pass_rate is None else f"{self.pass_rate:.1%}"
        return f"Evals: {rate} ({'inside' if self.inside_envelope else 'outside'} the envelope)"


@kind("revert_plan")
class RevertPlan(Event):
    order: list[str] = []
    lines: list[str] = []
    entries: list[Any] = []
    unknown: dict[str, str] = {}  # component -> why the diff could not tell
    accepted: str | None = None

    def describe(self) -> str:
        return f"Revert plan: {' → '.join(self.order) or 'nothing to revert'}"


@kind("evidence.hold")
class EvidenceHold(Event):
    path: str | None = None
    components: list[str] = []
    traffic_minutes: Number | None = None
    files: dict[str, Any] = {}
    snapshot_taken_at: str | None = None
    failed: dict[str, str] = {}

    def describe(self) -> str:
        return f"Evidence held: {', '.join(self.components)}"


@kind("note")
class Note(Event):
    step: str | None = None
    text: str | None = None

    def describe(self) -> str:
        return f"Note ({self.step}): {self.text}"


@kind("incident.finished")
class IncidentFinished(Event):
    envelope: str | None = None
    changed: list[str] = []
    revert_order: list[str] = []
    outcome: str | None = None

    def describe(self) -> str:
        return f"Incident finished: {self.outcome} (envelope {self.envelope})"
