"""The game-day scenario (`scenarios/*.yaml`, contract): a fault, the traffic, the expected outcome.

Fault type names are unique across both fault layers, so `type` alone picks the layer:
`L4_TYPES` go to a Toxiproxy server, `L7_TYPES` to the LLM fault proxy, and `change` runs one of the
system's own levers (a prompt or corpus deploy is a fault too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, PrivateAttr, field_validator, model_validator

from drillkit.config.loader import CrossChecked, Loc
from drillkit.config.scenario_faults import ENGINE_TYPES, FAULT_TYPES, L4_TYPES, L7_TYPES, Fault, FaultMatch
from drillkit.config.system import COMPONENTS, HttpCall, Slos
from drillkit.config.traffic import Traffic
from drillkit.config.types import Argv, Duration, Strict

SLO_NAMES = tuple(Slos.model_fields)
SloName = Literal[
    "latency_p95_ms",
    "latency_p99_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "error_rate",
    "eval_pass_rate",
    "cost_per_request_usd",
    "cost_per_success_usd",
]
Component = Literal["model", "prompt", "retrieval", "tools", "inputs"]
LAYERS = (*COMPONENTS, "provider")
_ID = re.compile(r"^[a-z0-9][a-z0-9\-_.]*$")


def check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"expected a lower-case id of letters, digits, '-', '_' or '.' (got {value!r})")
    return value


class Timeline(Strict):
    """The run's clock: warmup, the SLO window, how many windows make a breach or a recovery, the time limit."""

    warmup: Duration = Field(
        default=5.0,
        description="Traffic before the first fault; a system already breaching an SLO at its end aborts the run.",
    )
    window: Duration = Field(default=1.0, description="Length of each SLO window the traffic is judged in (> 0).")
    max_duration: Duration = Field(
        default=120.0,
        description="Time limit from the start of traffic: reaching it aborts the run; every fault must start and end "
        "within it.",
    )
    bad_windows: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Consecutive breaching windows that declare a breach (the detection).",
    )
    healthy_windows: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Consecutive healthy windows, after the rollback began, that declare recovery.",
    )

    @model_validator(mode="after")
    def _positive_window(self) -> Timeline:
        if self.window <= 0:
            raise ValueError("window: expected a duration > 0")
        return self


class Step(Strict):
    """One action: an argv list or an HTTP call."""

    name: str = Field(description="What the step does, as shown and journalled.")
    run: Argv | None = Field(
        default=None,
        description="The command (argv list; a first word `drillkit` runs this drillkit); give `run` or `http`.",
    )
    http: HttpCall | None = Field(default=None, description="An HTTP request instead of a command.")
    timeout: Duration = Field(
        default=60.0, description="How long the step may take before it is cut and counted as failed."
    )

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if (self.run is None) == (self.http is None):
            raise ValueError("give exactly one of 'run' (an argv list) or 'http' (a request)")
        return self


class RestoreStep(Step):
    """A step that puts the system back after the run (cleanup), whatever the verdict."""

    when: Literal["always", "rolled_back"] = Field(
        default="always",
        description="`always`, or `rolled_back`: only when the rollback began (e.g. undoing what it did: restarting a "
        "gateway for nothing is not free).",
    )


class RollbackPlan(Strict):
    """How the rollback is done once the breach is detected, and timed; the fault stays injected throughout."""

    mode: Literal["auto", "manual"] = Field(
        default="auto",
        description="`auto`: drillkit runs the steps. `manual`: an operator rolls back and presses Enter; drillkit "
        "times it. `--auto`/`--manual` override.",
    )
    decide_after: Duration = Field(
        default=0.0,
        description="`auto` only: a simulated decision delay between detection and the first step (counts in TTR, not "
        "in the rollback time).",
    )
    instructions: str | None = Field(
        default=None, description="Text shown to the operator of a `manual` rollback, above the steps."
    )
    path: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
        description="The designed rollback path these steps rehearse (a key of the manifest's `rollbacks`, e.g. "
        "`degradation`); default the scenario's `layer`. Evidence reports, reviews and `gameday due` file the run "
        "under it: a degradation drill fails at the provider layer but proves the degradation lever, not the "
        "fallback.",
    )
    steps: list[Step] = Field(
        default=[],
        description="Run in order by `auto` (stopping at the first failure); listed for the operator in `manual`.",
    )

    @model_validator(mode="after")
    def _auto_needs_steps(self) -> RollbackPlan:
        if self.mode == "auto" and not self.steps:
            raise ValueError("mode 'auto' needs at least one step")
        return self


class Expect(Strict):
    """What a passing rehearsal looks like.

    Normally: a breach detected within `detect_within` (of the SLOs in `breach`), then recovery
    within `recover_within` of injection. With `absorb: true` the opposite is rehearsed: the system
    must ride through the fault (e.g. its router fails over by itself) with no SLO breached for
    `detect_within`; no rollback is run.
    """

    detect_within: Duration | None = Field(
        default=None,
        description="Longest time from injection to a declared breach (with `absorb`: how long nothing may breach); "
        "unset: until `max_duration`.",
    )
    recover_within: Duration | None = Field(
        default=None,
        description="Longest time from injection to declared recovery (the TTR); unset: until `max_duration`.",
    )
    breach: list[SloName] = Field(
        default=[], description="SLOs that must be among those breached at detection; empty: any breach will do."
    )
    absorb: bool = Field(
        default=False,
        description="Rehearse a fault the system should ride through: any SLO breach within `detect_within` fails the "
        "run; no rollback is run.",
    )
    rollback_impact: dict[SloName, float] | None = Field(
        default=None,
        description="What the rollback may cost users: per SLO, the worst value allowed in the windows after the "
        "rollback began (e.g. `{error_rate: 0.05}` for a gateway restart); worse fails the rehearsal. Unset: a breach "
        "the rollback starts is stated next to the verdict as a finding.",
    )

    @model_validator(mode="after")
    def _absorb_breaches_nothing(self) -> Expect:
        if self.absorb and self.breach:
            raise ValueError("'absorb: true' expects no breach; remove 'breach'")
        if self.absorb and self.rollback_impact:
            raise ValueError("'absorb: true' runs no rollback; remove 'rollback_impact'")
        return self


