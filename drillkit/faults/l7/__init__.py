"""L7 faults for the LLM fault proxy: the registry, the spec union and the pipeline order.

A fault spec is `{name, type, toxicity, match, ttl, dead_man, heartbeat_interval, attributes}`;
`parse_fault_spec` validates it in one place (a pydantic discriminated union on `type` picks the
attribute model) and raises `FaultSpecError` naming the offending field (`type`,
`attributes.status`, ...).  `build_fault` turns a valid spec into its fault object.  The
interface and the rules every fault follows are in `drillkit.faults.l7.base`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model

from drillkit.errors import InputError
from drillkit.faults.l7.base import (
    Api,
    Exchange,
    Fault,
    FaultEnvelope,
    FiltersEvents,
    MatchSpec,
    Reply,
    RewritesBody,
    RewritesRequest,
    ShortCircuit,
    SseEvent,
    StreamCut,
    error_reply,
)
from drillkit.faults.l7.empty_completion import EmptyCompletionFault
from drillkit.faults.l7.http_error import HttpErrorFault
from drillkit.faults.l7.json_mutate import JsonMutateFault
from drillkit.faults.l7.malformed import MalformedFault
from drillkit.faults.l7.model_swap import ModelSwapFault
from drillkit.faults.l7.quota_exhausted import QuotaExhaustedFault
from drillkit.faults.l7.rate_limited import RateLimitedFault
from drillkit.faults.l7.stream_cut import StreamCutFault
from drillkit.faults.l7.stream_stall import StreamStallFault
from drillkit.faults.l7.token_latency import TokenLatencyFault
from drillkit.faults.l7.truncate import TruncateFault

#: The fixed order faults act in, whatever order they were added in.  Short-circuits first
#: (the most final answer wins: no quota beats a rate limit beats a generic error); then the
#: request rewrite; then, on the response, the model's identity, its content, the JSON's
#: integrity, and last the timing and the connection itself (a cut ends everything).
PIPELINE_ORDER: tuple[type[Fault], ...] = (
    QuotaExhaustedFault,
    RateLimitedFault,
    HttpErrorFault,
    ModelSwapFault,
    EmptyCompletionFault,
    TruncateFault,
    JsonMutateFault,
    MalformedFault,
    TokenLatencyFault,
    StreamStallFault,
    StreamCutFault,
)
REGISTRY: dict[str, type[Fault]] = {cls.type: cls for cls in PIPELINE_ORDER}
FAULT_TYPES: tuple[str, ...] = tuple(REGISTRY)
RANK: dict[str, int] = {name: i for i, name in enumerate(FAULT_TYPES)}

_SPECS = tuple(
    create_model(
        f"{cls.__name__.removesuffix('Fault')}Spec",
        __base__=FaultEnvelope,
        type=(Literal[cls.type], ...),  # type: ignore[valid-type]
        attributes=(cls.attributes_model, Field(default_factory=dict, validate_default=True)),
    )
    for cls in PIPELINE_ORDER
)
#: Any fault spec; `type` selects the member (and so the attribute model).
FaultSpec = Annotated[Union[_SPECS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
_ADAPTER: TypeAdapter[Any] = TypeAdapter(FaultSpec)


class FaultSpecError(InputError):
    """A fault spec that does not validate; `field` is the dotted path of the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def parse_fault_spec(data: Any) -> Any:
    """A validated spec (a `FaultEnvelope` subclass) from a JSON-like dict; raises FaultSpecError."""
    if not isinstance(data, dict):
        raise FaultSpecError("", "expected a JSON object")
    kind = data.get("type")
    if kind not in REGISTRY:
        raise FaultSpecError("type", f"unknown fault type {kind!r} (expected one of {', '.join(FAULT_TYPES)})")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] == kind:  # the union's tag, not a field
            loc = loc[1:]
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        field = ".".join(loc)
        if not field and ":" in message:  # whole-model checks name their field in the message
            field, message = (part.strip() for part in message.split(":", 1))
        raise FaultSpecError(field, message) from None


def build_fault(spec: Any) -> Fault:
    """The fault object for a validated spec."""
    return REGISTRY[spec.type](spec)


__all__ = [
    "FAULT_TYPES",
    "PIPELINE_ORDER",
    "RANK",
    "REGISTRY",
    "Api",
    "Exchange",
    "Fault",
    "FaultEnvelope",
    "FaultSpec",
    "FaultSpecError",
    "FiltersEvents",
    "MatchSpec",
    "Reply",
    "RewritesBody",
    "RewritesRequest",
    "ShortCircuit",
    "SseEvent",
    "StreamCut",
    "build_fault",
    "error_reply",
    "parse_fault_spec",
]
