"""`AdminGuard`: the one gate in front of every admin surface (fault servers, demo apps).

A page open in the operator's browser can reach loopback servers: a "simple" cross-origin
request (a ``text/plain`` POST) needs no CORS preflight, and DNS rebinding points an attacker's
name at 127.0.0.1.  So each HTTP request passes, in this order, before the app sees it:

1. **Host** — the ``Host`` header names a loopback host (``localhost``, 127.0.0.0/8, ``::1``;
   any port) or one the operator allowed (``allowed_hosts``: ``--allow-host``); else 403.  A
   request without ``Host`` is refused too.  A rebinding page's requests name the attacker's
   host, so they stop here.
2. **Origin** — a request carrying an ``Origin`` header is refused (403) unless the origin's
   host is loopback or allowed (any scheme and port); ``Origin: null`` (sandboxed frames,
   ``file:`` pages) is always refused.  Browsers send ``Origin`` on every cross-origin request
   and on every POST, so a page elsewhere can change nothing.  Requests without ``Origin``
   (curl, toxiproxy-python, toxiproxy-cli, chaostoolkit-toxiproxy) pass whatever their
   ``Content-Type``.
3. **Token** — with ``token``, ``Authorization: Bearer <token>`` is required: absent → 401
   (with ``WWW-Authenticate: Bearer``), anything else → 403; compared in constant time.
4. The app.

Refusals come before the body is read, so nothing changes; they are built by ``error(status,
message)`` so each API keeps its error shape (default ``{"error": message, "status": status}``).
No CORS header is ever sent.  WebSocket handshakes get the same checks (a refusal closes with
1008, which the server answers as 403); lifespan and other scopes pass through.

`listen_refusal` is the matching rule for listeners that a request asks a server to open: beyond
loopback only when the server runs with a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

#: Builds a refusal: (status, message) → response.
ErrorFactory = Callable[[int, str], Response]

_DNS_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


def json_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``; brackets allowed)."""
    host = host.strip().lower().removesuffix(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def allowed_host(value: str) -> str:
    """An ``--allow-host`` value normalised (lower case, no brackets); ValueError unless it is a
    bare host name or IP address (no scheme, port or path)."""
    host = value.strip().lower().removesuffix(".")
    bare = host.removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if host != bare or not _DNS_NAME.match(host):
        raise ValueError(f"expected a host name or IP address without a port (got {value!r})")
    return host


def listen_refusal(listen: str, *, has_token: bool) -> str | None:
    """Why a server may not open a listener on ``listen`` ("host:port"), or None when it may.

    Loopback listeners are always fine; any other (``0.0.0.0``, ``:8080``, a LAN address, a
    host name) only on a server that runs with a token, so the admin rule "beyond loopback
    needs --token" cannot be bypassed by proxying the admin port.
    """
    host = listen.rpartition(":")[0]
    if has_token or is_loopback_host(host):
        return None
    return f"listen {listen}: listening beyond loopback needs the server to run with a token (--token)"


def _host_of_header(value: str) -> str | None:
    """The host of a ``Host`` header value (``name``, ``name:port``, ``[v6]:port``); None if malformed."""
    value = value.strip()
    if value.startswith("["):
        name, closed, rest = value[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
    if not name or not (port == "" or port.isdigit()):
        return None
    return name.lower().removesuffix(".")


class AdminGuard:
    """Host, Origin and bearer-token checks in front of an admin ASGI app (see module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        token: str | None = None,
        error: ErrorFactory = json_error,
    ) -> None:
        if token == "":
            raise ValueError("an empty token would let anyone in: pass None for no token")
        self.app = app
        self.allowed = frozenset(allowed_host(h) for h in allowed_hosts)
        self.expected = f"Bearer {token}".encode() if token is not None else None
        self.error = error

    def host_allowed(self, host: str | None) -> bool:
        if host is None:
            return False
        return is_loopback_host(host) or host.removeprefix("[").removesuffix("]") in self.allowed

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, None when it may pass."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of repeated headers
        raw_host = headers.get(b"host")
        host = _host_of_header(raw_host.decode("latin-1")) if raw_host is not None else None
        if not self.host_allowed(host):
            shown = raw_host.decode("latin-1") if raw_host is not None else "(none)"
            hint = f" (if clients reach this server as {host}, start it with --allow-host {host})" if host else ""
            return 403, f"Host {shown!r} is not a loopback name or an allowed host{hint}"
        origin = headers.get(b"origin")
        if origin is not None:
            text = origin.decode("latin-1").strip()
            try:
                origin_host = urlsplit(text).hostname
            except ValueError:
                origin_host = None
            if text.lower() == "null" or not self.host_allowed(origin_host):
                return 403, f"requests from origin {text!r} are refused (admin APIs answer loopback pages only)"
        if self.expected is not None:
            given = headers.get(b"authorization")
            if given is None:
                return 401, "missing bearer token (Authorization: Bearer <token>)"
            if not hmac.compare_digest(given, self.expected):
                return 403, "invalid bearer token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            status, message = refused
            response = self.error(status, message)
            if status == 401:
                response.headers["www-authenticate"] = "Bearer"
            await response(scope, receive, send)


__all__ = ["AdminGuard", "ErrorFactory", "allowed_host", "is_loopback_host", "json_error", "listen_refusal"]
