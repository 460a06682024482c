"""A triage session: the runbook interpreter and what the incident has found so far.

    session = start_incident(...)  or  resume_incident(...)      # drillkit.runbooks.incident
    summary = await session.run()          # -> IncidentSummary (also <incident>/summary.json)

One step at a time: the responder is offered the step (`run`, `skip`, `back`, `note`, `quit`);
running it runs its check, then its action (`drillkit.runbooks.checks`, `.actions`, which the
session receives as its `Runners` rather than imports: they read the session); the outcome
picks the next step (`next[outcome]`, else `next.default`, else the following step, `end`
finishes). Every step is journaled as it starts and as it ends, with the step that comes next,
so a session killed at any point resumes from its journal alone: a step that started but never
finished runs again. `summary.json` is rewritten after every step.

Outcome of the incident: `resolved` when the runbook reached `end` and the last check that
measured the system (`MEASURING`) passed; an `ask` answer only routes the runbook, it measures
nothing, so it never resolves an incident by itself. `open` when it reached `end` otherwise, when it is paused (quit,
Ctrl-C, a crash: no `incident.finished`, resumable), or when it looped for `MAX_STEPS` steps;
`aborted` when the responder quit and chose not to keep it open.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drillkit import __version__
from drillkit.components.types import DiffReport, Snapshot
from drillkit.config.runbook import END, Runbook, RunbookStep
from drillkit.config.system import System
from drillkit.journal import Journal
from drillkit.journal.events import Event, IncidentFinished, Note, StepBack, StepFinished, StepSkipped, StepStarted
from drillkit.journal.writer import format_ts
from drillkit.runbooks.outcome import StepResult
from drillkit.runbooks.plan import RevertPlan
from drillkit.runbooks.record import Envelope, IncidentSummary, Outcome, StepRecord, incidents_dir
from drillkit.runbooks.redaction import Redaction
from drillkit.runbooks.responder import Responder

#: Steps run in one session before the interpreter stops a runbook that loops.
MAX_STEPS = 50
#: Step types whose outcome is a measurement of the system: the last one decides `resolved`.
MEASURING = ("eval", "diff", "slo", "http", "command", "promql")


#: Runs a step's check or its action against the session: `checks.run_check`, `actions.run_action`.
Runner = Callable[["Session", RunbookStep], Awaitable[StepResult]]


@dataclass(frozen=True)
class Runners:
    """What runs a step's check and its action (`drillkit.runbooks.incident` gives the real ones)."""

    check: Runner
    action: Runner


class Paused(Exception):
    """The responder quit: the session stops here (`keep_open`: resumable) and the CLI exits 3."""

    def __init__(self, keep_open: bool) -> None:
        super().__init__("paused")
        self.keep_open = keep_open


