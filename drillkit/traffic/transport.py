"""How the load generator sends a request: a tiny JSON-POST interface and two implementations.

    async with Http11Transport("http://127.0.0.1:8000", timeout=10) as transport:
        status, headers, data = await transport.post_json("/v1/answer", {"question": "hi"})

`JsonTransport` is the interface: `post_json(path, body)` sends `body` as JSON to the base URL
plus `path` and returns `(status, headers, data)` — headers as a dict with lower-case names
(repeated ones joined with ", "), `data` the parsed JSON body or None when the body is not JSON.
`timeout` (seconds) bounds the whole exchange: connecting, sending, the response head and body.

- `Http11Transport`, for `http://`: keep-alive HTTP/1.1 on asyncio streams, through the exchange
  loop the LLM fault proxy sends with too (`drillkit.net.exchange`: framing, pool, the rules). A
  connection goes back to the pool only after a complete response that allows reuse; one that
  broke, timed out or was cancelled is closed. A pooled connection the server closed while it sat
  idle (end of stream or a reset before any response byte) is not an error: the request is sent
  again on another connection, as browsers and proxies do, since the server answered nothing on it.
- `HttpxTransport`, for `https://`, HTTP proxies and callers who bring their own
  `httpx.AsyncClient`: the same contract over httpx, its errors translated into ours.

`transport_for(url, ...)` picks one: `Http11Transport` for an `http://` URL without credentials
that no HTTP proxy from the environment applies to (a loopback URL never is proxied); httpx for
the rest, and for a `client` passed in.

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
import dataclasses
import json
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from drillkit import __version__
from drillkit.evals.runner import is_loopback_url
from drillkit.net.exchange import NoResponse, UpstreamUnreachable, fetch
from drillkit.net.http11 import BadMessage, UpstreamPool, encode_head
from drillkit.net.jsonio import dumps, loads_or_none

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

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, idle_s: float = 4.0, headers: Mapping[str, str] | None = None
    ) -> None:
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
        extra = {name.lower(): value for name, value in (headers or {}).items()}
        self._headers = [(n, v) for n, v in self._headers if n not in extra] + list(extra.items())
        self._closed = False

    @property
    def connections_opened(self) -> int:
        """Connections ever opened."""
        return self.pool.opened

    async def post_json(self, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        """(status, headers, parsed JSON or None); raises a `TransportError` when no response came."""
        if self._closed:
            raise RuntimeError("this transport is closed")
        payload = dumps(body)
        head = encode_head(f"POST {self.pool.prefix}{path or '/'} HTTP/1.1", [*self._headers, _length(payload)])
        try:
            async with asyncio.timeout(self.timeout):  # outside: a socket's own ETIMEDOUT is a ConnectionLost
                try:
                    resp, data = await fetch(self.pool, head + payload, method="POST")
                except UpstreamUnreachable as exc:
                    raise ConnectFailed(f"{self.pool.host}:{self.pool.port}: {exc.strerror or exc}") from None
                except (OSError, asyncio.IncompleteReadError, BadMessage) as exc:
                    raise ConnectionLost(_describe(exc)) from None
        except TimeoutError:
            raise RequestTimeout(f"no response within {self.timeout:g} s") from None
        headers: dict[str, str] = {}
        for name, value in resp.headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return int(resp.first[1]), headers, loads_or_none(data) if data else None

    async def aclose(self) -> None:
        """Close idle connections; ones in use close when their exchange ends. Idempotent."""
        self._closed = True
        self.pool.close()
        await asyncio.sleep(0)  # let the transports finish closing before the loop may end

    async def __aenter__(self) -> Http11Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@dataclasses.dataclass
class StreamedResponse:
    """What `post_stream` read: status, headers, and for a 2xx answer its events."""

    status: int
    headers: dict[str, str]
    data: Any = None  # a non-2xx answer's JSON
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    done: bool = False  # `data: [DONE]` came
    first_token: float | None = None  # clock time of the first event with answer text
    broken: str | None = None  # how a started stream ended early


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
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s (got {timeout})")
        self.base_url, self.timeout = base_url, timeout
        self._own = client is None
        if client is None:
            limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            client = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=trust_env)
        self.client = client
        self._extra = dict(headers or {})

    async def post_json(self, path: str, body: Any) -> tuple[int, Mapping[str, str], Any]:
        try:
            # httpx's timeout is per phase (connect, read, ...); this one bounds the whole request.
            async with asyncio.timeout(self.timeout):
                response = await self.client.post(self.base_url + path, json=body, headers=self._extra)
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

    async def post_stream(
        self, path: str, body: Any, is_token: Callable[[dict[str, Any]], bool], clock: Callable[[], float]
    ) -> StreamedResponse:
        """POST and read a Server-Sent Events answer as it arrives.

        Returns the status and headers, each decoded `data:` object, whether `[DONE]` came, and
        the `clock()` time of the first event `is_token` accepts. A non-2xx answer is read whole
        (`data` is its JSON). The whole exchange is bounded by `timeout`; a stream that ends early
        is returned as it is (the caller judges it), not raised.
        """
        events: list[dict[str, Any]] = []
        first: float | None = None
        done = False
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.stream("POST", self.base_url + path, json=body, headers=self._extra) as r:
                    if not 200 <= r.status_code < 300:
                        raw = await r.aread()
                        return StreamedResponse(r.status_code, dict(r.headers.items()), loads_or_none(raw))
                    async for line in r.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            done = True
                            break
                        event = loads_or_none(payload.encode())
                        if isinstance(event, dict):
                            events.append(event)
                            if first is None and is_token(event):
                                first = clock()
                    return StreamedResponse(r.status_code, dict(r.headers.items()), None, events, done, first)
        except (TimeoutError, httpx.TimeoutException):
            if first is not None:  # the answer started, then stopped: a stall the caller judges
                return StreamedResponse(200, {}, None, events, False, first, "stalled: no end within the timeout")
            raise RequestTimeout(f"no response within {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        except httpx.RequestError as exc:
            if first is not None:
                return StreamedResponse(200, {}, None, events, False, first, f"cut: {type(exc).__name__}")
            raise ConnectionLost(f"{type(exc).__name__}: {exc or 'request failed'}") from None

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()


def transport_for(
    url: str,
    *,
    timeout: float,
    concurrency: int,
    client: httpx.AsyncClient | None = None,
    headers: Mapping[str, str] | None = None,
    stream: bool = False,
) -> JsonTransport:
    """The transport for `url` (module doc): its base URL is the URL's scheme and authority.

    `client`, when given, is used as is (through `HttpxTransport`) and left open; an httpx
    transport made here keeps up to `concurrency` connections. `headers` go with every request
    (the service's, `${VAR}` expanded: secrets, which no transport keeps anywhere but the wire).
    Streamed traffic (`stream`) always goes through httpx, which reads SSE as it arrives.
    """
    origin = split_url(url)[0]
    if client is not None:
        return HttpxTransport(origin, timeout=timeout, client=client, headers=headers)
    parts = urlsplit(url)
    if parts.scheme == "http" and not parts.username and not _proxied(url) and not stream:
        return Http11Transport(origin, timeout=timeout, headers=headers)
    trust_env = not is_loopback_url(url)
    return HttpxTransport(origin, timeout=timeout, max_connections=concurrency, trust_env=trust_env, headers=headers)


def split_url(url: str) -> tuple[str, str]:
    """(scheme://authority, /path?query) of `url`: the transport's base URL and request target."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}", target


def _proxied(url: str) -> bool:
    """True when an HTTP proxy from the environment (HTTP_PROXY, ALL_PROXY, NO_PROXY) applies to `url`."""
    if is_loopback_url(url):
        return False  # httpx was told to ignore proxies for loopback URLs too
    proxies = urllib.request.getproxies_environment()  # the environment only, as httpx's trust_env
    if not (proxies.get("http") or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(urlsplit(url).hostname or "", proxies)


def _length(payload: bytes) -> tuple[str, str]:
    return ("content-length", str(len(payload)))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "server closed the connection mid-response"
    if isinstance(exc, NoResponse):
        return "server closed the connection without a response"
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
    "split_url",
    "transport_for",
]
