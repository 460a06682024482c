"""The L7 fault interface: what a fault may do to one request/response exchange, and the rules.

A fault is one small class (one module per type) built from a validated `FaultSpec`.  The base
`Fault` does nothing; a fault gains abilities by also subclassing the small interfaces below,
which the proxy discovers with `isinstance` (Toxiproxy's optional-interface pattern):

    ShortCircuit      `before(ex)`: answer instead of the upstream (errors, 429s)
    RewritesRequest   `rewrite_request(ex)`: change the request before it goes upstream
    RewritesBody      `rewrite_body(ex, reply)`: change a whole non-streaming response
    FiltersEvents     `on_event(ex, event)`: act on each server-sent event of a streaming response

What the hooks receive (`Exchange`, `Reply`, `SseEvent`, `StreamCut`) is in
`drillkit.faults.l7.exchange`, error bodies in each API's shape (`error_reply`) in
`drillkit.faults.l7.replies`; both are re-exported here.

The rules (the proxy in `drillkit.proxy.http` enforces them; faults may rely on them):

1. Selection. For each request the proxy takes the route's live faults whose `match` fits
   (method, path glob, model glob on the JSON body's `model`; a model-constrained fault never
   matches a request without one), then draws each fault's `toxicity` once: probability per
   request, 0 never acts, 1 always.  Every hook of a drawn fault sees that exchange; no hook of
   an undrawn one does.
2. Order. Drawn faults run in the fixed pipeline order of `drillkit.faults.l7.PIPELINE_ORDER`
   (by type, then by creation), whatever order they were added in.  The first `ShortCircuit`
   reply wins: later faults and the upstream are skipped.
3. Snapshot. An exchange keeps the faults drawn when its request arrived.  Removing a fault sets
   its `removed` flag: its hooks are skipped from the next event on and its sleeps
   (`Fault.sleep`) end at once, so removal never waits for traffic.
4. Streams. The event in flight is forwarded, never dropped, unless a fault returns None for
   it.  `StreamCut` ends the client connection abruptly after flushing what was forwarded
   (no terminating chunk: clients see a broken stream).  The end of the upstream stream ends the
   client stream.  A client that goes away is noticed at the next write; the exchange then stops
   and the upstream connection is closed, not reused.
5. Shapes. Faults leave bodies they do not understand alone (an error body, a non-JSON body): a
   fault never turns a proxy bug into a crash.  Errors a fault invents use the route API's own
   error shape (`error_reply`).
6. Lifetime. `ttl` removes a fault that many seconds after it was created (a PATCH that sets
   `ttl` re-arms it from then);
   `dead_man` removes it when no heartbeat arrives within `heartbeat_interval` of its creation
   or of the latest heartbeat.  Both are enforced by the proxy's control plane, within 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drillkit.config.types import Duration
from drillkit.faults.l7.exchange import Api, Exchange, Reply, SideChannel, SseEvent, StreamCut
from drillkit.faults.l7.replies import ANTHROPIC_TYPES, error_reply, status_phrase


class Attributes(BaseModel):
    """Base of every fault's attributes: unknown attribute names are errors."""

    model_config = ConfigDict(extra="forbid")


class MatchSpec(BaseModel):
    """Which requests a fault may act on; every given field must fit (globs use fnmatch)."""

    model_config = ConfigDict(extra="forbid")

    method: str | list[str] | None = None
    path: str | None = Field(default=None, description="glob on the path without the query, e.g. /v1/chat/*")
    model: str | None = Field(default=None, description="glob on the JSON body's `model`")

    def fits(self, method: str, path: str, model: str | None) -> bool:
        if self.method is not None:
            methods = [self.method] if isinstance(self.method, str) else self.method
            if method.upper() not in (m.upper() for m in methods):
                return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.model is None or (model is not None and fnmatch.fnmatchcase(model, self.model))


class FaultEnvelope(BaseModel):
    """A fault's envelope, decoded apart from its attributes (`type` picks the attribute model).

    `ttl` and `heartbeat_interval` are seconds (numbers or "500ms", "30s", "2m").
    """

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    type: str
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
    match: MatchSpec = Field(default_factory=MatchSpec)
    ttl: Duration | None = None
    dead_man: bool = False
    heartbeat_interval: Duration = 5.0

    @field_validator("name")
    @classmethod
    def _name_chars(cls, v: str) -> str:
        if v and ("/" in v or v.strip() != v):
            raise ValueError("expected a name without '/' or surrounding spaces")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> FaultEnvelope:
        if not self.name:
            self.name = self.type
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError("ttl: expected a duration > 0")
        if self.heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval: expected a duration > 0")
        return self


class Fault:
    """Base of every L7 fault: holds the spec; abilities come from the interfaces below."""

    type: ClassVar[str]
    attributes_model: ClassVar[type[Attributes]] = Attributes

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.attrs = spec.attributes
        self.removed = asyncio.Event()

    @property
    def name(self) -> str:
        return self.spec.name

    def selected(self, method: str, path: str, model: str | None) -> bool:
        """Rule 1: live, matching and drawn for this request (toxicity drawn once, here)."""
        if self.removed.is_set() or not self.spec.match.fits(method, path, model):
            return False
        toxicity = self.spec.toxicity
        return toxicity >= 1.0 or (toxicity > 0.0 and random.random() < toxicity)

    async def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the fault is removed (rule 3)."""
        if seconds <= 0 or self.removed.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.removed.wait(), seconds)


class ShortCircuit(ABC):
    @abstractmethod
    async def before(self, ex: Exchange) -> Reply | None:
        """A reply to send instead of calling the upstream, or None to let the request pass."""


class RewritesRequest(ABC):
    @abstractmethod
    async def rewrite_request(self, ex: Exchange) -> None:
        """Change `ex` (e.g. `ex.set_json`) before it is sent upstream."""


class RewritesBody(ABC):
    @abstractmethod
    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        """The response to send instead of `reply` (non-streaming responses only)."""


class FiltersEvents(ABC):
    @abstractmethod
    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent | None:
        """The event to forward (None drops it); may sleep; may raise `StreamCut`."""


class EditsCompletion(RewritesBody, FiltersEvents):
    """A fault that edits the completion in place, whole body and stream alike.

    Subclasses implement `edit(ex, body, stream=...)`: change `body` (a response body, or one
    SSE event's JSON) in place and return True, or return False to leave it as it is.
    """

    @abstractmethod
    def edit(self, ex: Exchange, body: Any, *, stream: bool) -> bool: ...

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        body = reply.json()
        if reply.status < 300 and self.edit(ex, body, stream=False):
            reply.set_json(body)
        return reply

    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent:
        data = event.json()
        return event.with_json(data) if self.edit(ex, data, stream=True) else event


__all__ = [  # the fault model, and (re-exported) what a fault sees of an exchange
    "ANTHROPIC_TYPES",
    "Api",
    "Attributes",
    "EditsCompletion",
    "Exchange",
    "Fault",
    "FaultEnvelope",
    "FiltersEvents",
    "MatchSpec",
    "Reply",
    "RewritesBody",
    "RewritesRequest",
    "ShortCircuit",
    "SideChannel",
    "SseEvent",
    "StreamCut",
    "error_reply",
    "status_phrase",
]
