"""How the load generator sends a request: a tiny JSON-POST interface and two implementations.

    async with Http11Transport("http://127.0.0.1:8000", timeout=10) as transport:
        status, headers, data = await transport.post_json("/v1/answer", {"question": "hi"})

`JsonTransport` is the interface: `post_json(path, body)` sends `body` as JSON to the base URL
plus `path` and returns `(status, headers, data)` — headers as a dict with lower-case names
(repeated ones joined with ", "), `data` the parsed JSON body or None when the body is not JSON.
`timeout` (seconds) bounds the whole exchange: connecting, sending, the response head and body.

- `Http11Transport`, for `http://`: keep-alive HTTP/1.1 on asyncio streams, built on the LLM
  fault proxy's framing and connection pool (`drillkit.proxy.http`). A connection goes back to
  the pool only after a complete response that allows reuse; one that broke, timed out or was
  cancelled is closed. A pooled connection the server closed while it sat idle (end of stream
  or a reset before any response byte) is not an error: the request is sent again on another
  connection, as browsers and proxies do, since the server answered nothing on it.
- `HttpxTransport`, for `https://`, HTTP proxies and callers who bring their own
  `httpx.AsyncClient`: the same contract over httpx, its errors translated into ours.

Errors, drawn once (everything that kept a response from arriving):

    TransportError
    ├── ConnectFailed      no connection: refused, unreachable, name not resolved
    ├── RequestTimeout     no complete response within `timeout` (also a TimeoutError)
    └── ConnectionLost     the connection broke mid-exchange, or the server sent malformed HTTP

Why not httpx everywhere: measured on the 2-core development VM against a trivial loopback
endpoint, one request at a time, an `httpx.AsyncClient` costs ~1,050 µs of CPU per request and
`Http11Transport` ~150 µs, system calls included. The load generator on httpx topped out at
300–700 requests/s with a full core; on this transport it sends 2,000/s with ~45% of one core,
and about 4,500/s before its core is saturated (`drillkit bench load`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from drillkit import __version__
from drillkit.faults.l7.base import dumps, loads_or_none
from drillkit.net.http11 import BadMessage, Message, UpstreamPool, encode_head, read_body, read_head

USER_AGENT = f"drillkit/{__version__}"


class TransportError(Exception):
    """A request that produced no response (see the module doc for the hierarchy)."""


class ConnectFailed(TransportError):
    """No connection could be opened (refused, unreachable, name not resolved)."""


class RequestTimeout(TransportError, TimeoutError):
    """No complete response within the transport's timeout."""


class ConnectionLost(TransportError):
    """The connection broke during the exchange, or the server sent malformed HTTP."""


class JsonTransport(Protocol):
    """POST JSON to one service; `aclose()` releases connections (in-flight requests end on their own)."""

    async def post_json(self, path: str, body: Any) -> tuple[int, Mapping[str, str], Any]: ...

    async def aclose(self) -> None: ...


