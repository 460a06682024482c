"""Every journal entry kind drillkit writes, each with its pydantic model: the one registry.

Writers build an event and journal it (`Journal.record(event)`, `RunContext.emit`); readers (the
live view, review timelines and facts, evidence reports, incident replay) get it back typed from
`JournalEntry.event` and match on the class. A kind string appears here and nowhere else:

    match entry.event:
        case Detected(ttd_s=ttd, slos=slos): ...

The models describe what is on disk (DESIGN §6, `runbooks/record.py` for incidents): fields are
optional, unknown keys are kept (`extra="allow"`), and `data()` gives back exactly the keys the
writer set, so a model never changes a journal's bytes. An entry of a kind this version does not
know (a newer drillkit's, a hand-written one) reads as a plain `Event` with its data as extras.

Each model also says, in one line, what happened (`describe()`): the sentence a review timeline
and the live view show for it.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

#: kind → model. Filled by `@kind(...)` below; `parse` and `KINDS` read it.
REGISTRY: dict[str, type[Event]] = {}

E = TypeVar("E", bound="type[Event]")
#: Numbers keep their JSON form: an int the writer set is not read back as a float.
Number = int | float


class Event(BaseModel):
    """One journal entry's data. Subclasses are registered under their kind."""

    model_config = ConfigDict(extra="allow")
    KIND: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        """The entry's JSON object: only what the writer set (plus any extra keys)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def describe(self) -> str:
        return self.KIND or "event"


def kind(name: str) -> Any:
    def register(cls: E) -> E:
        if name in REGISTRY:
            raise ValueError(f"journal kind {name!r} registered twice")
        cls.KIND = name
        REGISTRY[name] = cls
        return cls

    return register


def parse(name: str, data: dict[str, Any]) -> Event:
    """The typed event for one entry; an unknown kind, or data its model refuses, reads as `Event`."""
    model = REGISTRY.get(name)
    if model is not None:
        try:
            return model.model_validate(data)
        except ValidationError:
            pass  # an older or hand-edited entry: still readable, just untyped
    return Event.model_validate(data)


def format_seconds(value: float | None, digits: int = 1) -> str:
    """`2.4 s`, `1.5 min`, `2.0 h`; `—` when nothing was measured."""
    if value is None:
        return "—"
    if abs(value) < 60:
        return f"{value:.{digits}f} s"
    if abs(value) < 3600:
        return f"{value / 60:.{digits}f} min"
    return f"{value / 3600:.{digits}f} h"


def _nums(values: list[Any] | None) -> str:
    return ", ".join(str(v) for v in values or []) or "—"


def _ok(ok: bool | None) -> str:
    return "ok" if ok else "FAILED"


# -- game-day runs -----------------------------------------------------------------------------


@kind("run.started")
class RunStarted(Event):
    run_id: str | None = None
    scenario: str | None = None
    title: str | None = None
    severity: str | None = None
    system: str | None = None
    operator: str | None = None
    mode: str | None = None
    drillkit: str | None = None
    scenario_file: str | None = None
    slos: dict[str, Number] = {}
    redaction: Any = None

    def describe(self) -> str:
        return f"Game-day {self.scenario} started by {self.operator} ({self.mode} rollback)"


@kind("phase")
class Phase(Event):
    phase: str | None = None
    seconds: Number | None = None
    mode: str | None = None

    def describe(self) -> str:
        return f"Phase: {self.phase}"


@kind("inject.clock")
class InjectClock(Event):
    t_inject_after_phase_s: Number | None = None


@kind("fault.injected")
class FaultInjected(Event):
    type: str | None = None
    name: str | None = None
    target: str | None = None
    at_s: Number | None = None

    def describe(self) -> str:
        if self.type == "change":
            return f"Change applied as the fault: {self.name}"
        return f"Fault injected: {self.type} on {self.target or self.name}"


@kind("fault.removed")
class FaultRemoved(Event):
    type: str | None = None
    name: str | None = None
    target: str | None = None
    why: str | None = None
    ok: bool = True
    error: str | None = None

    def describe(self) -> str:
        return f"Fault removed: {self.name} ({self.why or self.error or ''})" + ("" if self.ok else " — FAILED")


@kind("fault.lost")
class FaultLost(Event):
    faults: list[Any] = []

    def describe(self) -> str:
        return f"Fault lost before the rollback: {_nums(self.faults)}"


@kind("window")
class Window(Event):
    """One SLO window; the SLOs' values are extra keys named after them (`latency_p95_ms`, …)."""

    index: int | None = None
    count: int | None = None
    errors: int | None = None
    state: str | None = None
    breached: list[str] = []

    def value(self, slo: str) -> Number | None:
        v = (self.model_extra or {}).get(slo)
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None

    def describe(self) -> str:
        return f"Window {self.index}: {self.state}"


@kind("slo.breach")
class SloBreach(Event):
    slos: list[str] = []
    windows: list[int] = []

    def describe(self) -> str:
        return f"SLO breach: {', '.join(self.slos)} (windows {_nums(self.windows)})"


@kind("detected")
class Detected(Event):
    ttd_s: Number | None = None
    slos: list[str] = []
    after_first_breaching_window_s: Number | None = None

    def describe(self) -> str:
        return f"Detected: {', '.join(self.slos)}, TTD {format_seconds(self.ttd_s)}"


@kind("detected.late")
class DetectedLate(Event):
    at_s: Number | None = None
    slos: list[str] = []

    def describe(self) -> str:
        return f"Breach of {', '.join(self.slos)} seen after detection closed (at {format_seconds(self.at_s)})"


@kind("absorbed")
class Absorbed(Event):
    held_s: Number | None = None

    def describe(self) -> str:
        return f"No breach: the fault was absorbed ({format_seconds(self.held_s)})"


