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
bodies.  Upstream connections are kept alive in a per-route pool.

Parsing is strict, because a route may face other hosts and two HTTP parsers that disagree about
where a message ends let requests be smuggled: a request is refused before anything goes
upstream if RFC 9112 or h11 would refuse it, and in a few more cases the RFC allows refusing
(`parse_head`).  The client gets the status in the route API's error shape with
`connection: close` (400; 501 for a transfer coding other than chunked; 431 for a head over
`READ_LIMIT`; 413 for a body over `MAX_BUFFERED`), then the connection is closed.  A malformed
upstream response head answers 502.  Requests go upstream re-framed (`content-length`), never
as received.

Why raw asyncio and not an ASGI server plus `httpx.AsyncClient`: measured on the 2-core
development VM with `drillkit.proxy.bench_http` (300 non-streaming req/s open loop, sim provider
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
import re
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
from drillkit.faults.l7.base import dumps, loads_or_none, status_phrase
from drillkit.net.serving import bind_socket

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer"}
    | {"transfer-encoding", "upgrade"}
)
_REQUEST_DROP = HOP_BY_HOP | {"host", "content-length", "expect", "accept-encoding"}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}
READ_LIMIT = 1 << 18  # longest message head we accept (431 past it), and the reader's buffer before back-pressure
WHOLE_BODY = 1 << 20  # bodies up to this size move in one read and one write
MAX_BUFFERED = 64 << 20  # a fault never buffers more than this
CLIENT_IDLE_S = 75.0  # idle keep-alive connections from clients are closed after this (nginx's default)
LINGER_S, LINGER_BYTES = 2.0, 1 << 20  # after refusing a malformed request: drain input this long, this much
log = logging.getLogger(__name__)


