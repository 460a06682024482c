"""A link: one direction of one proxied connection, source socket → [toxics] → sink socket.

With no toxic on its direction a link is a *fast path*: the source protocol writes straight to the
sink transport, no queue and no task in between. The first toxic builds a chain — a hidden no-op
head stage, then one stage (a `Stub` running in its own task) per toxic, in the order the toxics
were added — and removing the last one tears the chain down again.

Rewiring under live traffic (the contract the API relies on):

* add: interrupt the last stage, put the new stage between it and the sink, restart both;
* remove stage *i*: interrupt *i* and *i − 1*, forward what *i* still holds (queued chunks, an
  end of stream it had read) to *i*'s output, point *i − 1* at that output, restart *i − 1*;
* update: interrupt the stage, swap its attributes/toxicity, restart it.

Each step forwards every byte exactly once and in order, because an interrupted stage forwards
its chunk in flight (stream rule 2) and queues are moved oldest first. An interrupt finishes
before `Stub.interrupt` returns (stages never block on output), so none of this waits on traffic.

Back-pressure: the source socket stops being read while the sink transport is over its
high-water mark, or while more than `HIGH_WATER` bytes sit in the chain's queues (a held or
throttled stream fills the sender's TCP window instead of our memory).

Byte counts: a link adds what its source read (``received``, counted by the connection's socket
protocol) and what it handed to its sink (``sent``) to its `ByteCounts` as the bytes move, so the
totals are live (Go Toxiproxy adds them when the connection ends).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from drillkit.faults.toxics import ToxicSpec
from drillkit.faults.toxics.base import CallAt, End, Item, Stub
from drillkit.faults.toxics.noop import Noop

#: Bytes queued inside a chain above which the source is paused, and below which it resumes.
HIGH_WATER = 1 << 20
LOW_WATER = 256 << 10

_HEAD = Noop()
_HEAD_NAME = "(head)"


class ByteCounts:
    """Bytes one direction carried: ``received`` from its source, ``sent`` to its sink (plain ints:
    the event loop is the only writer, and a scrape reads them on the same loop)."""

    __slots__ = ("received", "sent")

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0


class Link:
    """Carries one direction. The connection owns it and calls `teardown` when it ends.

    ``on_end(link, marker)`` is called once, after every byte before the end was written to the
    sink: ``End.EOF`` (the source half-closed) or ``End.CLOSE`` (a toxic ended the stream).
    ``on_reset()`` asks the connection to abort both sockets with a RST. ``call_at`` schedules
    the toxics' timed wake-ups (default: the loop's ``call_at``).
    """

    def __init__(
        self,
        stream: str,
        source: asyncio.Transport,
        sink: asyncio.Transport,
        *,
        on_end: Callable[[Link, End], None],
        on_reset: Callable[[], None],
        counts: ByteCounts | None = None,
        call_at: CallAt | None = None,
    ) -> None:
        self.stream = stream
        self.source = source
        self.sink = sink
        self.counts = counts if counts is not None else ByteCounts()
        self.stubs: list[Stub] = []  # empty: fast path
        self.ended = False
        self.closed = False
        self._on_end = on_end
        self._on_reset = on_reset
        self._call_at = call_at
        self._loop: asyncio.AbstractEventLoop | None = None  # for the stubs, fetched once
        self._queued = 0
        self._sink_full = False
        self._queue_full = False
        self._source_paused = False
        self._source_done = False

    # -- data --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes read from the source (the caller hands over ownership of ``data``)."""
        if self.stubs:
            self.stubs[0].feed(data)
        else:
            self.deliver(data)

    def feed_end(self) -> None:
        """The source half-closed (EOF)."""
        if self._source_done:
            return
        self._source_done = True
        if self.stubs:
            self.stubs[0].feed(End.EOF)
        else:
            self.deliver(End.EOF)

    def deliver(self, item: Item) -> None:
        """The chain's output: write to the sink, or report the end (once)."""
        if self.ended:
            return
        if type(item) is bytes:
            if not self.sink.is_closing():
                self.sink.write(item)
                self.counts.sent += len(item)
        else:
            self.ended = True
            self._on_end(self, item)  # type: ignore[arg-type]

    # -- back-pressure -----------------------------------------------------------------------

    def sink_paused(self, paused: bool) -> None:
        """The sink transport crossed its high (True) or low (False) water mark."""
        self._sink_full = paused
        self._apply_pause()

    def _queue_delta(self, delta: int) -> None:
        self._queued += delta
        if delta > 0:
            if not self._queue_full and self._queued > HIGH_WATER:
                self._queue_full = True
                self._apply_pause()
        elif self._queue_full and self._queued < LOW_WATER:
            self._queue_full = False
            self._apply_pause()

    def _apply_pause(self) -> None:
        want = self._sink_full or self._queue_full
        # After EOF the transport has stopped reading for good; resuming would re-read EOF.
        if want == self._source_paused or self._source_done or self.closed or self.source.is_closing():
            return
        self._source_paused = want
        if want:
            self.source.pause_reading()
        else:
            self.source.resume_reading()

    # -- chain -------------------------------------------------------------------------------

    def _stub(self, name: str, spec_toxic: object, toxicity: float) -> Stub:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return Stub(
            name,
            spec_toxic,  # type: ignore[arg-type]
            toxicity,
            self.deliver,
            on_reset=self._on_reset,
            queue_delta=self._queue_delta,
            call_at=self._call_at,
            loop=self._loop,
        )

    def build(self, specs: list[ToxicSpec]) -> None:
        """Set up the chain of a new connection before any byte flows (synchronous)."""
        if not specs:
            return
        stubs = [self._stub(_HEAD_NAME, _HEAD, 1.0)]
        stubs += [self._stub(s.name, s.attributes, s.toxicity) for s in specs]
        for before, after in itertools.pairwise(stubs):
            before.output = after.feed
        self.stubs = stubs
        for stub in stubs:
            stub.start()

    async def add(self, spec: ToxicSpec) -> None:
        """Append a toxic at the end of the chain."""
        if self.closed or self.ended:
            return
        new = self._stub(spec.name, spec.attributes, spec.toxicity)
        if not self.stubs:  # leave the fast path: nothing is in flight, no interrupt needed
            head = self._stub(_HEAD_NAME, _HEAD, 1.0)
            head.output = new.feed
            self.stubs = [head, new]
            head.start()
            new.start()
            return
        last = self.stubs[-1]
        self.stubs.append(new)
        alive = await last.interrupt()
        if self.closed or not alive:  # the stream already ended: nothing for the toxic to act on
            self.stubs.remove(new)
            return
        new.output = last.output
        last.output = new.feed
        last.start()
        new.start()

    async def update(self, spec: ToxicSpec) -> None:
        """Swap a toxic's attributes and toxicity (its per-connection state and roll stay)."""
        stub = self._find(spec.name)
        if stub is None:
            return
        alive = await stub.interrupt()
        stub.toxic = spec.attributes
        stub.toxicity = spec.toxicity
        if alive and not self.closed:
            stub.start()

    async def remove(self, name: str) -> None:
        """Take a toxic out of the chain, forwarding everything it holds."""
        stub = self._find(name)
        if stub is None:
            return
        i = self.stubs.index(stub)
        before = self.stubs[i - 1]
        await stub.interrupt()  # its chunk in flight goes out first: it is older than before's
        await before.interrupt()
        if self.closed:
            return
        for item in stub.take_pending():
            stub.output(item)
        before.output = stub.output
        del self.stubs[i]
        before.start()
        if len(self.stubs) == 1:
            await self._to_fast_path()

    async def _to_fast_path(self) -> None:
        head = self.stubs[0]
        await head.interrupt()
        if self.closed or len(self.stubs) != 1:
            return
        self.stubs = []
        for item in head.take_pending():  # synchronously: no new byte can slip in between
            self.deliver(item)

    def _find(self, name: str) -> Stub | None:
        for stub in self.stubs[1:]:
            if stub.name == name:
                return stub
        return None

    def teardown(self) -> None:
        """The connection is gone: stop every stage, forward nothing."""
        self.closed = True
        for stub in self.stubs:
            stub.cancel()


__all__ = ["HIGH_WATER", "LOW_WATER", "ByteCounts", "Link"]
