"""The LLM fault proxy's HTTP/1.1 parser refuses what could smuggle a request (issue 11, item 6).

Every malformed request goes over a raw socket to a real route listener in front of a counting
upstream (h11 on the far side, so anything the proxy forwards must also parse there): the answer
must be the expected status with `connection: close` and a JSON error body, the connection must
then be closed by the proxy, and the upstream must have received nothing.  Each case is also fed
to h11's own server: where h11 refuses, so do we; where h11 accepts and we refuse, the case is
listed in `STRICTER` with the RFC 9112 clause that lets us.  Valid requests, including the odd
corners h11 accepts, still go through.  Malformed upstream responses answer 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import h11
import httpx
import pytest

from drillkit.net.http11 import MAX_BUFFERED, READ_LIMIT, BadMessage, iter_body, parse_head
from drillkit.net.serving import ServerThread
from drillkit.proxy.admin import LlmProxyServer, create_admin_app

H = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"  # a request line and Host; cases add the rest
G = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
TE = H + b"Transfer-Encoding: chunked\r\n\r\n"

# (case, raw request, status the proxy answers)
MALFORMED: list[tuple[str, bytes, int]] = [
    # Content-Length (h11's normalize_and_validate, mirrored)
    ("cl-duplicate-differing", H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl-list-differing", H + b"Content-Length: 5, 6\r\n\r\nhello!", 400),
    ("cl-list-empty-member", H + b"Content-Length: 5,\r\n\r\nhello", 400),
    ("cl-duplicate-05-vs-5", H + b"Content-Length: 5\r\nContent-Length: 05\r\n\r\nhello", 400),
    ("cl-negative", H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-plus", H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl-hex", H + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl-empty", H + b"Content-Length:\r\n\r\n", 400),
    ("cl-inner-space", H + b"Content-Length: 1 0\r\n\r\n0123456789", 400),
    ("cl-superscript-two", H + b"Content-Length: \xb2\r\n\r\nhi", 400),  # str.isdigit() says yes
    ("cl-21-digits", H + b"Content-Length: 000000000000000000005\r\n\r\nhello", 400),
    # Transfer-Encoding: only `chunked`, alone, once (h11 answers 501 for the rest)
    ("te-xchunked", H + b"Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
    ("te-chunked-gzip", H + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 501),
    ("te-gzip-chunked", H + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("te-chunked-chunked", H + b"Transfer-Encoding: chunked, chunked\r\n\r\n", 501),
    ("te-identity", H + b"Transfer-Encoding: identity\r\n\r\n", 501),
    ("te-twice", H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    ("te-and-cl", H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("te-in-http-1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    # field lines
    ("obs-fold", G + b"X-A: a\r\n b\r\n\r\n", 400),
    ("obs-fold-tab-smuggling-te", H + b"X-A: a\r\n\tTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400),
    ("obs-fold-first-line", b"GET / HTTP/1.1\r\n X-A: a\r\nHost: x\r\n\r\n", 400),
    ("space-before-colon", H + b"Content-Length : 5\r\n\r\nhello", 400),
    ("tab-before-colon", H + b"Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", 400),
    ("space-in-name", G + b"X A: b\r\n\r\n", 400),
    ("empty-name", G + b": b\r\n\r\n", 400),
    ("no-colon", G + b"broken\r\n\r\n", 400),
    ("name-bad-tchar", G + b"X(A): b\r\n\r\n", 400),
    ("name-non-ascii", G + b"X\xe9: b\r\n\r\n", 400),
    ("value-nul", G + b"X: a\x00b\r\n\r\n", 400),
    ("value-vt", G + b"X: a\x0bb\r\n\r\n", 400),
    ("value-ff", G + b"X: a\x0cb\r\n\r\n", 400),
    ("value-bare-cr", G + b"X: a\rb\r\n\r\n", 400),
    ("host-missing-http-1.1", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    ("host-missing-no-fields", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("host-twice", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    # bare LF / CR line ends (h11 takes a bare LF as a line end; RFC 9112 §2.2 lets us refuse)
    ("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("bare-lf-start-line", b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
    ("bare-lf-in-fields", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400),
    ("bare-lf-smuggled-te", H + b"X: y\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400),
    # (an LF LF ending CRLF fields ends a head for h11; Python < 3.13 waits for more bytes here)
    ("bare-lf-empty-line", b"GET / HTTP/1.1\r\nHost: x\r\n\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("bare-lf-no-fields", b"GET / HTTP/1.0\r\n\nX", 400),
    ("bare-cr-after-start-line", b"GET / HTTP/1.1\r\n\rHost: x\r\n\r\n", 400),
    # request line
    ("nonsense", b"NONSENSE\r\nbroken header\r\n\r\n", 400),
    ("method-bad-tchar", b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("version-lowercase", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("version-bad", b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400),
    ("version-missing", b"GET /\r\nHost: x\r\n\r\n", 400),
    ("target-missing", b"GET HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("two-spaces", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("trailing-space", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400),
    ("space-in-target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("ctl-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("leading-empty-line", b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    # chunked bodies (h11's chunk-size is 1-20 hex digits, then `;ext`, OWS, CRLF)
    ("chunk-size-not-hex", TE + b"zz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-0x", TE + b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-negative", TE + b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-leading-space", TE + b" 5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-underscore", TE + b"0_5\r\nhello\r\n0\r\n\r\n", 400),  # int(x, 16) takes it
    ("chunk-size-empty", TE + b"\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-21-digits", TE + b"000000000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-space-before", TE + b"5 ;a=b\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-garbage", TE + b"5garbage\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-bare-lf", TE + b"5;a\nb\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-bare-cr", TE + b"5;a\rb\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-nul", TE + b"5;a\x00b\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-bare-lf", TE + b"5\nhello\r\n0\r\n\r\n", 400),
    ("chunk-data-no-crlf", TE + b"5\r\nhelloXX0\r\n\r\n", 400),
    ("chunk-data-bare-lf", TE + b"5\r\nhello\n0\r\n\r\n", 400),
    ("chunk-data-too-long", TE + b"3\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-trailer-bad-name", TE + b"5\r\nhello\r\n0\r\nX T: 1\r\n\r\n", 400),
    ("chunk-trailer-obs-fold", TE + b"5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", 400),
    ("chunk-trailer-bare-lf", TE + b"5\r\nhello\r\n0\r\nX-T: 1\nY: 2\r\n\r\n", 400),
    # sizes: heads over READ_LIMIT (h11: 431 past its own 16 KiB), bodies over MAX_BUFFERED
    ("head-too-large", G + b"X-Big: " + b"a" * (READ_LIMIT + 10) + b"\r\n\r\n", 431),
    ("start-line-too-large", b"GET /" + b"a" * (READ_LIMIT + 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
    ("cl-over-buffer-limit", H + b"Content-Length: %d\r\n\r\n" % (MAX_BUFFERED + 1), 413),
    ("chunk-over-buffer-limit", TE + b"FFFFFFFFFFFFFFFFFFFF\r\nhello", 413),
]

# Refused here, accepted by h11 0.16: each is allowed by RFC 9112 and is a known smuggling vector.
STRICTER = {
    "te-and-cl": "§6.3: 'ought to be handled as an error' (h11 lets Transfer-Encoding win)",
    "te-in-http-1.0": "§6.1: 'MUST treat the message as if the framing is faulty'",
    "obs-fold": "§5.2: reject with 400 or replace by SP (h11 replaces)",
    "obs-fold-tab-smuggling-te": "§5.2, as obs-fold",
    "bare-lf-everywhere": "§2.2: a recipient MAY take a bare LF as a line end (h11 does)",
    "bare-lf-start-line": "§2.2, as above",
    "bare-lf-in-fields": "§2.2, as above",
    "bare-lf-smuggled-te": "§2.2, as above",
    "bare-lf-empty-line": "§2.2, as above",
    "bare-lf-no-fields": "§2.2, as above",
    "chunk-trailer-obs-fold": "§5.2 for trailer fields too",
    "chunk-trailer-bare-lf": "§2.2 for trailer fields too",
    "chunk-ext-bare-cr": "§7.1.1: chunk-ext is tokens and quoted strings, never a CR (h11 takes `;.*`)",
    "chunk-ext-nul": "§7.1.1, as above",
    "chunk-over-buffer-limit": "the proxy buffers request bodies up to MAX_BUFFERED (h11 has no body limit)",
    "cl-over-buffer-limit": "as above",
}

# (case, raw request, body the upstream must receive); every one must also be accepted by h11
VALID: list[tuple[str, bytes, bytes]] = [
    ("content-length", H + b"Content-Length: 5\r\n\r\nhello", b"hello"),
    ("cl-list-5-5", H + b"Content-Length: 5, 5\r\n\r\nhello", b"hello"),
    ("cl-list-5,5", H + b"Content-Length: 5,5\r\n\r\nhello", b"hello"),
    ("cl-duplicate-equal", H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    ("cl-leading-zeros", H + b"Content-Length: 00000000000000000005\r\n\r\nhello", b"hello"),
    ("cl-ows", H + b"Content-Length: \t5 \r\n\r\nhello", b"hello"),
    ("chunked", TE + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    ("chunked-uppercase-te", H + b"Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"hello"),
    ("chunked-ext-ows-trailer", TE + b"A;a=b;x\r\n0123456789\r\n1 \t\r\n!\r\n0\r\nX-T: 1\r\n\r\n", b"0123456789!"),
    ("chunked-20-digit-size", TE + b"00000000000000000005\r\nhello\r\n0\r\n\r\n", b"hello"),
    ("get-no-body", G + b"\r\n", b""),
    ("http-1.0-no-fields", b"GET /v1/models HTTP/1.0\r\n\r\n", b""),
    ("odd-tchars-in-name", G + b"X-!#$%&'*+.^_`|~9: v\r\n\r\n", b""),
    ("obs-text-and-ctl-in-value", G + b"X-Odd: caf\xe9 \x01 \x7f\r\n\r\n", b""),
    ("empty-value-and-ows", G + b"X-Empty:\r\nX-Ows: \t a  b \t\r\n\r\n", b""),
    ("lowercase-method", b"get /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", b""),
]


def h11_verdict(raw: bytes) -> int | None:
    """What h11's own server makes of `raw` (fed 4 KiB at a time): None when it accepts, else its status hint."""
    conn = h11.Connection(h11.SERVER)
    try:
        for at in range(0, len(raw), 4096):
            conn.receive_data(raw[at : at + 4096])
            while (event := conn.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.EndOfMessage):
                    return None
    except h11.RemoteProtocolError as exc:
        return exc.error_status_hint
    return None


