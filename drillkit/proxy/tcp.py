"""The embedded TCP proxy: per proxy a listener, per connection two links (see `link`).

``upstream`` is client → server, ``downstream`` server → client. A `Proxy` lives on one event
loop (the one its API runs on) and owns its listener, its connections and its toxics. Shapes
and status codes belong to `toxiproxy_api`; this module raises `ProxyError` subclasses.

Connections (`drillkit.proxy.tcp_connection`, re-exported): the client is accepted, its socket
is not read until the upstream connection is up (an upstream that is down closes the client
cleanly, no byte lost or invented). A half-close (EOF) is passed on as a half-close; the
connection closes when both directions have ended, when a toxic ends it, or when either socket
fails. Disabling the proxy closes the listener and every live connection; its port stays bound
(not listening, so a connection is refused as with Go's Toxiproxy) until the proxy is enabled,
deleted or moved, so nothing else on the machine takes it meanwhile — an outgoing connection's
ephemeral port, say — and re-enabling cannot fail with "address already in use". While it listens, a
proxy's toxics sleep on its `PreciseTimer` (asyncio's own timers wake up to 1 ms late).

Traffic (`ProxyTraffic`): the bytes each direction of each proxy carries, by Go Toxiproxy's
metric labels, exposed as Go's ``toxiproxy_proxy_received_bytes_total`` and
``toxiproxy_proxy_sent_bytes_total`` (``collectors/proxy.go``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from drillkit.errors import DrillkitError, InputError
from drillkit.faults.toxics import STREAMS, ToxicSpec, parse_toxic, update_toxic
from drillkit.faults.toxics.base import CallAt
from drillkit.proxy.link import ByteCounts, Link
from drillkit.proxy.precise_timer import PreciseTimer
from drillkit.proxy.tcp_connection import READ_SIZE, Connection

T = TypeVar("T")


class ProxyError(DrillkitError):
    """Base of the proxy errors; ``status`` is the HTTP status the API answers with."""

    status = 500


class NotFound(ProxyError):
    status = 404


class AlreadyExists(ProxyError):
    status = 409


class BadRequest(ProxyError, InputError):
    status = 400


class ListenError(ProxyError):
    status = 500


def parse_address(address: str, *, what: str, allow_port_zero: bool) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; empty host = all interfaces) → (host, port)."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise BadRequest(f"bad request body: invalid {what} address {address!r}, expected host:port")
    port = int(port_text)
    if port == 0 and not allow_port_zero:
        raise BadRequest(f"bad request body: invalid {what} address {address!r}: port 0")
    host = host.strip("[]") or "0.0.0.0"
    return host, port


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


#: Go Toxiproxy's labels of its proxy metrics, in the order its exposition prints them.
METRIC_LABELS = ("direction", "listener", "proxy", "upstream")


class ProxyTraffic(Collector):
    """The `ByteCounts` of every proxy of one server, by (direction, listener, proxy, upstream).

    A label set starts at zero when a proxy takes it (created or started on a real address,
    pointed at another upstream), so every series exists before its first byte; it stays after
    the proxy is gone, as Go's counters do. As a Prometheus collector it yields Go's two
    counters: ``received`` = bytes read from the direction's source, ``sent`` = bytes handed to
    its sink. Register it in a registry of the server's own.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], ByteCounts] = {}

    def of(self, stream: str, proxy: Proxy) -> ByteCounts:
        key = (stream, proxy.listen, proxy.name, proxy.upstream)
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = ByteCounts()
        return counts

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "toxiproxy_proxy_received_bytes", "Bytes read from a proxy direction's source", labels=METRIC_LABELS
        )
        sent = CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes", "Bytes written to a proxy direction's sink", labels=METRIC_LABELS
        )
        for labels, counts in list(self.counts.items()):
            received.add_metric(labels, counts.received)
            sent.add_metric(labels, counts.sent)
        yield received
        yield sent