class Session:
    """One incident being triaged: the runbook, the system, the journal and what is known so far."""

    def __init__(
        self,
        *,
        home: Path,
        incident_id: str,
        system: System,
        system_path: Path,
        runbook: Runbook,
        runbook_path: Path,
        responder: Responder,
        runners: Runners,
        journal: Journal,
        redaction: Redaction,
        title: str,
        operator: str,
        mode: str,
        started_at: str,
    ) -> None:
        self.home = home
        self.incident_id = incident_id
        self.dir = incidents_dir(home) / incident_id
        self.system = system
        self.system_path = system_path
        self.runbook = runbook
        self.runbook_path = runbook_path
        self.responder = responder
        self.runners = runners
        self.journal = journal
        self.redaction = redaction
        self.title = title
        self.operator = operator
        self.mode = mode
        self.started_at = started_at
        # What the checks found so far (rebuilt by `resume` from the journal).
        self.envelope: Envelope | None = None
        self.diff: DiffReport | None = None
        self.snapshot: Snapshot | None = None  # the evidence hold's, reused by a diff until the system changes
        self.snapshot_at = 0.0  # time.monotonic() when it was taken
        self.plan: RevertPlan | None = None
        self.attempted: list[str] = []  # components whose rollback was started (or refused: no rollback)
        self.rolled_back: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.steps: list[StepRecord] = []
        self.history: list[str] = []  # step ids run or skipped, for `back`
        self.next_step: str | None = None
        self.finished_at: str | None = None
        self.outcome: Outcome = "open"
        self.ledger_error: str | None = None  # why the finished incident is not in the ledger

    # -- running -----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Journal one typed event (`drillkit.journal.events`) through the session's redaction."""
        self.journal.record(event)

    async def run(self) -> IncidentSummary:
        """Walk the runbook from where the session stands; always leaves summary.json behind."""
        current = self.next_step or self.runbook.steps[0].id
        ran, offered = 0, len(self.steps)
        try:
            while current != END:
                if ran >= MAX_STEPS:
                    self._note(current, f"stopped after {MAX_STEPS} steps: the runbook loops")
                    self.outcome = "open"
                    break
                step = self.runbook.step(current)
                self.next_step = current
                offered += 1
                self.responder.begin(offered, step, now())
                choice = self._menu(step)
                if choice == "back":
                    current = self._back(step)
                    continue
                if choice == "skip":
                    current = self._skip(step)
                    continue
                ran += 1
                current = await self._run_step(step)
                self._write_summary()
            else:
                self.outcome = "resolved" if self.last_check == "pass" else "open"
            self._finish()
        except Paused as paused:
            if not paused.keep_open:
                self.outcome = "aborted"
                self._finish()
        finally:
            self.journal.close()
            self._write_summary()
        self._record_in_ledger()
        return self.summary()

    def _menu(self, step: RunbookStep) -> str:
        while True:
            choice = self.responder.menu(step)
            if choice != "note":
                break
            text = self.responder.text("note").strip()
            if text:
                self._note(step.id, text)
        if choice == "quit":
            keep = self.responder.confirm("Keep the incident open, to resume later with --resume?")
            raise Paused(keep_open=keep)
        return choice

    def _note(self, step_id: str, text: str) -> None:
        self.emit(Note(step=step_id, text=text))
        self.notes.append({"step": step_id, "text": text, "ts": now()})

    def _back(self, step: RunbookStep) -> str:
        if not self.history:
            self.responder.say("[yellow]already at the first step[/]")
            return step.id
        target = self.history.pop()
        self.emit(StepBack(step=step.id, next=target))
        return target

    def _skip(self, step: RunbookStep) -> str:
        target = self.next_of(step, "skipped")
        record = StepRecord(
            step=step.id,
            title=step.title,
            type=step.type,
            outcome="skipped",
            started_at=now(),
            duration_s=0.0,
            detail="skipped by the responder",
        )
        self.emit(StepSkipped(**record.model_dump(), next=target))
        self.steps.append(record)
        self.history.append(step.id)
        self.responder.finished(record)
        return target

    async def _run_step(self, step: RunbookStep) -> str:
        started_at, t0 = now(), time.monotonic()
        self.emit(StepStarted(step=step.id, title=step.title, type=step.type))
        result = StepResult("pass", "guidance only")
        if step.check is not None:
            result = await _guarded(self.runners.check(self, step))
        if step.action is not None and result.outcome not in ("error", "skipped"):
            done = await _guarded(self.runners.action(self, step))
            if step.check is None:
                result = done
            else:
                result = StepResult(
                    result.outcome, f"{result.detail}; {done.detail}", {**(result.result or {}), "action": done.result}
                )
        record = StepRecord(
            step=step.id,
            title=step.title,
            type=step.type,
            outcome=result.outcome,
            started_at=started_at,
            duration_s=round(time.monotonic() - t0, 3),
            detail=result.detail,
        )
        target = self.next_of(step, result.outcome)
        self.emit(StepFinished(**record.model_dump(), next=target, result=result.result or {}))
        self.steps.append(record)
        self.history.append(step.id)
        self.next_step = target
        self.responder.finished(record)
        return target

    def next_of(self, step: RunbookStep, outcome: str) -> str:
        """`next[outcome]`, else `next.default`, else the following step, else `end`."""
        if outcome in step.next:
            return step.next[outcome]
        if "default" in step.next:
            return step.next["default"]
        i = self.runbook.index(step.id)
        return self.runbook.steps[i + 1].id if i + 1 < len(self.runbook.steps) else END

    # -- finishing ---------------------------------------------------------------------------

    def _finish(self) -> None:
        self.finished_at = now()
        self.next_step = END
        self.emit(
            IncidentFinished(
                envelope=self.envelope, changed=self.changed, revert_order=self.revert_order, outcome=self.outcome
            )
        )

    @property
    def last_check(self) -> str | None:
        """The outcome of the last step that measured the system (None: none has)."""
        return next((s.outcome for s in reversed(self.steps) if s.type in MEASURING and s.outcome != "skipped"), None)

    @property
    def changed(self) -> list[str]:
        return self.diff.changed if self.diff is not None else []

    @property
    def revert_order(self) -> list[str]:
        return self.plan.order if self.plan is not None else []

    def summary(self) -> IncidentSummary:
        return IncidentSummary(
            envelope=self.envelope,
            changed=self.changed,
            evidence=self._evidence(),
            revert_order=self.revert_order,
            steps=self.steps,
            incident_id=self.incident_id,
            runbook=self.runbook.id,
            title=self.title,
            system=self.system.name,
            operator=self.operator,
            mode=self.mode,
            started_at=self.started_at,
            finished_at=self.finished_at,
            outcome=self.outcome,
            unknown=self.diff.unknown if self.diff else [],
            revert_plan=self.plan.lines if self.plan else [],
            rebaseline=self.plan.to_rebaseline if self.plan else [],
            baseline=self._against(),
            rolled_back=self.rolled_back,
            notes=self.notes,
            journal=str(self.journal.path),
            journal_head=self.journal.head,
            drillkit_version=__version__,
        )

    def _evidence(self) -> dict[str, Any]:
        """Per component what the diff found; `confidence` in a word (high, medium, low), with the
        number as `confidence_score` and the `basis` it was judged on."""
        evidence: dict[str, Any] = {}
        for name, cd in (self.diff.components if self.diff is not None else {}).items():
            data = cd.model_dump(mode="json", exclude={"component", "confidence"})
            evidence[name] = {**data, "confidence": cd.certainty, "confidence_score": round(cd.confidence, 3)}
        return evidence

    def _against(self) -> dict[str, Any] | None:
        if self.diff is None:
            return None
        if self.diff.reference == "no-baseline":
            return {"reference": "no-baseline", "note": self.diff.note}
        return {"reference": "baseline", "taken_at": self.diff.baseline_at, "healthy": self.diff.baseline_healthy}

    def _write_summary(self) -> None:
        self.summary().write(self.dir / "summary.json", redact=self.redaction.redact)

    def _record_in_ledger(self) -> None:
        """Enter a finished incident in the evidence ledger (once its journal is closed).

        A ledger that refuses (edited, unsigned, a full disk) does not undo the incident: its
        record is complete on disk; `ledger_error` says why it is not in the ledger, and
        `drillkit evidence record` enters it later.
        """
        from drillkit.errors import DrillkitError
        from drillkit.journal import ledger

        if self.finished_at is None:
            return
        summary = self.redaction.redact(self.summary().model_dump(mode="json"))
        try:
            ledger.record(self.home, "incident", self.incident_id, self.journal.path, summary)
        except (DrillkitError, OSError, ValueError) as exc:
            self.ledger_error = str(exc)


async def _guarded(work: Any) -> StepResult:
    """A check or action that raised is an `error` outcome: one broken probe must not end the incident."""
    from drillkit.errors import DrillkitError

    try:
        return await work
    except DrillkitError as exc:
        return StepResult("error", str(exc))
    except (OSError, ValueError) as exc:
        return StepResult("error", f"{type(exc).__name__}: {exc}")


def now() -> str:
    """The wall-clock time as journal entries stamp it (RFC 3339 UTC, milliseconds)."""
    return format_ts(datetime.now(UTC))


__all__ = ["MAX_STEPS", "MEASURING", "Paused", "Runner", "Runners", "Session", "StepResult"]