class BadMessage(Exception):
    """Malformed HTTP from a client (answered `status`, 400 unless said) or from the upstream (answered 502)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ClientGone(Exception):
    """The client closed its connection while we were answering it."""


@dataclass(slots=True)
class Message:
    """A parsed request or response head plus its framing: kind is length | chunked | close."""

    first: list[str]
    headers: list[tuple[str, str]]
    framing: str
    length: int
    known: dict[str, str] | None = None  # the first value of each `_INDEXED` field present, by its lowercase name

    def get(self, name: str) -> str | None:
        """The first value of field `name` (lowercase), or None."""
        if self.known is not None and name in _INDEXED:  # what the proxy asks about: no scan
            return self.known.get(name)
        return next((v for k, v in self.headers if k.lower() == name), None)

    def wants_close(self) -> bool:
        value = (self.get("connection") or "").lower()
        version = self.first[0] if self.first[0].startswith("HTTP/") else self.first[-1]
        return "close" in value or (version == "HTTP/1.0" and "keep-alive" not in value)


# The grammar of RFC 9112 as h11 0.16 (`h11/_abnf.py`) applies it, byte for byte: field values may
# hold any octet but NUL, CR, LF, VT and FF (HTAB and SP only inside), names are tokens.  Stricter
# than h11 (all allowed by RFC 9112, all smuggling vectors): lines end in CRLF only (h11 takes a
# bare LF, §2.2 "MAY"), obs-fold is refused (h11 unfolds, §5.2 "reject or replace"), a message
# with both Transfer-Encoding and Content-Length is refused (h11 lets TE win, §6.3 "ought to be
# handled as an error"), so is Transfer-Encoding in an HTTP/1.0 message (§6.1 "MUST treat ... as
# faulty"), and chunk extensions may hold no control character but HTAB (h11 takes all but LF).
_TCHAR = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
_VCHAR = r"[^\x00\t\n\v\f\r ]"  # h11's [^\x00\s], latin-1 decoded
_FIELD = re.compile(rf"({_TCHAR}+):[ \t]*((?:{_VCHAR}+(?:[ \t]+{_VCHAR}+)*)?)[ \t]*\r\n")  # trailers
_REQUEST_LINE = re.compile(rf"({_TCHAR}+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])")
_STATUS_LINE = re.compile(r"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: ([^\x00\n\v\f\r]*))?")
_CHUNK_HEAD = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?[ \t]*\r\n")
_TCHARS = b"-!#$%&'*+.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NOT_CTL = bytes(set(range(256)) - set(b"\x00\n\v\f\r"))  # deleting these leaves NUL, LF, VT, FF, CR
# Fields parse_head looks at (framing) or indexes for Message.get (asked about on every exchange).
_INDEXED = frozenset({"content-length", "transfer-encoding", "host", "connection", "expect", "content-type"})
_INDEXED_SIZES = frozenset(len(name) for name in _INDEXED)  # lower() only names of these lengths
_MAX_LENGTH_DIGITS = 20  # h11's CONTENT_LENGTH_MAX_DIGITS
_STEPWISE = sys.version_info < (3, 13)  # readuntil takes several separators since 3.13
_HEAD_END: Any = b"\n\r\n" if _STEPWISE else (b"\n\r\n", b"\n\n")


async def read_head(reader: asyncio.StreamReader, *, request: bool, first: bool = True) -> Message | None:
    """The next message head, or None on a clean end of stream before it; raises BadMessage.

    A head ends at the first LF CR LF (how any head of CRLF lines ends, a field-less one too),
    or LF LF on Python 3.13+ (readuntil takes several separators), refused then by parse_head.
    Before 3.13, the `first` request head on a connection is read in three steps, so that a
    client whose lines end in bare LFs is refused at once instead of left waiting: the start
    line up to its LF (a bare LF there is refused), the next two bytes (CRLF: no fields), then
    the rest.  The two awaits more cost ~4 µs a request, so later requests on a kept-alive
    connection (whose client sent CRLFs) and upstream responses take one read: a head ending
    in LF LF there waits for more bytes (which then make it refused), the idle timeout or the
    peer's close, and is never taken for a message.
    """
    try:
        if request and first and _STEPWISE:
            line = await reader.readuntil(b"\n")
        else:
            line = await reader.readuntil(_HEAD_END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadMessage("incomplete message head") from None
    except asyncio.LimitOverrunError:
        raise BadMessage("message head too large", 431) from None
    if line.endswith((b"\n\r\n", b"\n\n")):  # a whole head
        return parse_head(line, request=request)
    if line[-2:] != b"\r\n":
        raise BadMessage(f"bare LF ends the start line {_show(line)}")
    try:
        rest = await reader.readexactly(2)
        if rest != b"\r\n":
            if rest[0] == 13 or b"\n" in rest:  # a bare CR or LF
                raise BadMessage("bare CR or LF in the message head")
            rest += await reader.readuntil(_HEAD_END)
    except asyncio.IncompleteReadError:
        raise BadMessage("incomplete message head") from None
    except asyncio.LimitOverrunError:
        raise BadMessage("message head too large", 431) from None
    if len(line) + len(rest) > READ_LIMIT:
        raise BadMessage("message head too large", 431)
    return parse_head(line + rest, request=request)


def parse_head(raw: bytes, *, request: bool) -> Message:
    """A whole message head (start line, field lines, empty line; CRLF each) parsed and checked.

    Raises BadMessage on anything RFC 9112 or h11 refuses (see above), with the status a server
    answers: 501 for a transfer coding other than `chunked` (as h11), else 400.  Written for
    speed: bulk checks by C string methods over the whole head, no regex per field line (one
    regex per line cost ~5 µs more on a 15-field request).
    """
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    # Every CR and LF in a CRLF pair and no NUL, VT or FF anywhere: what h11's field-value allows.
    if len(lines) < 3 or lines[-1] or lines[-2] or raw.translate(None, _NOT_CTL) != b"\r\n" * (len(lines) - 1):
        raise BadMessage(_bad_head(lines))
    start = lines[0]
    if (match := (_REQUEST_LINE if request else _STATUS_LINE).fullmatch(start)) is None:
        raise BadMessage(f"bad start line {_show(start)}")
    headers, names, indexed = [], [], []
    for line in lines[1:-2]:
        name, sep, value = line.partition(":")
        if not sep or not name:
            what = "obsolete line folding" if line[:1] in (" ", "\t") else "bad header line"
            raise BadMessage(f"{what} {_show(line)}")
        value = value.strip(" \t")
        names.append(name)
        headers.append((name, value))
        if len(name) in _INDEXED_SIZES and (key := name.lower()) in _INDEXED:
            indexed.append((key, value))
    if "".join(names).encode("latin-1").translate(None, _TCHARS):  # a name with a non-token character
        name = next(n for n in names if n.encode("latin-1").translate(None, _TCHARS))
        what = "obsolete line folding" if name[0] in " \t" else "bad header name"
        raise BadMessage(f"{what} {_show(name)}")
    first = list(match.groups()) if request else [g for g in match.groups() if g is not None]
    known: dict[str, str] = {}
    msg = Message(first, headers, "close", 0, known)
    length: str | None = None
    chunked, hosts = False, 0
    for key, value in indexed:
        if key not in known:
            known[key] = value
        if key == "host":
            hosts += 1
        elif key == "content-length":
            values = {v.strip(" \t") for v in value.split(",")}
            if len(values) != 1 or (length is not None and values != {length}):
                raise BadMessage("conflicting Content-Length headers")
            length = values.pop()
            if not (length.isascii() and length.isdigit()) or len(length) > _MAX_LENGTH_DIGITS:
                raise BadMessage(f"bad Content-Length {_show(length)}")
        elif key != "transfer-encoding":
            continue
        elif chunked:
            raise BadMessage("multiple Transfer-Encoding headers", 501)
        elif value.lower() != "chunked":
            raise BadMessage(f"only Transfer-Encoding: chunked is supported (got {_show(value)})", 501)
        else:
            chunked = True
    version = first[2] if request else first[0]
    if chunked:
        if length is not None:
            raise BadMessage("both Transfer-Encoding and Content-Length")
        if version == "HTTP/1.0":
            raise BadMessage("Transfer-Encoding in an HTTP/1.0 message")
        msg.framing = "chunked"
    elif length is not None:
        msg.framing, msg.length = "length", int(length)
    elif request:
        msg.framing = "length"  # a request without framing has no body
    if request and (hosts > 1 or (hosts == 0 and version == "HTTP/1.1")):
        raise BadMessage("an HTTP/1.1 request needs one Host header" if hosts == 0 else "multiple Host headers")
    return msg


def _bad_head(lines: list[str]) -> str:
    """Why a head failed the bulk check, naming its first bad line."""
    for line in lines:
        for char, what in (("\n", "bare LF"), ("\r", "bare CR"), ("\x00", "NUL"), ("\v", "VT"), ("\f", "FF")):
            if char in line:
                return f"{what} in the message head {_show(line)}"
    return "the message head does not end with an empty line"


def _show(text: str | bytes) -> str:
    return repr(text[:80])


async def iter_body(
    reader: asyncio.StreamReader, framing: str, length: int, *, limit: int | None = None
) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive (chunked framing removed); raises IncompleteReadError.

    Chunked framing is checked as h11 does (chunk size 1–20 hex digits, CRLF after each chunk's
    data, trailer lines are field lines), raising BadMessage; `limit` refuses (413) a chunk that
    would take the body past it before reading it.  Trailers are dropped.
    """
    if framing == "length":
        while length > 0:
            data = await reader.read(min(length, 1 << 16))
            if not data:
                raise asyncio.IncompleteReadError(b"", length)
            length -= len(data)
            yield data
    elif framing == "chunked":
        total = 0
        try:
            while True:
                match = _CHUNK_HEAD.fullmatch(await reader.readuntil(b"\r\n"))
                if match is None:
                    raise BadMessage("bad chunk header")
                size = int(match[1], 16)
                if size == 0:
                    trailers = 0
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers: checked, dropped
                        trailers += len(line)
                        if trailers > READ_LIMIT or _FIELD.fullmatch(line.decode("latin-1")) is None:
                            raise BadMessage(f"bad trailer line {_show(line)}")
                    return
                total += size
                if limit is not None and total > limit:
                    raise BadMessage("body too large", 413)
                if size <= 1 << 16:  # the common case: one read
                    data = await reader.readexactly(size + 2)
                    if not data.endswith(b"\r\n"):
                        raise BadMessage("chunk data not followed by CRLF")
                    yield data[:-2]
                    continue
                while size > 0:
                    data = await reader.read(min(size, 1 << 16))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", size)
                    size -= len(data)
                    yield data
                if await reader.readexactly(2) != b"\r\n":
                    raise BadMessage("chunk data not followed by CRLF")
        except asyncio.LimitOverrunError:
            raise BadMessage("chunk header or trailer line too long") from None
    else:
        while data := await reader.read(1 << 16):
            yield data


