"""One proxied TCP connection: the client socket, the upstream socket and the two links between them.

``upstream`` is client → server, ``downstream`` server → client (`drillkit.proxy.link`). The
client is accepted, its socket is not read until the upstream connection is up (an upstream that
is down closes the client cleanly, no byte lost or invented). A half-close (EOF) is passed on as
a half-close; the connection closes when both directions have ended, when a toxic ends it, or
when either socket fails. The named proxy that owns connections is `drillkit.proxy.tcp.Proxy`;
a connection sees it as a `ProxySide`, which also gives each direction the `ByteCounts` its
bytes are added to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Protocol

from drillkit.faults.toxics import ToxicSpec
from drillkit.faults.toxics.base import CallAt, End
from drillkit.proxy.link import ByteCounts, Link

log = logging.getLogger("drillkit.proxy.tcp")

#: Bytes read per recv. One buffer per proxy is enough: every read is consumed synchronously.
READ_SIZE = 256 << 10
#: Transport write buffer above which the matching source stops being read.
WRITE_HIGH_WATER = 1 << 20
CONNECT_TIMEOUT_S = 10.0


class ProxySide(Protocol):
    """What a connection uses of the proxy that accepted it."""

    name: str
    upstream: str
    connections: set[Connection]
    read_buffer: memoryview

    def upstream_address(self) -> tuple[str, int]: ...

    def chain(self, stream: str) -> list[ToxicSpec]: ...

    def byte_counts(self, stream: str) -> ByteCounts: ...

    def toxic_timer(self) -> CallAt | None: ...


class Endpoint(asyncio.BufferedProtocol):
    """One socket of a connection: the source of one link and the sink of the other."""

    def __init__(self, conn: Connection, buffer: memoryview) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.outbound: Link | None = None  # the link this socket feeds
        self.inbound: Link | None = None  # the link that writes to this socket
        self.lost = False
        self._view = buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # the connection resumes it once both links exist
        # No TCP_NODELAY here: asyncio sets it on every IPPROTO_TCP socket, which both are (the
        # listener is made with that protocol, and create_connection resolves to it).
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.conn.endpoint_made(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        link = self.outbound
        if link is None:
            return
        link.counts.received += nbytes
        if link.stubs:
            link.feed(bytes(self._view[:nbytes]))  # the chain keeps it: copy out of the buffer
        else:
            # Fast path. The transport copies whatever the kernel did not take at once.
            link.sink.write(self._view[:nbytes])
            link.counts.sent += nbytes

    def eof_received(self) -> bool:
        if self.outbound is not None:
            self.outbound.feed_end()
        return True  # keep the socket open: the other direction may still be flowing

    def pause_writing(self) -> None:
        if self.inbound is not None:
            self.inbound.sink_paused(True)

    def resume_writing(self) -> None:
        if self.inbound is not None:
            self.inbound.sink_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.conn.endpoint_lost(self, exc)


class Connection:
    """A client connection and its upstream connection; the proxy tracks it while open."""

    def __init__(self, proxy: ProxySide) -> None:
        self.proxy = proxy
        self.client = Endpoint(self, proxy.read_buffer)
        self.server = Endpoint(self, proxy.read_buffer)
        self.links: dict[str, Link] = {}
        self.closed = False
        self._dial: asyncio.Task[None] | None = None

    def endpoint_made(self, endpoint: Endpoint) -> None:
        if endpoint is self.client:
            self.proxy.connections.add(self)
            self._dial = asyncio.get_running_loop().create_task(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        host, port = self.proxy.upstream_address()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await asyncio.get_running_loop().create_connection(lambda: self.server, host, port)
        except (OSError, TimeoutError) as exc:
            log.info("proxy %s: upstream %s unreachable (%s)", self.proxy.name, self.proxy.upstream, exc)
            self.close()
            return
        if self.closed:
            assert self.server.transport is not None
            self.server.transport.abort()
            return
        client, server = self.client.transport, self.server.transport
        assert client is not None and server is not None
        proxy, timer = self.proxy, self.proxy.toxic_timer()
        up = Link(
            "upstream",
            client,
            server,
            on_end=self._on_end,
            on_reset=self.reset,
            counts=proxy.byte_counts("upstream"),
            call_at=timer,
        )
        down = Link(
            "downstream",
            server,
            client,
            on_end=self._on_end,
            on_reset=self.reset,
            counts=proxy.byte_counts("downstream"),
            call_at=timer,
        )
        self.client.outbound = self.server.inbound = up
        self.server.outbound = self.client.inbound = down
        self.links = {"upstream": up, "downstream": down}
        # Synchronous from here to resume: a toxic added meanwhile is either in the proxy's
        # list already (so in these chains) or will find this connection linked.
        up.build(self.proxy.chain("upstream"))
        down.build(self.proxy.chain("downstream"))
        client.resume_reading()
        server.resume_reading()

    def _on_end(self, link: Link, marker: End) -> None:
        if marker is End.CLOSE:
            self.close()
            return
        sink = link.sink
        if not sink.is_closing() and sink.can_write_eof():
            sink.write_eof()  # a half-close stays a half-close
        if all(lk.ended for lk in self.links.values()):
            self.close()

    def endpoint_lost(self, endpoint: Endpoint, exc: Exception | None) -> None:
        if exc is None:
            self.close()
        else:
            log.debug("proxy %s: connection lost (%s)", self.proxy.name, exc)
            self.abort()

    def _shutdown(self) -> list[asyncio.Transport]:
        self.closed = True
        self.proxy.connections.discard(self)
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()
        for link in self.links.values():
            link.teardown()
        return [t for t in (self.client.transport, self.server.transport) if t is not None]

    def close(self) -> None:
        """Close both sockets gracefully (what was written is flushed, then FIN)."""
        if not self.closed:
            for transport in self._shutdown():
                transport.close()

    def abort(self) -> None:
        """Close both sockets now, dropping unsent data."""
        if not self.closed:
            for transport in self._shutdown():
                transport.abort()

    def reset(self) -> None:
        """Abort both sockets with SO_LINGER 0: the peers see a TCP RST."""
        if self.closed:
            return
        for transport in self._shutdown():
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # already gone: nothing left to reset
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()


__all__ = ["CONNECT_TIMEOUT_S", "READ_SIZE", "WRITE_HIGH_WATER", "Connection", "Endpoint", "ProxySide"]