class Verify(Strict):
    """Checks after recovery, with the fault still injected; a failed check fails the run."""

    evals: bool = Field(
        default=True,
        description="Run the manifest's eval suite (if it has one) against the service; a pass rate below "
        "`eval_pass_rate` (else 0.9) fails.",
    )
    fingerprint: dict[Component, str] = Field(
        default={},
        description="Component → `preflight` (unchanged since the start) or the version its `active` probe must "
        "report; `model`: the model served most in the last windows.",
    )


class Guardrails(Strict):
    """Safety limits: the run stops early when the system degrades beyond them."""

    abort_if: Slos = Field(
        default=Slos(),
        description="Abort the run (verdict `aborted`, faults removed, restore run) when a window reaches any of these "
        "values (SLO keys).",
    )


class Scenario(CrossChecked, Strict):
    """A game-day scenario: traffic, faults, the rollback under test, and what a passing rehearsal looks like."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["Scenario"] = Field(description="Always `Scenario`.")
    id: str = Field(
        description="A lower-case id: part of each run's id; summaries, `gameday list` and evidence reports name "
        "the scenario by it."
    )
    title: str = Field(
        min_length=1, description="One line on what fails; shown in lists, journals, summaries and reviews."
    )
    description: str | None = Field(
        default=None,
        description="Free text about the scenario, for people reading the file (drillkit does not show it).",
    )
    purpose: Literal["rehearsal", "control", "exploratory"] = Field(
        default="rehearsal",
        description="`rehearsal`: proves a rollback path (counts in evidence); `control`: proves the rehearsal can "
        "fail (e.g. a no-op rollback): it passes as designed by failing, exit 0, and never counts against a path; "
        "`exploratory`: listed, counts for nothing. `gameday run --purpose` overrides it.",
    )
    layer: Literal["model", "prompt", "retrieval", "tools", "inputs", "provider"] = Field(
        description="The layer that fails; files the run under that rollback path in evidence reports and reviews, "
        "unless `rollback.path` names another."
    )
    severity: Literal["low", "medium", "high", "critical"] = Field(
        default="medium",
        description="How bad the rehearsed failure is; shown by `gameday list` and recorded in the run.",
    )
    system: str = Field(
        default="demo",
        description="`demo` (the embedded demo, started for the run if it is not up), `demo:chat` (the demo through "
        "its OpenAI-shaped endpoint) or a path to a drillkit.yaml, relative to this file.",
    )
    traffic: Traffic = Field(default=Traffic(), description="The load sent during the run.")
    timeline: Timeline = Field(default=Timeline(), description="Warmup, SLO windows and the time limit.")
    slos: Slos = Field(
        default=Slos(),
        description="Overrides of the system's SLOs for this run; an explicit `null` switches one off.",
    )
    faults: list[Fault] = Field(min_length=1, description="What to inject, and when (at least one fault).")
    rollback: RollbackPlan = Field(description="The rollback under test.")
    expect: Expect = Field(default=Expect(), description="What must happen for the rehearsal to pass.")
    verify: Verify = Field(default=Verify(), description="Checks after recovery, the fault still in place.")
    guardrails: Guardrails = Field(default=Guardrails(), description="When to abort the run early.")
    restore: list[RestoreStep] = Field(
        default=[],
        description="Steps run at cleanup, always, to put the system back; a killed run's are run by the next "
        "game-day's preflight.",
    )
    runbook: str | None = Field(
        default=None,
        description="The runbook for this failure, for people reading the file (drillkit does not read it).",
    )
    docs: HttpUrl | None = Field(
        default=None,
        description="A link to more on this failure, for people reading the file (drillkit does not read it).",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v)

    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def rollback_path(self) -> str:
        """The rollback path a run of this scenario proves: `rollback.path`, else the failing layer."""
        return self.rollback.path or self.layer

    @property
    def base_dir(self) -> Path | None:
        """The folder the scenario was read from (relative inputs files are looked up there first)."""
        return self._base_dir

    def cross_check(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        names: dict[str, int] = {}
        limit = self.timeline.max_duration
        for i, fault in enumerate(self.faults):
            if fault.name is not None:
                if fault.name in names:
                    problems.append(
                        (
                            ("faults", i, "name"),
                            f"duplicate fault name {fault.name!r} (see faults[{names[fault.name]}])",
                        )
                    )
                names[fault.name] = i
            if fault.at >= limit:
                problems.append((("faults", i, "at"), f"starts at or after timeline.max_duration ({limit:g}s)"))
            elif fault.duration is not None and fault.at + fault.duration > limit:
                problems.append((("faults", i, "duration"), f"outlasts timeline.max_duration ({limit:g}s)"))
        return problems


__all__ = [
    "ENGINE_TYPES",
    "FAULT_TYPES",
    "L4_TYPES",
    "L7_TYPES",
    "LAYERS",
    "SLO_NAMES",
    "Component",
    "Expect",
    "Fault",
    "FaultMatch",
    "Guardrails",
    "RollbackPlan",
    "Scenario",
    "SloName",
    "Step",
    "Timeline",
    "Traffic",
    "Verify",
    "check_id",
]