class Proxy:
    """One named proxy: ``listen`` → ``upstream`` with its toxics (API state and live traffic).

    ``listen`` always holds the bound address while enabled (port 0 is replaced by the real
    port). Toxic changes are serialised per proxy and applied to every live connection before
    the call returns; new connections take the toxic list as it is when they link up. Bytes
    are counted in ``traffic`` (a private one if none is given).
    """

    def __init__(self, name: str, listen: str, upstream: str, *, traffic: ProxyTraffic | None = None) -> None:
        _, port = parse_address(listen, what="listen", allow_port_zero=True)
        parse_address(upstream, what="upstream", allow_port_zero=False)
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.traffic = traffic if traffic is not None else ProxyTraffic()
        if port:  # port 0 has no address yet: its series start when it listens
            self._start_counts()
        self.enabled = False
        self.toxics: dict[str, ToxicSpec] = {}
        self.connections: set[Connection] = set()
        self.read_buffer = memoryview(bytearray(READ_SIZE))
        self._server: asyncio.Server | None = None
        self._held: socket.socket | None = None  # the port, bound but not listening, while disabled
        self._timer: PreciseTimer | None = None
        self._lock = asyncio.Lock()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.ordered_toxics()],
        }

    def ordered_toxics(self) -> list[ToxicSpec]:
        """Upstream toxics then downstream ones, each in the order they were added."""
        return self.chain("upstream") + self.chain("downstream")

    def chain(self, stream: str) -> list[ToxicSpec]:
        return [t for t in self.toxics.values() if t.stream == stream]

    def upstream_address(self) -> tuple[str, int]:
        return parse_address(self.upstream, what="upstream", allow_port_zero=False)

    def byte_counts(self, stream: str) -> ByteCounts:
        """Where a new connection's ``stream`` direction adds its bytes (this listen/upstream)."""
        return self.traffic.of(stream, self)

    def toxic_timer(self) -> CallAt | None:
        """What schedules the toxics' sleeps on this proxy's connections (None: the loop's)."""
        return self._timer.call_at if self._timer is not None else None

    def _start_counts(self) -> None:
        for stream in STREAMS:
            self.traffic.of(stream, self)

    # -- listening ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (no-op if already enabled). Raises `ListenError`."""
        if self.enabled:
            return
        sock, self._held = self._held, None
        if sock is None:
            sock = self._bind(reuse=True)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a fresh listener has it
            sock.listen(1024)
            sock.setblocking(False)
            self._server = await asyncio.get_running_loop().create_server(self._accept, sock=sock, backlog=1024)
        except OSError as exc:
            sock.close()
            raise ListenError(f"listen tcp {self.listen}: {exc.strerror or exc}") from exc
        bound_host, bound_port = sock.getsockname()[:2]
        self.listen = format_address(bound_host, bound_port)
        self._timer = PreciseTimer.open(asyncio.get_running_loop())
        self.enabled = True
        self._start_counts()

    def _bind(self, *, reuse: bool) -> socket.socket:
        """A TCP socket bound to ``listen``, not listening yet. Raises `ListenError`."""
        host, port = parse_address(self.listen, what="listen", allow_port_zero=True)
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP.
            sock = socket.socket(info[0], socket.SOCK_STREAM, socket.IPPROTO_TCP)
        except OSError as exc:
            raise ListenError(f"listen tcp {self.listen}: {exc}") from exc
        try:
            if reuse:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(info[4])
        except OSError as exc:
            sock.close()
            raise ListenError(f"listen tcp {self.listen}: {exc.strerror or exc}") from exc
        return sock

    def _hold_port(self) -> None:
        """Keep the disabled proxy's port bound (best effort: without SO_REUSEADDR first, so no
        other socket can bind it, then with it when closed connections linger in TIME_WAIT)."""
        if self._held is not None or not parse_address(self.listen, what="listen", allow_port_zero=True)[1]:
            return
        for reuse in (False, True):
            with contextlib.suppress(ListenError):
                self._held = self._bind(reuse=reuse)
                return

    def _release_port(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def _accept(self) -> asyncio.BufferedProtocol:
        return Connection(self).client

    async def stop(self, *, hold_port: bool = False) -> None:
        """Stop listening and close every live connection (no-op if disabled).

        `hold_port`: keep the port bound while disabled (see the module doc); otherwise any held
        port is released too (the proxy is deleted, moved or its server stops).
        """
        if not hold_port:
            self._release_port()
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.abort()
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.close()  # after the aborts: nothing it scheduled can fire any more
        if server is not None:
            await server.wait_closed()
        if hold_port:
            self._hold_port()

    async def update(self, *, listen: str, upstream: str, enabled: bool) -> None:
        """Change listen/upstream (restarts the listener, drops connections) and enabled."""
        if listen != self.listen or upstream != self.upstream:
            parse_address(listen, what="listen", allow_port_zero=True)
            parse_address(upstream, what="upstream", allow_port_zero=False)
            await self.stop()
            self.listen, self.upstream = listen, upstream
            if parse_address(listen, what="listen", allow_port_zero=True)[1]:
                self._start_counts()
        if enabled:
            await self.start()
        else:
            await self.stop(hold_port=True)

    # -- toxics ------------------------------------------------------------------------------

    def get_toxic(self, name: str) -> ToxicSpec:
        try:
            return self.toxics[name]
        except KeyError:
            raise NotFound("toxic not found") from None

    async def add_toxic(self, body: Any) -> ToxicSpec:
        """Validate and add a toxic, live. Raises `InvalidToxic`, `AlreadyExists`."""
        spec = parse_toxic(body)

        async def change() -> ToxicSpec:
            if spec.name in self.toxics:
                raise AlreadyExists("toxic already exists")
            self.toxics[spec.name] = spec
            await self._each_link(spec.stream, lambda link: link.add(spec))
            return spec

        return await self._apply(change)

    async def update_toxic(self, name: str, body: Any) -> ToxicSpec:
        """Apply a PATCH (attributes, toxicity, dead-man fields), live; the links are rewired only
        when attributes or toxicity changed. Raises `NotFound`, `InvalidToxic`."""

        async def change() -> ToxicSpec:
            current = self.get_toxic(name)
            spec = update_toxic(current, body)
            self.toxics[name] = spec
            if (spec.attributes, spec.toxicity) != (current.attributes, current.toxicity):
                await self._each_link(spec.stream, lambda link: link.update(spec))
            return spec

        return await self._apply(change)

    async def remove_toxic(self, name: str, *, if_still: ToxicSpec | None = None) -> bool:
        """Remove a toxic, live; every byte it held is passed on. Raises `NotFound`.

        With ``if_still``, the toxic is removed only if it is still that very spec (not updated
        or replaced since the caller read it); returns whether it was removed.
        """

        async def change() -> bool:
            spec = self.toxics.get(name)
            if spec is None:
                raise NotFound("toxic not found")
            if if_still is not None and spec is not if_still:
                return False
            del self.toxics[name]
            await self._each_link(spec.stream, lambda link: link.remove(name))
            return True

        return await self._apply(change)

    async def remove_all_toxics(self) -> None:
        for name in list(self.toxics):
            with contextlib.suppress(NotFound):  # removed meanwhile by another request
                await self.remove_toxic(name)

    async def _apply(self, change: Callable[[], Coroutine[Any, Any, T]]) -> T:
        # Changes are serialised per proxy, and one that has started finishes even if the caller
        # is cancelled (a client hanging up): half-rewired links would stall their traffic.
        async def locked() -> T:
            async with self._lock:
                return await change()

        task = asyncio.get_running_loop().create_task(locked())
        task.add_done_callback(_consume_result)
        return await asyncio.shield(task)

    async def _each_link(self, stream: str, op: Callable[[Link], Any]) -> None:
        links = [c.links[stream] for c in self.connections if c.links]
        if links:
            await asyncio.gather(*(op(link) for link in links))


def _consume_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved here when the caller went away; it got it otherwise


__all__ = [
    "AlreadyExists",
    "BadRequest",
    "Connection",
    "ListenError",
    "NotFound",
    "Proxy",
    "ProxyError",
    "ProxyTraffic",
    "format_address",
    "parse_address",
]