class CountingUpstream:
    """An HTTP/1.1 server on h11: records every request the proxy forwards and answers `{"ok": true}`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        h = h11.Connection(h11.SERVER)
        req: dict[str, Any] = {}
        with conn:
            try:
                while True:
                    event = h.next_event()
                    if event is h11.NEED_DATA:
                        h.receive_data(conn.recv(65536))
                    elif isinstance(event, h11.Request):
                        req = {"target": event.target.decode(), "headers": list(event.headers.raw_items()), "body": b""}
                    elif isinstance(event, h11.Data):
                        req["body"] += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        self.requests.append(req)
                        body = b'{"ok":true}'
                        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
                        conn.sendall(h.send(h11.Response(status_code=200, headers=headers)) + h.send(h11.Data(body)))
                        conn.sendall(h.send(h11.EndOfMessage()))
                        if h.our_state is not h11.DONE:
                            return
                        h.start_next_cycle()
                    else:  # ConnectionClosed
                        return
            except h11.ProtocolError as exc:
                self.errors.append(str(exc))
            except OSError:
                pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress: its thread ends
        self._sock.close()


# Upstream answers by request target, for the response side: the proxy must answer 502 to the bad ones.
BAD_RESPONSES: dict[str, bytes] = {
    "status-no-code": b"HTTP/1.1 OK\r\n\r\n",
    "status-four-digits": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}",
    "status-bad-version": b"HTTP/1.x 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
    "bare-lf-in-fields": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\nContent-Length: 2\r\n\r\n{}",
    "cl-conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "cl-not-digits": b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n{}",
    "te-xchunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "te-and-cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    "nul-in-value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "head-never-ends": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
}
GOOD_RESPONSES: dict[str, bytes] = {
    "no-reason-phrase": b"HTTP/1.1 200\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "cl-5-5": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2, 2\r\n\r\n{}",
    "chunked": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"2\r\n{}\r\n0\r\n\r\n",
}
BROKEN_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX"


class ScriptedUpstream:
    """Reads a request head and answers the canned bytes its target names (`/<case>`), then closes."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                if not (more := conn.recv(65536)):
                    return
                data += more
            case = data.split(b" ", 2)[1].decode().strip("/")
            answers = BAD_RESPONSES | GOOD_RESPONSES | {"broken-chunked": BROKEN_CHUNKED}
            conn.sendall(answers[case])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress: its thread ends
        self._sock.close()


