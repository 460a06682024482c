"""The L7 fault interface: what a fault may do to one request/response exchange, and the rules.

A fault is one small class (one module per type) built from a validated `FaultSpec`.  The base
`Fault` does nothing; a fault gains abilities by also subclassing the small interfaces below,
which the proxy discovers with `isinstance` (Toxiproxy's optional-interface pattern):

    ShortCircuit      `before(ex)`: answer instead of the upstream (errors, 429s)
    RewritesRequest   `rewrite_request(ex)`: change the request before it goes upstream
    RewritesBody      `rewrite_body(ex, reply)`: change a whole non-streaming response
    FiltersEvents     `on_event(ex, event)`: act on each server-sent event of a streaming response

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
import json
import random
from abc import ABC, abstractmethod
from http import HTTPStatus
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drillkit.config.types import Duration

Api = Literal["openai", "anthropic", "json"]


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, as the providers send them."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads_or_none(data: bytes | str) -> Any:
    """The parsed JSON value, or None when `data` is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


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


class Exchange:
    """One request on its way through a route, as faults see it.

    `body` is the raw request body; `json()` parses it once (None when it is not a JSON object).
    `requested_model` is the model the client asked for, kept when a fault rewrites the request.
    `state` is scratch space for this exchange (key it by fault name); `route_cache` is shared by
    every exchange of the route (e.g. fingerprints learnt from upstream); `side` makes extra
    upstream calls for faults that need one.
    """

    __slots__ = (
        "_json",
        "api",
        "body",
        "headers",
        "method",
        "path",
        "query",
        "requested_model",
        "route",
        "route_cache",
        "side",
        "state",
    )

    def __init__(
        self,
        *,
        route: str,
        api: Api,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        route_cache: dict[str, Any],
        side: SideChannel | None = None,
    ) -> None:
        self.route, self.api, self.method, self.path, self.query = route, api, method, path, query
        self.headers, self.body, self.route_cache, self.side = headers, body, route_cache, side
        self.state: dict[str, Any] = {}
        self._json: Any = ...
        model = self.json().get("model") if self.json() is not None else None
        self.requested_model: str | None = model if isinstance(model, str) else None

    def json(self) -> dict[str, Any] | None:
        if self._json is ...:
            value = loads_or_none(self.body) if self.body else None
            self._json = value if isinstance(value, dict) else None
        return self._json

    def set_json(self, obj: dict[str, Any]) -> None:
        self._json, self.body = obj, dumps(obj)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    @property
    def wants_stream(self) -> bool:
        body = self.json()
        return bool(body and body.get("stream"))


class SideChannel(Protocol):
    """Extra upstream calls on behalf of a fault (same upstream, the client's credentials)."""

    async def request_json(self, ex: Exchange, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]: ...


class Reply:
    """A whole (buffered) response: status, lower-case headers, body.

    `cut_at` asks the proxy to send the head with the full length, then only that many body
    bytes, then drop the connection (a connection cut mid-body).
    """

    __slots__ = ("_json", "body", "cut_at", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.cut_at: int | None = None
        self._json: Any = ...

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        if self._json is ...:
            self._json = loads_or_none(self.body) if self.body else None
        return self._json

    def set_json(self, obj: Any) -> None:
        self._json, self.body = obj, dumps(obj)
        self.set_header("content-type", "application/json")

    def set_body(self, body: bytes) -> None:
        self._json, self.body = ..., body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != name] + [(name, value)]


class SseEvent:
    """One server-sent event (its raw bytes including the blank line) and its upstream position."""

    __slots__ = ("_data", "index", "raw")

    def __init__(self, raw: bytes, index: int) -> None:
        self.raw, self.index = raw, index
        self._data: Any = ...

    def _lines(self) -> list[str]:
        return self.raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n").split("\n")

    @property
    def event(self) -> str | None:
        for line in self._lines():
            if line.startswith("event:"):
                return line[6:].strip()
        return None

    @property
    def data(self) -> str:
        parts = [line[5:].removeprefix(" ") for line in self._lines() if line.startswith("data:")]
        return "\n".join(parts)

    def json(self) -> Any:
        """The data parsed as JSON, or None (`[DONE]`, comments, pings without data)."""
        if self._data is ...:
            data = self.data
            self._data = loads_or_none(data) if data.startswith(("{", "[")) else None
        return self._data

    def with_data(self, data: str) -> SseEvent:
        """A copy with new data, other fields (event, id) kept."""
        kept = [line for line in self._lines() if line and not line.startswith("data:")]
        lines = [*kept, *(f"data: {part}" for part in data.split("\n"))]
        return SseEvent(("\n".join(lines) + "\n\n").encode(), self.index)

    def with_json(self, obj: Any) -> SseEvent:
        return self.with_data(dumps(obj).decode())


class StreamCut(Exception):
    """Raised by `FiltersEvents.on_event`: end the client connection now, abruptly."""


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


# --- error bodies in each API's own shape -------------------------------------------------------

_OPENAI_CODES = {500: "server_error", 502: "bad_gateway", 503: "server_is_overloaded", 504: "gateway_timeout"}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def status_phrase(status: int) -> str:
    if status == 529:
        return "Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def error_reply(
    api: Api,
    status: int,
    message: str | None = None,
    *,
    kind: str | None = None,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error response in the route API's shape.

    openai `{"error": {message, type, param, code}}`; anthropic `{"type": "error", "error":
    {type, message[, details]}}`; json `{"error": {code, message}}`.  `kind` is the error type
    (defaults from the status), `code` the OpenAI/json code.
    """
    message = message or status_phrase(status)
    body: dict[str, Any]
    if api == "anthropic":
        fallback = "api_error" if status >= 500 else "invalid_request_error"
        err: dict[str, Any] = {"type": kind or ANTHROPIC_TYPES.get(status, fallback), "message": message}
        if details:
            err["details"] = details
        body = {"type": "error", "error": err}
    elif api == "openai":
        default_kind = "server_error" if status >= 500 else "invalid_request_error"
        body = {
            "error": {
                "message": message,
                "type": kind or default_kind,
                "param": None,
                "code": code if code is not None else _OPENAI_CODES.get(status),
            }
        }
    else:
        body = {"error": {"code": code or kind or status_phrase(status).lower().replace(" ", "_"), "message": message}}
    head = [("content-type", "application/json"), *((headers or {}).items())]
    return Reply(status, head, dumps(body))
