"""Game-day plan events (`drillkit gameday run PLAN`) and the notifications any record sends."""

from __future__ import annotations

from typing import Any

from drillkit.journal.events.base import Event, Number, kind


@kind("plan.started")
class PlanStarted(Event):
    plan_run_id: str | None = None
    plan: str | None = None
    title: str | None = None
    system: str | None = None
    owner: str | None = None
    operator: str | None = None
    scenarios: list[str] = []
    on_fail: str | None = None
    plan_file: str | None = None
    drillkit: str | None = None

    def describe(self) -> str:
        return f"Game-day {self.plan} started by {self.operator}: {len(self.scenarios)} scenario(s)"


@kind("plan.run")
class PlanRun(Event):
    """One scenario of the plan ran (its own journal is under runs/<run_id>/)."""

    index: int | None = None
    scenario: str | None = None
    run_id: str | None = None
    purpose: str | None = None
    verdict: str | None = None
    outcome: str | None = None
    ttd_s: Number | None = None
    rollback_s: Number | None = None
    ttr_s: Number | None = None
    reasons: list[str] = []

    def describe(self) -> str:
        return f"{self.scenario} ({self.purpose}): {self.verdict}, {self.outcome} [{self.run_id}]"


@kind("plan.skipped")
class PlanSkipped(Event):
    index: int | None = None
    scenario: str | None = None
    why: str | None = None

    def describe(self) -> str:
        return f"{self.scenario} skipped: {self.why}"


@kind("plan.finished")
class PlanFinished(Event):
    verdict: str | None = None
    outcome: str | None = None
    ran: int | None = None
    skipped: int | None = None
    unexpected: list[str] = []

    def describe(self) -> str:
        return f"Game-day finished: {self.verdict} ({self.ran} ran, {self.skipped} skipped)"


@kind("notify.sent")
class NotifySent(Event):
    """A webhook notification: the URL as written (a `${VAR}` stays unexpanded), how it went."""

    event: str | None = None
    webhook: str | None = None
    ok: bool | None = None
    status: int | None = None
    attempts: int | None = None
    error: str | None = None
    payload: Any = None

    def describe(self) -> str:
        return f"Notified {self.event} to {self.webhook}: {'ok' if self.ok else 'FAILED'}"