class Env:
    def __init__(self, urls: dict[str, str], counting: CountingUpstream, scripted: ScriptedUpstream) -> None:
        self.counting, self.scripted = counting, scripted
        self.admin = httpx.Client(base_url=urls["admin"], timeout=10)
        self.route: dict[str, tuple[str, int]] = {}
        for name, upstream in (("counted", counting.url), ("scripted", scripted.url)):
            r = self.admin.post("/routes", json={"name": name, "upstream": upstream, "api": "openai"})
            assert r.status_code == 201, r.text
            host, _, port = r.json()["listen"].rpartition(":")
            self.route[name] = (host, int(port))


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    counting, scripted = CountingUpstream(), ScriptedUpstream()
    try:
        with ServerThread({"admin": create_admin_app(LlmProxyServer())}) as urls:
            e = Env(urls, counting, scripted)
            yield e
            e.admin.close()
    finally:
        counting.close()
        scripted.close()


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the proxy sends until it closes the connection (a reset fails the test)."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _responses(data: bytes) -> list[tuple[h11.Response, bytes]]:
    """The complete responses in `data`, parsed by h11 as a client would."""
    conn = h11.Connection(h11.CLIENT)
    out: list[tuple[h11.Response, bytes]] = []
    while True:
        conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(data)
        data = b""
        head, body = None, b""
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                out.append((head, body))
                break
            else:  # NEED_DATA, ConnectionClosed: no further complete response
                return out
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return out
        conn.start_next_cycle()


