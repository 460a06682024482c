"""What an L7 fault sees of one exchange, and how it ends a stream.

`Exchange` is the request on its way through a route, `Reply` a whole (buffered) response,
`SseEvent` one server-sent event of a streaming response; `StreamCut` ends the client
connection abruptly; `SideChannel` is how a fault makes an extra upstream call.

The fault model and the rules the LLM fault proxy enforces are in `drillkit.faults.l7.base`,
which re-exports every name here.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from drillkit.net.jsonio import dumps, loads_or_none

Api = Literal["openai", "anthropic", "json"]


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


__all__ = ["Api", "Exchange", "Reply", "SideChannel", "SseEvent", "StreamCut"]