async def read_body(reader: asyncio.StreamReader, msg: Message, limit: int = MAX_BUFFERED) -> bytes:
    """The whole body; BadMessage (413) past `limit` bytes."""
    if msg.framing == "length":
        if msg.length > limit:
            raise BadMessage("body too large", 413)
        return await reader.readexactly(msg.length) if msg.length else b""
    parts, size = [], 0
    async for part in iter_body(reader, msg.framing, msg.length, limit=limit):
        size += len(part)
        if size > limit:
            raise BadMessage("body too large", 413)
        parts.append(part)
    return b"".join(parts)


def encode_head(first: str, headers: list[tuple[str, str]], *, close: bool = False) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers) + ("connection: close\r\n" if close else "")
    return f"{first}\r\n{lines}\r\n".encode("latin-1")


def _dropped(headers: list[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    named = {h.strip().lower() for k, v in headers if k.lower() == "connection" for h in v.split(",")}
    return [(k, v) for k, v in headers if k.lower() not in drop and k.lower() not in named]


class UpstreamPool:
    """Kept-alive connections to one upstream (LIFO; idle ones older than `idle_s` are closed)."""

    def __init__(self, url: str, *, max_idle: int = 512, idle_s: float = 4.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an upstream like http://host:port[/prefix] (got {url!r})")
        self.host, self.tls = parts.hostname, parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        default = 443 if self.tls else 80
        self.host_header = self.host if self.port == default else f"{self.host}:{self.port}"
        self._ssl = ssl.create_default_context() if self.tls else None
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._max_idle, self._idle_s = max_idle, idle_s

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """(reader, writer, reused) — a pooled connection if a fresh-enough one is idle."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < self._idle_s and not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, server_hostname=self.host if self.tls else None, limit=READ_LIMIT
        )
        return reader, writer, False

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._idle) < self._max_idle and not writer.is_closing() and not reader.at_eof():
            self._idle.append((reader, writer, asyncio.get_running_loop().time()))
        else:
            writer.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


class RouteMetrics:
    """What a route reports; the control plane passes a Prometheus-backed one."""

    def request(self, route: str, status: int) -> None: ...

    def fault(self, route: str, fault_type: str) -> None: ...


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
                    await self._reject(reader, writer, exc)
                    break
                if req is None or not await self._exchange(req, reader, writer):
                    break
        except (ConnectionError, ClientGone, asyncio.IncompleteReadError, BadMessage):
            pass  # the client went away mid-request, or sent garbage mid-body: nothing left to answer
        except asyncio.CancelledError:
            pass  # stop() cancels us and waits; the server's done-callback must not see a cancellation
        except Exception:  # a bug must cost one connection, never the listener
            log.exception("route %s: exchange failed", self.name)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _reject(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exc: BadMessage) -> None:
        """Answer a malformed request (its status, `connection: close`) and end the connection.

        A lingering close, as nginx does: half-close, then read and drop what the client still
        sends (bounded in bytes and time) before closing, so that unread input does not make the
        kernel reset the connection and destroy the answer before the client reads it.
        """
        await self._send(writer, error_reply(self.api, exc.status, str(exc)), close=True)
        if writer.can_write_eof():
            writer.write_eof()
        budget = LINGER_BYTES
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(LINGER_S):
                while budget > 0 and (data := await reader.read(1 << 16)):
                    budget -= len(data)

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply, *, close: bool = False) -> bool:
        """Write a whole reply (honouring `cut_at`); False when the connection must close."""
        close = close or reply.cut_at is not None
        headers = [*_dropped(reply.headers, _RESPONSE_DROP), ("content-length", str(len(reply.body)))]
        body = reply.body if reply.cut_at is None else reply.body[: reply.cut_at]
        head = encode_head(f"HTTP/1.1 {reply.status} {status_phrase(reply.status)}", headers, close=close)
        _write(writer, head + body)
        await writer.drain()
        self.metrics.request(self.name, reply.status)
        return not close

    async def _exchange(self, req: Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True when the client connection may carry another."""
        method, target = req.first[0], req.first[1]
        if (req.get("expect") or "").lower() == "100-continue":
            _write(writer, b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await read_body(reader, req)
        except BadMessage as exc:  # a malformed chunked body, or one too large to buffer
            await self._reject(reader, writer, exc)
            return False
        close = req.wants_close()
        drawn: tuple[Fault, ...] = ()
        ex: Exchange | None = None
        if self.faults:  # the slow path: only when the route has faults at all
            path, _, query = target.partition("?")
            ex = Exchange(
                route=self.name, api=self.api, method=method, path=path, query=query, body=body,
                headers=_dropped(req.headers, _REQUEST_DROP), route_cache=self.cache, side=self,
            )  # fmt: skip
            drawn = tuple(f for f in self.faults if f.selected(method, path, ex.requested_model))
            for fault in drawn:
                self.metrics.fault(self.name, fault.type)
            for fault in drawn:
                acts = isinstance(fault, ShortCircuit) and not fault.removed.is_set()
                reply = await fault.before(ex) if acts else None  # type: ignore[attr-defined]
                if reply is not None:
                    return await self._send(writer, reply, close=close)
            for fault in drawn:
                if isinstance(fault, RewritesRequest) and not fault.removed.is_set():
                    await fault.rewrite_request(ex)
            body = ex.body
        try:
            async with asyncio.timeout(self.upstream_timeout):
                up, up_writer, resp = await self._roundtrip(method, target, req.headers, body)
        except TimeoutError:
            reply = error_reply(self.api, 504, "upstream timed out", code="gateway_timeout")
            return await self._send(writer, reply, close=close)
        except (OSError, BadMessage) as exc:
            what = "sent a malformed response" if isinstance(exc, BadMessage) else "unreachable"
            message = f"upstream {self.pool.host}:{self.pool.port} {what}: {exc or type(exc).__name__}"
            return await self._send(writer, error_reply(self.api, 502, message, code="bad_gateway"), close=close)
        try:
            keep = await self._respond(ex, drawn, method, resp, up, writer, close)
        except BaseException:
            up_writer.close()
            raise
        if keep and resp.framing != "close" and not resp.wants_close():
            self.pool.release(up, up_writer)
        else:
            up_writer.close()
        return keep and not close

    async def _roundtrip(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Message]:
        """Send a request upstream, read the response head; retried once if a pooled connection was stale."""
        out = [*_dropped(headers, _REQUEST_DROP), ("host", self.pool.host_header), ("accept-encoding", "identity")]
        if body or method in ("POST", "PUT", "PATCH"):
            out.append(("content-length", str(len(body))))
        data = encode_head(f"{method} {self.pool.prefix}{target} HTTP/1.1", out) + body
        while True:
            reader, writer, reused = await self.pool.acquire()
            try:
                writer.write(data)
                resp = await read_head(reader, request=False)
                while resp is not None and resp.first[1].startswith("1"):  # interim 1xx: skip
                    resp = await read_head(reader, request=False)
            except BaseException as exc:
                writer.close()
                if reused and isinstance(exc, ConnectionError):
                    continue
                raise
            if resp is None:
                writer.close()
                if reused:  # the upstream closed the idle connection meanwhile: no byte of ours was used
                    continue
                raise BadMessage("upstream closed the connection without a response")
            if method == "HEAD" or resp.first[1] in ("204", "304"):
                resp.framing, resp.length = "length", 0
            return reader, writer, resp

    async def request_json(self, ex: Exchange, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Side channel for faults: a JSON request to the upstream with the client's headers."""
        async with asyncio.timeout(self.upstream_timeout):
            reader, writer, resp = await self._roundtrip(method, path, ex.headers, dumps(body))
            try:
                data = await read_body(reader, resp)
            except BaseException:
                writer.close()
                raise
        self.pool.release(reader, writer) if resp.framing != "close" else writer.close()
        return int(resp.first[1]), loads_or_none(data)

    async def _respond(
        self, ex: Exchange | None, drawn: tuple[Fault, ...], method: str, resp: Message,
        up: asyncio.StreamReader, writer: asyncio.StreamWriter, close: bool,
    ) -> bool:  # fmt: skip
        """Send the upstream's response: through drawn faults if any act on it, else as it comes."""
        status, head = int(resp.first[1]), f"HTTP/1.1 {' '.join(resp.first[1:])}"
        sse = (resp.get("content-type") or "").startswith("text/event-stream")
        if ex is not None and drawn:
            if sse and (filters := [f for f in drawn if isinstance(f, FiltersEvents)]):
                return await self._pipe_events(ex, filters, resp, up, writer, close)
            if not sse and (rewriters := [f for f in drawn if isinstance(f, RewritesBody)]):
                try:
                    body = await read_body(up, resp)
                except (OSError, asyncio.IncompleteReadError, BadMessage) as exc:  # nothing sent yet: a 502
                    upstream = f"{self.pool.host}:{self.pool.port}"
                    message = f"upstream {upstream} broke its response: {exc or type(exc).__name__}"
                    await self._send(writer, error_reply(self.api, 502, message, code="bad_gateway"), close=True)
                    return False
                reply = Reply(status, [(k.lower(), v) for k, v in resp.headers], body)
                for fault in rewriters:
                    if not fault.removed.is_set():
                        reply = await fault.rewrite_body(ex, reply)
                return await self._send(writer, reply, close=close)
        self.metrics.request(self.name, status)
        if method == "HEAD":  # no body, but the head describes the one a GET would get
            _write(writer, encode_head(head, _dropped(resp.headers, HOP_BY_HOP), close=close))
            await writer.drain()
            return True
        headers = _dropped(resp.headers, _RESPONSE_DROP)
        if resp.framing == "length" and resp.length <= WHOLE_BODY:  # the common case: one read, one write
            body = await up.readexactly(resp.length) if resp.length else b""
            _write(writer, encode_head(head, [*headers, ("content-length", str(resp.length))], close=close) + body)
            await writer.drain()
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
        return True

    async def _pipe_events(
        self, ex: Exchange, filters: list[Fault], resp: Message, up: asyncio.StreamReader,
        writer: asyncio.StreamWriter, close: bool,
    ) -> bool:  # fmt: skip
        """Forward a server-sent-event stream event by event through `filters` (rule 4)."""
        headers = [*_dropped(resp.headers, _RESPONSE_DROP), ("transfer-encoding", "chunked")]
        _write(writer, encode_head(f"HTTP/1.1 {' '.join(resp.first[1:])}", headers, close=close))
        self.metrics.request(self.name, int(resp.first[1]))
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
