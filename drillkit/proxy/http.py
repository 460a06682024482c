"""The LLM fault proxy's data plane: one HTTP/1.1 listener per route, forwarding to its upstream.

`RouteProxy` listens on its own port and forwards any method and path to `upstream` + path
(the upstream URL's own path is a prefix).  With no fault drawn for a request, bytes go straight
through: bodies of known length in one read and one write, chunked and server-sent-event bodies
chunk by chunk as they arrive.  Drawn faults (rules in `drillkit.faults.l7.base`) run in
`PIPELINE_ORDER`; only faults that rewrite whole bodies make the proxy buffer a response, and only
event filters make it split a stream into events.

Contract: the upstream being down answers 502 (504 on timeout) in the route API's error shape;
an upstream failure after the head was sent drops the client connection (the client sees a
broken response, as from a real gateway); a client that goes away stops its exchange and the
upstream connection is closed, never reused.  Hop-by-hop headers are dropped both ways, `host`
names the upstream, and the upstream is asked for `accept-encoding: identity` so faults can read
bodies.  Upstream connections are kept alive in a per-route pool, and requests go upstream
through `drillkit.net.exchange`, the exchange loop the load generator sends with too.

Parsing is strict, because a route may face other hosts and two HTTP parsers that disagree about
where a message ends let requests be smuggled: a request is refused before anything goes
upstream if RFC 9112 or h11 would refuse it, and in a few more cases the RFC allows refusing
(`drillkit.net.http11.parse_head`, shared with the load generator).  The client gets the
status in the route API's error shape with `connection: close` (400; 501 for a transfer coding
other than chunked; 431 for a head over `READ_LIMIT`; 413 for a body over `MAX_BUFFERED`), then
the connection is closed.  A malformed upstream response head answers 502.  Requests go upstream
re-framed (`content-length`), never as received.

Why raw asyncio and not an ASGI server plus `httpx.AsyncClient`: measured on the 2-core
development VM with `drillkit.bench.http` (300 non-streaming req/s open loop, sim provider
at latency scale 0, provider and proxy in their own processes), this forwarder adds 0.30–0.43 ms
at p50 and 0.9–1.4 ms at p99 at the full 300 req/s; the same harness against uvicorn (h11, no
httptools here) with a raw ASGI app forwarding through one shared `httpx.AsyncClient` reached
only 110–130 req/s, its queue growing to seconds.  The proxy's own CPU is ~0.4 ms a request, of
which about 0.3 ms is the two `send` syscalls on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from drillkit.faults.l7 import (
    RANK,
    Api,
    Exchange,
    Fault,
    FiltersEvents,
    Reply,
    RewritesBody,
    RewritesRequest,
    ShortCircuit,
    SseEvent,
    StreamCut,
    error_reply,
)
from drillkit.faults.l7.replies import status_phrase
from drillkit.net.exchange import fetch, finish, send
from drillkit.net.http11 import (
    HOP_BY_HOP,
    READ_LIMIT,
    WHOLE_BODY,
    BadMessage,
    ClientGone,
    Message,
    UpstreamPool,
    encode_head,
    iter_body,
    read_body,
    read_head,
    without_hop_headers,
)
from drillkit.net.jsonio import dumps, loads_or_none
from drillkit.net.serving import bind_socket
from drillkit.proxy.route_metrics import Answer, RouteMetrics

_REQUEST_DROP = HOP_BY_HOP | {"host", "content-length", "expect", "accept-encoding"}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}
CLIENT_IDLE_S = 75.0  # idle keep-alive connections from clients are closed after this (nginx's default)
LINGER_S, LINGER_BYTES = 2.0, 1 << 20  # after refusing a malformed request: drain input this long, this much
log = logging.getLogger(__name__)


class RouteProxy:
    """One route: its listener, upstream pool and live faults (an immutable, ordered tuple).

    `set_faults` swaps the tuple at once; exchanges in flight keep the faults they drew.
    `start()` binds `listen` (port 0 picks one; `listen` then reports it) and `stop()` closes the
    listener and every connection, cancelling exchanges in flight.
    """

    def __init__(
        self, name: str, listen: str, upstream: str, api: Api, *, metrics: RouteMetrics | None = None,
        upstream_timeout: float = 600.0,
    ) -> None:  # fmt: skip
        self.name, self.api, self.listen, self.upstream = name, api, listen, upstream
        self.pool = UpstreamPool(upstream)
        self.metrics = metrics or RouteMetrics()
        self.metrics.track(name)
        self.upstream_timeout = upstream_timeout
        self.faults: tuple[Fault, ...] = ()
        self.cache: dict[str, Any] = {}  # shared by this route's exchanges (Exchange.route_cache)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    def set_faults(self, faults: list[Fault]) -> None:
        self.faults = tuple(sorted(faults, key=lambda f: RANK[f.type]))  # stable: creation order within a type

    def set_upstream(self, upstream: str) -> None:
        old, self.pool, self.upstream, self.cache = self.pool, UpstreamPool(upstream), upstream, {}
        old.close()

    async def start(self) -> None:
        host, _, port = self.listen.rpartition(":")
        sock = bind_socket(host.strip("[]") or "127.0.0.1", int(port))
        self._server = await asyncio.start_server(self._client, sock=sock, limit=READ_LIMIT)
        self.listen = "{}:{}".format(*sock.getsockname()[:2])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in (tasks := list(self._tasks)):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.pool.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            first = True
            while True:
                try:
                    async with asyncio.timeout(CLIENT_IDLE_S):
                        req = await read_head(reader, request=True, first=first)
                    first = False
                except TimeoutError:
                    break  # an idle keep-alive connection: close it, as any server does
                except BadMessage as exc:
                    await self._reject(reader, writer, exc, Answer(self.metrics, self.name))
                    break
                if req is None:
                    break
                answer = Answer(self.metrics, self.name)
                try:
                    if not await self._exchange(req, reader, writer, answer):
                        break
                finally:
                    answer.report()
        except (ConnectionError, ClientGone, asyncio.IncompleteReadError, BadMessage):
            pass  # the client went away mid-request, or sent garbage mid-body: nothing left to answer
        except asyncio.CancelledError:
            pass  # stop() cancels us and waits; the server's done-callback must not see a cancellation
        except Exception:  # a bug must cost one connection, never the listener
            log.exception("route %s: exchange failed", self.name)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _reject(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exc: BadMessage, answer: Answer
    ) -> None:
        """Answer a malformed request (its status, `connection: close`) and end the connection.

        A lingering close, as nginx does: half-close, then read and drop what the client still
        sends (bounded in bytes and time) before closing, so that unread input does not make the
        kernel reset the connection and destroy the answer before the client reads it.
        """
        await self._send(writer, error_reply(self.api, exc.status, str(exc)), answer, close=True)
        answer.report()  # the linger is not part of the answer's time
        if writer.can_write_eof():
            writer.write_eof()
        budget = LINGER_BYTES
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(LINGER_S):
                while budget > 0 and (data := await reader.read(1 << 16)):
                    budget -= len(data)

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply, answer: Answer, *, close: bool = False) -> bool:
        """Write a whole reply (honouring `cut_at`); False when the connection must close."""
        close = close or reply.cut_at is not None
        headers = [*without_hop_headers(reply.headers, _RESPONSE_DROP), ("content-length", str(len(reply.body)))]
        body = reply.body if reply.cut_at is None else reply.body[: reply.cut_at]
        head = encode_head(f"HTTP/1.1 {reply.status} {status_phrase(reply.status)}", headers, close=close)
        _write(writer, head + body)
        await writer.drain()
        answer.sent(reply.status)
        answer.complete = reply.cut_at is None
        return not close

    async def _exchange(
        self, req: Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Answer
    ) -> bool:
        """Answer one request; True when the client connection may carry another."""
        method, target = req.first[0], req.first[1]
        if (req.get("expect") or "").lower() == "100-continue":
            _write(writer, b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await read_body(reader, req)
        except BadMessage as exc:  # a malformed chunked body, or one too large to buffer
            await self._reject(reader, writer, exc, answer)
            return False
        close = req.wants_close()
        drawn: tuple[Fault, ...] = ()
        ex: Exchange | None = None
        if self.faults:  # the slow path: only when the route has faults at all
            path, _, query = target.partition("?")
            ex = Exchange(
                route=self.name, api=self.api, method=method, path=path, query=query, body=body,
                headers=without_hop_headers(req.headers, _REQUEST_DROP), route_cache=self.cache, side=self,
            )  # fmt: skip
            drawn = tuple(f for f in self.faults if f.selected(method, path, ex.requested_model))
            for fault in drawn:
                self.metrics.fault(self.name, fault.type)
            for fault in drawn:
                acts = isinstance(fault, ShortCircuit) and not fault.removed.is_set()
                reply = await fault.before(ex) if acts else None  # type: ignore[attr-defined]
                if reply is not None:
                    return await self._send(writer, reply, answer, close=close)
            for fault in drawn:
                if isinstance(fault, RewritesRequest) and not fault.removed.is_set():
                    await fault.rewrite_request(ex)
            body = ex.body
        request = self._request(method, target, req.headers, body)
        try:
            up, up_writer, resp = await send(self.pool, request, method=method, timeout=self.upstream_timeout)
        except TimeoutError:
            reply = error_reply(self.api, 504, "upstream timed out", code="gateway_timeout")
            return await self._send(writer, reply, answer, close=close)
        except (OSError, BadMessage) as exc:
            what = "sent a malformed response" if isinstance(exc, BadMessage) else "unreachable"
            msg = f"upstream {self.pool.host}:{self.pool.port} {what}: {exc or type(exc).__name__}"
            return await self._send(writer, error_reply(self.api, 502, msg, code="bad_gateway"), answer, close=close)
        try:
            keep = await self._respond(ex, drawn, method, resp, up, writer, close, answer)
        except BaseException:
            up_writer.close()
            raise
        finish(self.pool, up, up_writer, resp, reusable=keep)
        return keep and not close

    def _request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """The request as it goes upstream: hop-by-hop headers dropped, re-framed, `host` the upstream's."""
        out = [
            *without_hop_headers(headers, _REQUEST_DROP),
            ("host", self.pool.host_header),
            ("accept-encoding", "identity"),
        ]
        if body or method in ("POST", "PUT", "PATCH"):
            out.append(("content-length", str(len(body))))
        return encode_head(f"{method} {self.pool.prefix}{target} HTTP/1.1", out) + body

    async def request_json(self, ex: Exchange, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Side channel for faults: a JSON request to the upstream with the client's headers."""
        request = self._request(method, path, ex.headers, dumps(body))
        resp, data = await fetch(self.pool, request, method=method, timeout=self.upstream_timeout)
        return int(resp.first[1]), loads_or_none(data)

    async def _respond(
        self, ex: Exchange | None, drawn: tuple[Fault, ...], method: str, resp: Message,
        up: asyncio.StreamReader, writer: asyncio.StreamWriter, close: bool, answer: Answer,
    ) -> bool:  # fmt: skip
        """Send the upstream's response: through drawn faults if any act on it, else as it comes."""
        status, head = int(resp.first[1]), f"HTTP/1.1 {' '.join(resp.first[1:])}"
        sse = (resp.get("content-type") or "").startswith("text/event-stream")
        if ex is not None and drawn:
            if sse and (filters := [f for f in drawn if isinstance(f, FiltersEvents)]):
                return await self._pipe_events(ex, filters, resp, up, writer, close, answer)
            if not sse and (rewriters := [f for f in drawn if isinstance(f, RewritesBody)]):
                try:
                    body = await read_body(up, resp)
                except (OSError, asyncio.IncompleteReadError, BadMessage) as exc:  # nothing sent yet: a 502
                    upstream = f"{self.pool.host}:{self.pool.port}"
                    msg = f"upstream {upstream} broke its response: {exc or type(exc).__name__}"
                    await self._send(writer, error_reply(self.api, 502, msg, code="bad_gateway"), answer, close=True)
                    return False
                reply = Reply(status, [(k.lower(), v) for k, v in resp.headers], body)
                for fault in rewriters:
                    if not fault.removed.is_set():
                        reply = await fault.rewrite_body(ex, reply)
                return await self._send(writer, reply, answer, close=close)
        answer.sent(status)
        if method == "HEAD":  # no body, but the head describes the one a GET would get
            _write(writer, encode_head(head, without_hop_headers(resp.headers, HOP_BY_HOP), close=close))
            await writer.drain()
            answer.complete = True
            return True
        headers = without_hop_headers(resp.headers, _RESPONSE_DROP)
        if resp.framing == "length" and resp.length <= WHOLE_BODY:  # the common case: one read, one write
            body = await up.readexactly(resp.length) if resp.length else b""
            _write(writer, encode_head(head, [*headers, ("content-length", str(resp.length))], close=close) + body)
            await writer.drain()
            answer.complete = True
            return True
        chunked = resp.framing != "length"
        headers.append(("transfer-encoding", "chunked") if chunked else ("content-length", str(resp.length)))
        _write(writer, encode_head(head, headers, close=close))
        try:
            async for part in iter_body(up, resp.framing, resp.length):
                _write(writer, b"%x\r\n%b\r\n" % (len(part), part) if chunked else part)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, BadMessage):
            return False  # the upstream broke mid-body: so does the client's response
        if chunked:
            _write(writer, b"0\r\n\r\n")
            await writer.drain()
        answer.complete = True
        return True

    async def _pipe_events(
        self, ex: Exchange, filters: list[Fault], resp: Message, up: asyncio.StreamReader,
        writer: asyncio.StreamWriter, close: bool, answer: Answer,
    ) -> bool:  # fmt: skip
        """Forward a server-sent-event stream event by event through `filters` (rule 4)."""
        headers = [*without_hop_headers(resp.headers, _RESPONSE_DROP), ("transfer-encoding", "chunked")]
        _write(writer, encode_head(f"HTTP/1.1 {' '.join(resp.first[1:])}", headers, close=close))
        answer.sent(int(resp.first[1]))
        buf, index = b"", 0
        try:
            async for part in iter_body(up, resp.framing, resp.length):
                buf += part
                while (end := _event_end(buf)) > 0:
                    event: SseEvent | None = SseEvent(buf[:end], index)
                    buf, index = buf[end:], index + 1
                    for fault in filters:
                        if event is not None and not fault.removed.is_set():
                            event = await fault.on_event(ex, event)  # type: ignore[attr-defined]
                    if event is not None:
                        _write(writer, b"%x\r\n%b\r\n" % (len(event.raw), event.raw))
                        await writer.drain()
        except StreamCut:
            await writer.drain()  # what was forwarded reaches the client before the connection ends
            return False
        except (OSError, asyncio.IncompleteReadError, BadMessage):
            return False
        _write(writer, (b"%x\r\n%b\r\n" % (len(buf), buf) if buf else b"") + b"0\r\n\r\n")
        await writer.drain()
        answer.complete = True
        return True


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    # Writing to a closed transport only logs; raising here stops the exchange at once.
    if writer.transport.is_closing():
        raise ClientGone()
    writer.write(data)


def _event_end(buf: bytes) -> int:
    """Index just past the first complete event (its blank line) in `buf`, or -1."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r") if (i := buf.find(sep)) >= 0]
    return min(ends) if ends else -1


__all__ = ["BadMessage", "RouteMetrics", "RouteProxy", "UpstreamPool", "encode_head", "iter_body", "read_head"]