@pytest.mark.parametrize(("case", "raw", "status"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_requests_are_refused_and_the_connection_closed(env: Env, case: str, raw: bytes, status: int) -> None:
    forwarded = len(env.counting.requests)
    with socket.create_connection(env.route["counted"]) as sock:
        sock.sendall(raw)
        data = _read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"\r\nconnection: close" in head.lower()
    assert json.loads(body)["error"]["message"]
    assert len(env.counting.requests) == forwarded and not env.counting.errors


@pytest.mark.parametrize(("case", "raw", "status"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_every_refusal_is_h11s_or_a_listed_stricter_rfc_choice(case: str, raw: bytes, status: int) -> None:
    hint = h11_verdict(raw)
    if case in STRICTER:
        assert hint is None, f"h11 refuses {case} too: drop it from STRICTER"
    else:
        assert hint == status, (case, hint)


@pytest.mark.parametrize(("case", "raw", "body"), VALID, ids=[c[0] for c in VALID])
def test_valid_requests_still_go_through_and_keep_the_connection(env: Env, case: str, raw: bytes, body: bytes) -> None:
    assert h11_verdict(raw) is None
    forwarded = len(env.counting.requests)
    close = b"HTTP/1.0" in raw.split(b"\r\n", 1)[0]
    with socket.create_connection(env.route["counted"]) as sock:
        sock.sendall(raw + (b"" if close else b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        data = _read_until_closed(sock)
    responses = _responses(data)
    assert [r.status_code for r, _ in responses] == [200] * (1 if close else 2), data[:300]
    assert responses[0][1] == b'{"ok":true}'
    assert not env.counting.errors
    got = env.counting.requests[forwarded:]
    assert [r["target"] for r in got][1:] == ([] if close else ["/again"])
    assert got[0]["body"] == body
    names = {name.decode("latin-1"): value for name, value in got[0]["headers"]}
    if case == "odd-tchars-in-name":
        assert names["X-!#$%&'*+.^_`|~9"] == b"v"
    if case == "obs-text-and-ctl-in-value":
        assert names["X-Odd"] == b"caf\xe9 \x01 \x7f"
    if case == "empty-value-and-ows":
        assert names["X-Empty"] == b"" and names["X-Ows"] == b"a  b"


def test_a_bare_lf_head_later_on_a_kept_alive_connection_is_refused_not_forwarded(env: Env) -> None:
    """After a CRLF request the next head is read in one step: bare LFs in it are caught by the parser."""
    forwarded = len(env.counting.requests)
    with socket.create_connection(env.route["counted"]) as sock:
        sock.sendall(G + b"\r\n" + b"GET /smuggled HTTP/1.1\nHost: x\n\n" + b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = _read_until_closed(sock)
    assert [r.status_code for r, _ in _responses(data)] == [200, 400]
    assert [r["target"] for r in env.counting.requests[forwarded:]] == ["/v1/models"]


@pytest.mark.parametrize("case", sorted(BAD_RESPONSES))
def test_malformed_upstream_responses_answer_502(env: Env, case: str) -> None:
    r = httpx.get("http://{}:{}/{}".format(*env.route["scripted"], case), timeout=10)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "bad_gateway"


@pytest.mark.parametrize("case", sorted(GOOD_RESPONSES))
def test_odd_but_valid_upstream_responses_pass(env: Env, case: str) -> None:
    r = httpx.get("http://{}:{}/{}".format(*env.route["scripted"], case), timeout=10)
    assert r.status_code == 200 and r.json() == {}


def test_an_upstream_breaking_its_chunked_body_breaks_the_client_response(env: Env) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get("http://{}:{}/broken-chunked".format(*env.route["scripted"]), timeout=10)
    # token_latency (no delay) rewrites whole bodies: the proxy buffers, so nothing was sent yet
    assert env.admin.post("/routes/scripted/faults", json={"type": "token_latency"}).status_code == 200
    try:
        r = httpx.get("http://{}:{}/broken-chunked".format(*env.route["scripted"]), timeout=10)
        assert r.status_code == 502 and "broke its response" in r.json()["error"]["message"]
    finally:
        assert env.admin.post("/reset").status_code == 204
    assert httpx.get("http://{}:{}/no-reason-phrase".format(*env.route["scripted"]), timeout=10).status_code == 200


# The pure parser, without sockets.


@pytest.mark.parametrize(
    ("raw", "request_", "framing", "length"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True, "length", 0),
        (b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5, 5\r\n\r\n", True, "length", 5),
        (b"POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\n\r\n", True, "chunked", 0),
        (b"HTTP/1.1 200 OK\r\n\r\n", False, "close", 0),
        (b"HTTP/1.1 204\r\n\r\n", False, "close", 0),
        (b"HTTP/1.0 200 It's fine \t\xe9\r\nContent-Length: 7\r\n\r\n", False, "length", 7),
    ],
)
def test_parse_head_framing(raw: bytes, request_: bool, framing: str, length: int) -> None:
    msg = parse_head(raw, request=request_)
    assert (msg.framing, msg.length) == (framing, length)


def test_parse_head_keeps_names_and_strips_values() -> None:
    msg = parse_head(b"GET /p?q=1 HTTP/1.1\r\nHost: x\r\nX-A:\t a b \r\nx-b:\r\n\r\n", request=True)
    assert msg.first == ["GET", "/p?q=1", "HTTP/1.1"]
    assert msg.headers == [("Host", "x"), ("X-A", "a b"), ("x-b", "")]
    assert parse_head(b"HTTP/1.1 404\r\n\r\n", request=False).first == ["HTTP/1.1", "404"]
    assert parse_head(b"HTTP/1.1 200 \r\n\r\n", request=False).first == ["HTTP/1.1", "200", ""]


# The malformed heads (cut at their first empty line), less those refused for their body or size.
HEADS = [
    (c, raw[: raw.index(b"\r\n\r\n") + 4], s)
    for c, raw, s in MALFORMED
    if b"\r\n\r\n" in raw and s < 413 and not c.startswith("chunk-")
]


@pytest.mark.parametrize(("case", "head", "status"), HEADS, ids=[h[0] for h in HEADS])
def test_parse_head_refuses_what_the_proxy_refuses(case: str, head: bytes, status: int) -> None:
    with pytest.raises(BadMessage) as info:
        parse_head(head, request=True)
    assert info.value.status == status


def test_parse_head_names_what_is_wrong() -> None:
    cases = {
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n": "obsolete line folding",
        b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n": "bare LF",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n": "bare CR",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00\r\n\r\n": "NUL",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n": "bad header name",
        b"GET / HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n": "bad header line",
        b"GET / HTTP/1.1\r\nHost: x\r\n": "does not end",
    }
    for raw, words in cases.items():
        with pytest.raises(BadMessage, match=words):
            parse_head(raw, request=True)


def _body(data: bytes, limit: int | None = None) -> bytes:
    async def main() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return b"".join([part async for part in iter_body(reader, "chunked", 0, limit=limit)])

    return asyncio.run(main())


def test_iter_body_chunked() -> None:
    assert _body(b"5\r\nhello\r\n0\r\n\r\n") == b"hello"
    big = b"x" * 200_000
    assert _body(b"%x\r\n%b\r\n0\r\nA: 1\r\nB: 2\r\n\r\n" % (len(big), big)) == big  # read in parts
    for bad in (b"5\r\nhelloX\r\n0\r\n\r\n", b"5_\r\nhello\r\n0\r\n\r\n", b"5\r\nhello\r\n0\r\nX\r\n\r\n"):
        with pytest.raises(BadMessage):
            _body(bad)
    with pytest.raises(BadMessage) as info:
        _body(b"%x\r\n" % (1 << 30), limit=1 << 20)
    assert info.value.status == 413
    with pytest.raises(asyncio.IncompleteReadError):
        _body(b"5\r\nhel")
