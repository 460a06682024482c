"""Game-day run events (`drillkit gameday run`), one model per kind."""

from __future__ import annotations

from typing import Any, ClassVar

from drillkit.journal.events.base import Event, Number, format_seconds, kind, nums, ok_text


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
    #: The manifest the run acted on, resolved by the precedence of DESIGN §9.3.
    system_file: str | None = None
    #: Where each fault will go (server URL, proxy or route), resolved before anything is injected.
    placements: list[dict[str, Any]] = []
    purpose: str | None = None
    #: The failing layer and the rollback path the run proves, so a run killed before its summary is
    #: still filed under its path.
    layer: str | None = None
    rollback_path: str | None = None
    slos: dict[str, Number] = {}
    redaction: Any = None

    def describe(self) -> str:
        on = f" on system {self.system}" if self.system else ""
        on += f" ({self.system_file})" if self.system and self.system_file else ""
        return f"Game-day {self.scenario} started by {self.operator}{on} ({self.mode} rollback)"


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
    layer: str | None = None
    toxicity: Number | None = None
    attributes: dict[str, Any] = {}
    ok: bool | None = None
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
        return f"Fault lost before the rollback: {nums(self.faults)}"


@kind("window")
class Window(Event):
    """One SLO window; the SLOs' values are extra keys named after them (`latency_p95_ms`, …)."""

    index: int | None = None
    count: int | None = None
    errors: int | None = None
    eval_count: int | None = None
    by_provider: dict[str, Any] = {}
    by_model: dict[str, Any] = {}
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
        return f"SLO breach: {', '.join(self.slos)} (windows {nums(self.windows)})"


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
        return f"{self.LABEL} {self.name!r}: {ok_text(self.ok)} in {format_seconds(self.duration_s)}"


@kind("rollback.step")
class RollbackStep(StepDone):
    LABEL: ClassVar[str] = "Rollback step"


@kind("restore.step")
class RestoreStep(StepDone):
    """A restore step at cleanup; `skipped` when it runs only after a rollback and none began."""

    skipped: bool = False
    LABEL: ClassVar[str] = "Restore step"

    def describe(self) -> str:
        return f"{self.LABEL} {self.name!r}: skipped (no rollback began)" if self.skipped else super().describe()


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
                f"Rollback of {self.component}: {ok_text(self.ok)} in {format_seconds(self.duration_s)} "
                f"(expected {format_seconds(self.expected_s)})"
            )
        if self.aborted:
            return "Rollback aborted"
        return f"Rollback finished: {ok_text(self.ok)} in {format_seconds(self.rollback_s)}"


@kind("rollback.impact")
class RollbackImpact(Event):
    """What the windows after the rollback began showed (gameday/impact.py): how many, the worst
    judged value per SLO, the breaches the rollback started, and the bounds they exceeded."""

    windows: int = 0
    first_window: int | None = None
    slos: dict[str, Number] = {}
    breached: list[str] = []
    bounds: dict[str, Number] = {}
    exceeded: list[str] = []

    def describe(self) -> str:
        worst = ", ".join(f"{k} {v:g}" for k, v in self.slos.items()) or "nothing judged"
        started = f"; it breached {', '.join(self.breached)}" if self.breached else ""
        over = f"; over its bound: {', '.join(self.exceeded)}" if self.exceeded else ""
        return f"Rollback impact over {self.windows} windows: worst {worst}{started}{over}"


@kind("recovered")
class Recovered(Event):
    ttr_s: Number | None = None
    windows: list[int] = []

    def describe(self) -> str:
        return f"Recovered: TTR {format_seconds(self.ttr_s)} (windows {nums(self.windows)})"


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
            total = self.evals.get("total")
            failing = f" ({self.evals.get('failed', 0)} of {total} cases failing)" if total else ""
            parts.append(f"evals {self.evals.get('pass_rate', 0):.1%}{failing}")
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
    #: What the fault server reports about itself (`{"version": "2.8.0"}` from Toxiproxy).
    version: dict[str, Any] | str | None = None


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
