"""A scenario's faults (`faults:`, contract). Fault type names are unique across both fault layers,
so `type` alone picks the layer: `L4_TYPES` go to a Toxiproxy server, `L7_TYPES` to the LLM fault
proxy, and `change` runs one of the system's own levers (a prompt or corpus deploy is a fault too).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from drillkit.config.system import HttpCall
from drillkit.config.types import Argv, Duration, Probability, Strict

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
_TARGET = re.compile(r"^(provider|tool):[A-Za-z0-9_.\-]+$")


class FaultMatch(Strict):
    """Which requests an LLM fault applies to; every field given must fit, unset fields match everything."""

    method: str | list[str] | None = Field(
        default=None, description="HTTP method, or a list of them (case-insensitive; not a glob)."
    )
    path: str | None = Field(default=None, description="Glob on the request path without the query, e.g. `/v1/chat/*`.")
    model: str | None = Field(
        default=None,
        description="Glob on the request body's `model`; a request without one never matches.",
    )


class Fault(Strict):
    """One fault: a network (L4) toxic, an LLM (L7) fault, a `change` through the system's levers, or an
    `input_shift` of the traffic."""

    type: str = Field(
        description="An L4 type (`latency`, `down`, …), an L7 type (`http_error`, `model_swap`, …), `change` or "
        "`input_shift`."
    )
    name: str | None = Field(
        default=None,
        description="A name unique in the scenario; on the fault server it defaults to the type (L4: "
        "`<type>_<stream>`).",
    )
    target: str | None = Field(
        default=None,
        description="`provider:<name>` or `tool:<name>` from the manifest; needed by L4 and L7 faults, refused by "
        "`input_shift`.",
    )
    at: Duration = Field(
        default=0.0,
        description="When to inject it, counted from the end of the warmup; the first fault in place starts the TTD "
        "and TTR clocks.",
    )
    duration: Duration | None = Field(
        default=None,
        description="How long the fault stays (L4, L7, `input_shift`); unset: until cleanup. One that ends before "
        "recovery fails the run.",
    )
    toxicity: Probability = Field(
        default=1.0,
        description="Probability (0–1) the fault acts on each connection (L4) or request (L7); for `input_shift`, "
        "the share of requests drawn from the new mix.",
    )
    stream: Literal["upstream", "downstream"] | None = Field(
        default=None,
        description="L4 only: the direction the toxic acts on, `upstream` (requests) or `downstream` (responses, the "
        "default).",
    )
    attributes: dict[str, Any] = Field(
        default={},
        description="The fault type's own settings, e.g. `{latency: 2000}` or `{serve_model: …}`, checked by the fault "
        "server; `input_shift`: `{inputs: FILE}`.",
    )
    match: FaultMatch | None = Field(
        default=None, description="L7 only: which requests the fault acts on; unset: all of them."
    )
    run: Argv | None = Field(
        default=None, description="`change` only: the command (argv list) that makes the change; or give `http`."
    )
    http: HttpCall | None = Field(default=None, description="`change` only: the HTTP request that makes the change.")

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
