"""HTTP/1.1 framing shared by the LLM fault proxy and the load generator: heads, bodies, upstream pools.

`read_head`/`parse_head` read one message head and refuse, with `BadMessage` (its `status` is
the answer: 400, 501 for a transfer coding other than chunked, 431 for a head over `READ_LIMIT`,
413 for a body over the limit), what h11 0.16 refuses, and, where RFC 9112 allows refusing,
bare-LF lines, obs-fold, Transfer-Encoding with Content-Length and Transfer-Encoding in
HTTP/1.0: two parsers that disagree about where a message ends let requests be smuggled.
`iter_body`/`read_body` move a body of known length or chunked; `encode_head` writes a head;
`UpstreamPool` keeps connections to one upstream alive (`drillkit.net.exchange` sends requests
through it). Nothing here knows about faults.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer"}
    | {"transfer-encoding", "upgrade"}
)
READ_LIMIT = 1 << 18  # longest message head we accept (431 past it), and the reader's buffer before back-pressure
WHOLE_BODY = 1 << 20  # bodies up to this size move in one read and one write
MAX_BUFFERED = 64 << 20  # a fault never buffers more than this


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
    headers, indexed = _field_lines(lines[1:-2])
    first = list(match.groups()) if request else [g for g in match.groups() if g is not None]
    msg = Message(first, headers, "close", 0, {})
    _frame(msg, indexed, request=request)
    return msg


def _field_lines(lines: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(headers, the `_INDEXED` ones by lowercase name) of a head's field lines; raises BadMessage."""
    headers, names, indexed = [], [], []
    for line in lines:
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
    return headers, indexed


def _frame(msg: Message, indexed: list[tuple[str, str]], *, request: bool) -> None:
    """Fill `msg.known` and its framing from its indexed fields; raises BadMessage on conflicts."""
    known = msg.known
    assert known is not None
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
    version = msg.first[2] if request else msg.first[0]
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


def without_hop_headers(headers: list[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    named = {h.strip().lower() for k, v in headers if k.lower() == "connection" for h in v.split(",")}
    return [(k, v) for k, v in headers if k.lower() not in drop and k.lower() not in named]


class UpstreamPool:
    """Kept-alive connections to one upstream (LIFO; idle ones older than `idle_s` are closed).

    `opened` counts the connections ever opened.  `close()` closes the idle connections, and
    connections released afterwards are closed too, until the pool is used again (`acquire`).
    Exchanges go through `drillkit.net.exchange`.
    """

    def __init__(self, url: str, *, max_idle: int = 512, idle_s: float = 4.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an upstream like http://host:port[/prefix] (got {url!r})")
        self.host, self.tls = parts.hostname, parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        default = 443 if self.tls else 80
        self.host_header = self.host if self.port == default else f"{self.host}:{self.port}"
        self.opened = 0
        self._ssl = ssl.create_default_context() if self.tls else None
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._max_idle, self._idle_s = max_idle, idle_s
        self._closed = False

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """(reader, writer, reused) — a pooled connection if a fresh-enough one is idle."""
        self._closed = False
        now = asyncio.get_running_loop().time()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < self._idle_s and not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, server_hostname=self.host if self.tls else None, limit=READ_LIMIT
        )
        self.opened += 1
        return reader, writer, False

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._idle) < self._max_idle and not self._closed and not writer.is_closing() and not reader.at_eof():
            self._idle.append((reader, writer, asyncio.get_running_loop().time()))
        else:
            writer.close()

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop()[1].close()


__all__ = [
    "HOP_BY_HOP",
    "MAX_BUFFERED",
    "READ_LIMIT",
    "WHOLE_BODY",
    "BadMessage",
    "ClientGone",
    "Message",
    "UpstreamPool",
    "encode_head",
    "iter_body",
    "parse_head",
    "read_body",
    "read_head",
    "without_hop_headers",
]