@kind("rollback.skipped")
class RollbackSkipped(Event):
    why: str | None = None

    def describe(self) -> str:
        return f"Rollback skipped: {self.why}"


@kind("rollback.started")
class RollbackStarted(Event):
    """Runs: {mode, at_s, steps}. Incidents: {component, run | http}."""

    mode: str | None = None
    at_s: Number | None = None
    steps: int | None = None
    component: str | None = None

    def describe(self) -> str:
        if self.component is not None:
            return f"Rollback of {self.component} started"
        return f"Rollback started ({self.mode}" + (f", {self.steps} step(s))" if self.steps else ")")


class StepDone(Event):
    """A command or HTTP step that ran (`traffic.steps.StepResult`)."""

    name: str | None = None
    ok: bool | None = None
    duration_s: Number | None = None
    detail: str | None = None

    LABEL: ClassVar[str] = "Step"

    def describe(self) -> str:
        return f"{self.LABEL} {self.name!r}: {_ok(self.ok)} in {format_seconds(self.duration_s)}"


@kind("rollback.step")
class RollbackStep(StepDone):
    LABEL: ClassVar[str] = "Rollback step"


@kind("restore.step")
class RestoreStep(StepDone):
    LABEL: ClassVar[str] = "Restore step"


@kind("leftovers.restored")
class LeftoversRestored(StepDone):
    """A restore an earlier run owed, paid at preflight."""

    LABEL: ClassVar[str] = "Owed restore step"


@kind("leftovers.removed")
class LeftoversRemoved(Event):
    faults: list[Any] = []

    def describe(self) -> str:
        return f"Faults an earlier run left behind removed: {len(self.faults)}"


@kind("rollback.finished")
class RollbackFinished(Event):
    """Runs: {ok, rollback_s} or {ok: false, aborted}. Incidents: {component, ok, duration_s,
    expected_s, user_visible_cost, output}."""

    ok: bool | None = None
    rollback_s: Number | None = None
    aborted: bool = False
    component: str | None = None
    duration_s: Number | None = None
    expected_s: Number | None = None
    user_visible_cost: str | None = None
    output: str | None = None

    def describe(self) -> str:
        if self.component is not None:
            return (
                f"Rollback of {self.component}: {_ok(self.ok)} in {format_seconds(self.duration_s)} "
                f"(expected {format_seconds(self.expected_s)})"
            )
        if self.aborted:
            return "Rollback aborted"
        return f"Rollback finished: {_ok(self.ok)} in {format_seconds(self.rollback_s)}"


@kind("recovered")
class Recovered(Event):
    ttr_s: Number | None = None
    windows: list[int] = []

    def describe(self) -> str:
        return f"Recovered: TTR {format_seconds(self.ttr_s)} (windows {_nums(self.windows)})"


@kind("recovered.late")
class RecoveredLate(Event):
    at_s: Number | None = None

    def describe(self) -> str:
        return f"Recovery seen after the recovery phase closed (at {format_seconds(self.at_s)})"


@kind("verify")
class Verify(Event):
    evals: dict[str, Any] | None = None
    fingerprint: dict[str, dict[str, Any]] | None = None

    def describe(self) -> str:
        parts = []
        if self.evals:
            parts.append(f"evals {self.evals.get('pass_rate', 0):.1%}")
        parts += [f"{k} {'ok' if v.get('ok') else 'FAILED'}" for k, v in (self.fingerprint or {}).items()]
        return "Verify: " + (", ".join(parts) or "nothing to check")


@kind("guardrail.tripped")
class GuardrailTripped(Event):
    window: int | None = None
    guardrails: list[str] = []

    def describe(self) -> str:
        return f"Guardrail tripped: {', '.join(self.guardrails)}"


@kind("traffic.stopped")
class TrafficStopped(Event):
    """The load generator's totals (`traffic.load.LoadStats`)."""


@kind("preflight.layer")
class PreflightLayer(Event):
    layer: str | None = None
    url: str | None = None
    version: str | None = None


@kind("preflight.warning")
class PreflightWarning(Event):
    message: str | None = None

    def describe(self) -> str:
        return f"Preflight warning: {self.message}"


@kind("run.finished")
class RunFinished(Event):
    verdict: str | None = None
    reasons: list[str] = []

    def describe(self) -> str:
        return f"Run finished: {self.verdict}" + (f": {'; '.join(self.reasons)}" if self.reasons else "")


@kind("fingerprint")
class Fingerprint(Event):
    """The five inputs' fingerprints, compact: per component ok, gaps, digest, one line."""

    at: str | None = None
    taken_at: str | None = None
    components: dict[str, dict[str, Any]] = {}


@kind("diff")
class Diff(Event):
    """A DiffReport's JSON (`drillkit diff --json`) plus, in runs, `against` ("baseline": the home's
    last known good, or "preflight") or the `error` that kept it from being computed."""

    against: str | None = None
    error: str | None = None
    changed: list[str] = []

    def describe(self) -> str:
        if self.error:
            return f"Diff against the {self.against}: {self.error}"
        return f"Changed: {', '.join(self.changed) or 'nothing'}"


@kind("journal.repaired")
class JournalRepaired(Event):
    """Written by the journal itself when reopening cut off a partial last line a crash left."""


@kind("ledger.failed")
class LedgerFailed(Event):
    """Never in a journal: a finished run (its journal closed) that could not be recorded in the
    evidence ledger. The live view and CI logs get it (`gameday.run`), so it does not go unnoticed."""

    error: str | None = None

    def describe(self) -> str:
        return f"The run was not recorded in the evidence ledger: {self.error}"


# -- incidents (drillkit triage) -----------------------------------------------------------------


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


#: Every known kind, in registration order.
KINDS: tuple[str, ...] = tuple(REGISTRY)
