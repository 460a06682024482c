"""The game-day scenario (`scenarios/*.yaml`, contract): a fault, the traffic, the expected outcome.

Fault type names are unique across both fault layers, so `type` alone picks the layer:
`L4_TYPES` go to a Toxiproxy server, `L7_TYPES` to the LLM fault proxy, and `change` runs one of the
system's own levers (a prompt or corpus deploy is a fault too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, HttpUrl, PrivateAttr, field_validator, model_validator

from drillkit.config.loader import CrossChecked, Loc
from drillkit.config.system import COMPONENTS, HttpCall, Slos
from drillkit.config.types import MAX_CONCURRENCY, MAX_RATE, Argv, Duration, Probability, Strict

L4_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "down")
L7_TYPES = (
    "http_error",
    "rate_limited",
    "quota_exhausted",
    "model_swap",
    "token_latency",
    "stream_cut",
    "stream_stall",
    "malformed",
    "empty_completion",
    "truncate",
    "json_mutate",
)
#: Engine-level faults: a change through the system's own levers, and a shift of the traffic's mix.
ENGINE_TYPES = ("change", "input_shift")
FAULT_TYPES = (*L4_TYPES, *L7_TYPES, *ENGINE_TYPES)
SLO_NAMES = tuple(Slos.model_fields)
SloName = Literal[
    "latency_p95_ms", "latency_p99_ms", "error_rate", "eval_pass_rate", "cost_per_request_usd", "cost_per_success_usd"
]
Component = Literal["model", "prompt", "retrieval", "tools", "inputs"]
LAYERS = (*COMPONENTS, "provider")
_TARGET = re.compile(r"^(provider|tool):[A-Za-z0-9_.\-]+$")
_ID = re.compile(r"^[a-z0-9][a-z0-9\-_.]*$")


def check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"expected a lower-case id of letters, digits, '-', '_' or '.' (got {value!r})")
    return value


class Traffic(Strict):
    rate: float = Field(default=10, gt=0, le=MAX_RATE, description="requests per second, open loop")
    concurrency: int = Field(default=64, ge=1, le=MAX_CONCURRENCY)
    inputs: str = "system"


class Timeline(Strict):
    warmup: Duration = 5.0
    window: Duration = 1.0
    max_duration: Duration = 120.0
    bad_windows: int = Field(
        default=2, ge=1, le=1000, description="consecutive breaching windows that count as a breach"
    )
    healthy_windows: int = Field(
        default=3, ge=1, le=1000, description="consecutive healthy windows that count as recovered"
    )

    @model_validator(mode="after")
    def _positive_window(self) -> Timeline:
        if self.window <= 0:
            raise ValueError("window: expected a duration > 0")
        return self


class FaultMatch(Strict):
    """Which requests an LLM fault applies to (globs); unset fields match everything."""

    method: str | list[str] | None = None
    path: str | None = None
    model: str | None = None


class Fault(Strict):
    type: str
    name: str | None = None
    target: str | None = None
    at: Duration = 0.0
    duration: Duration | None = None
    toxicity: Probability = 1.0
    stream: Literal["upstream", "downstream"] | None = None
    attributes: dict[str, Any] = {}
    match: FaultMatch | None = None
    run: Argv | None = None
    http: HttpCall | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in FAULT_TYPES:
            raise ValueError(f"expected one of {', '.join(FAULT_TYPES)} (got {v!r})")
        return v

    @field_validator("target")
    @classmethod
    def _target_form(cls, v: str | None) -> str | None:
        if v is not None and not _TARGET.match(v):
            raise ValueError(f"expected provider:<name> or tool:<name> (got {v!r})")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Fault:
        if self.type == "change":
            if (self.run is None) == (self.http is None):
                raise ValueError("a 'change' fault needs exactly one of 'run' (argv list) or 'http'")
        elif self.type == "input_shift":
            # The traffic itself changes: `toxicity` is the share of requests drawn from the new mix.
            if not isinstance(self.attributes.get("inputs"), str) or set(self.attributes) != {"inputs"}:
                raise ValueError(
                    "an 'input_shift' fault needs attributes: {inputs: <JSON-lines file>} and nothing else"
                )
            if self.target is not None or self.run is not None or self.http is not None:
                raise ValueError("an 'input_shift' fault changes the traffic: no target, 'run' or 'http'")
        else:
            if self.target is None:
                raise ValueError(f"a '{self.type}' fault needs a target (provider:<name> or tool:<name>)")
            if self.run is not None or self.http is not None:
                raise ValueError("'run' and 'http' belong to 'change' faults only")
        if self.stream is not None and self.type not in L4_TYPES:
            raise ValueError("'stream' applies to network (L4) faults only")
        if self.match is not None and self.type not in L7_TYPES:
            raise ValueError("'match' applies to LLM (L7) faults only")
        return self

    @property
    def layer(self) -> str:
        if self.type in L4_TYPES:
            return "l4"
        if self.type in L7_TYPES:
            return "l7"
        return "traffic" if self.type == "input_shift" else "change"


class Step(Strict):
    """One action: an argv list or an HTTP call."""

    name: str
    run: Argv | None = None
    http: HttpCall | None = None
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if (self.run is None) == (self.http is None):
            raise ValueError("give exactly one of 'run' (an argv list) or 'http' (a request)")
        return self


class RollbackPlan(Strict):
    mode: Literal["auto", "manual"] = "auto"
    decide_after: Duration = 0.0
    instructions: str | None = None
    steps: list[Step] = []

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

    detect_within: Duration | None = None
    recover_within: Duration | None = None
    breach: list[SloName] = []
    absorb: bool = False

    @model_validator(mode="after")
    def _absorb_breaches_nothing(self) -> Expect:
        if self.absorb and self.breach:
            raise ValueError("'absorb: true' expects no breach; remove 'breach'")
        return self


class Verify(Strict):
    evals: bool = True
    fingerprint: dict[Component, str] = {}


class Guardrails(Strict):
    abort_if: Slos = Slos()


class Scenario(CrossChecked, Strict):
    apiVersion: Literal["drillkit/v1"]
    kind: Literal["Scenario"]
    id: str
    title: str = Field(min_length=1)
    description: str | None = None
    layer: Literal["model", "prompt", "retrieval", "tools", "inputs", "provider"]
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    system: str = "demo"
    traffic: Traffic = Traffic()
    timeline: Timeline = Timeline()
    slos: Slos = Slos()
    faults: list[Fault] = Field(min_length=1)
    rollback: RollbackPlan
    expect: Expect = Expect()
    verify: Verify = Verify()
    guardrails: Guardrails = Guardrails()
    restore: list[Step] = []
    runbook: str | None = None
    docs: HttpUrl | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v)

    _base_dir: Path | None = PrivateAttr(default=None)

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