class Http11Transport:
    """Keep-alive HTTP/1.1 JSON POSTs to `base_url` (http:// only; its path is a prefix).

    `timeout` is seconds per request, everything included. Idle connections are kept up to
    `idle_s` seconds (below the usual server keep-alive timeouts: uvicorn's 5 s, nginx's 75 s).
    `connections_opened` counts the connections ever opened.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, idle_s: float = 4.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"Http11Transport speaks plain http:// (got {base_url!r}); use HttpxTransport")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s (got {timeout})")
        self.base_url, self.timeout = base_url, timeout
        self.pool = UpstreamPool(base_url, idle_s=idle_s)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._headers = [
            ("host", host if parts.port in (None, 80) else f"{host}:{parts.port}"),
            ("user-agent", USER_AGENT),
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ]
        self.connections_opened = 0
        self._closed = False

    async def post_json(self, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        """(status, headers, parsed JSON or None); raises a `TransportError` when no response came."""
        if self._closed:
            raise RuntimeError("this transport is closed")
        payload = dumps(body)
        head = encode_head(f"POST {self.pool.prefix}{path or '/'} HTTP/1.1", [*self._headers, _length(payload)])
        try:
            async with asyncio.timeout(self.timeout):
                resp, data = await self._exchange(head + payload)
        except TimeoutError:
            raise RequestTimeout(f"no response within {self.timeout:g} s") from None
        headers: dict[str, str] = {}
        for name, value in resp.headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return int(resp.first[1]), headers, loads_or_none(data) if data else None

    async def _exchange(self, request: bytes) -> tuple[Message, bytes]:
        """Send `request` and read the whole response, retrying on connections found stale."""
        while True:
            try:
                reader, writer, reused = await self.pool.acquire()
            except OSError as exc:
                raise ConnectFailed(f"{self.pool.host}:{self.pool.port}: {exc.strerror or exc}") from None
            if not reused:
                self.connections_opened += 1
            resp: Message | None = None
            try:
                writer.write(request)
                resp = await read_head(reader, request=False)
                while resp is not None and resp.first[1].startswith("1"):  # interim 1xx: skip
                    resp = await read_head(reader, request=False)
                if resp is not None:
                    data = await _read_response_body(reader, resp)
            except (OSError, asyncio.IncompleteReadError, BadMessage) as exc:
                writer.close()
                if reused and resp is None and isinstance(exc, ConnectionError):
                    continue  # reset while idle: the server saw nothing of ours
                raise ConnectionLost(_describe(exc)) from None
            except BaseException:  # cancelled or timed out mid-exchange: the connection is unusable
                writer.close()
                raise
            if resp is None:
                writer.close()
                if reused:  # closed by the server while it sat idle in the pool
                    continue
                raise ConnectionLost("server closed the connection without a response")
            if self._closed or resp.framing == "close" or resp.wants_close():
                writer.close()
            else:
                self.pool.release(reader, writer)
            return resp, data

    async def aclose(self) -> None:
        """Close idle connections; ones in use close when their exchange ends. Idempotent."""
        self._closed = True
        self.pool.close()
        await asyncio.sleep(0)  # let the transports finish closing before the loop may end

    async def __aenter__(self) -> Http11Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class HttpxTransport:
    """The `JsonTransport` contract over an `httpx.AsyncClient`.

    With `client=None` one is made (`trust_env` as given: proxies from the environment) and
    closed by `aclose()`; a client passed in is used as is and left open.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        trust_env: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s (got {timeout})")
        self.base_url, self.timeout = base_url, timeout
        self._own = client is None
        if client is None:
            limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            client = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=trust_env)
        self.client = client

    async def post_json(self, path: str, body: Any) -> tuple[int, Mapping[str, str], Any]:
        try:
            # httpx's timeout is per phase (connect, read, ...); this one bounds the whole request.
            async with asyncio.timeout(self.timeout):
                response = await self.client.post(self.base_url + path, json=body)
        except (TimeoutError, httpx.TimeoutException):
            raise RequestTimeout(f"no response within {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        except httpx.RequestError as exc:
            raise ConnectionLost(f"{type(exc).__name__}: {exc or 'request failed'}") from None
        try:
            data = response.json() if response.content else None
        except (ValueError, json.JSONDecodeError):
            data = None
        return response.status_code, dict(response.headers.items()), data

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()


async def _read_response_body(reader: asyncio.StreamReader, resp: Message) -> bytes:
    status = resp.first[1]
    if len(status) != 3 or not status.isdigit():
        raise BadMessage(f"bad status {status[:20]!r}")
    if status in ("204", "304"):  # never a body, whatever the head says
        resp.framing, resp.length = "length", 0
    return await read_body(reader, resp)


def _length(payload: bytes) -> tuple[str, str]:
    return ("content-length", str(len(payload)))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "server closed the connection mid-response"
    if isinstance(exc, BadMessage):
        return f"malformed response: {exc}"
    return str(exc) or type(exc).__name__


__all__ = [
    "USER_AGENT",
    "ConnectFailed",
    "ConnectionLost",
    "Http11Transport",
    "HttpxTransport",
    "JsonTransport",
    "RequestTimeout",
    "TransportError",
]
