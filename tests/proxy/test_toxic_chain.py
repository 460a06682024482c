"""The toxic chain's mechanics, without sockets: stubs stepped in the call that feeds them, and
the precise timer their sleeps use.

A chunk crosses stages with nothing to wait for inside `Link.feed` (no task per stage), an
interrupt is over when `Stub.interrupt` returns, and a toxic that awaits anything but its stub
closes its connection. `PreciseTimer` never fires early, fires in deadline order, and is later
than asyncio's own timers by less. Socket-level behaviour is in ``test_toxiproxy_compat.py``.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import ClassVar

import pytest

from drillkit.faults.toxics import ToxicSpec, parse_toxic
from drillkit.faults.toxics.base import End, Item, Stub, Toxic
from drillkit.faults.toxics.latency import Latency
from drillkit.proxy.link import Link
from drillkit.proxy.precise_timer import PreciseTimer


class FakeTransport:
    """The part of `asyncio.Transport` a link uses, recording what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.paused = False

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def _link(ends: list[End]) -> tuple[Link, FakeTransport]:
    """A link whose reset does what the connection's does: drop the chain at once."""
    sink = FakeTransport()
    links: list[Link] = []
    link = Link(
        "downstream",
        FakeTransport(),  # type: ignore[arg-type]
        sink,  # type: ignore[arg-type]
        on_end=lambda _, marker: ends.append(marker),
        on_reset=lambda: links[0].teardown(),
    )
    links.append(link)
    return link, sink


def _spec(name: str, type_: str, **attributes: int) -> ToxicSpec:
    return parse_toxic({"name": name, "type": type_, "attributes": attributes})


def test_a_chunk_crosses_stages_with_nothing_to_wait_for_inside_feed() -> None:
    async def scenario() -> None:
        ends: list[End] = []
        link, sink = _link(ends)
        link.build([_spec("zero", "latency", latency=0), _spec("pass", "noop")])
        for chunk in (b"a", b"bc", b"d"):
            link.feed(chunk)
            assert sink.written[-1] == chunk  # written before feed returned: no loop iteration
        link.feed_end()
        assert ends == [End.EOF]
        link.teardown()

    asyncio.run(scenario())


def test_an_interrupt_is_over_when_it_returns() -> None:
    async def scenario() -> None:
        out: list[Item] = []
        stub = Stub("slow", Latency(latency=60_000), 1.0, out.append, on_reset=lambda: None, queue_delta=lambda _: None)
        stub.feed(b"in flight")
        stub.feed(b"queued")
        stub.start()  # reads the first chunk and sleeps, synchronously
        assert out == []
        assert await stub.interrupt()
        assert out == [b"in flight"]  # rule 2, before interrupt() returned
        assert stub.task is not None and stub.task.done()
        assert stub.take_pending() == [b"queued"]

    asyncio.run(scenario())


def test_removing_a_holding_toxic_releases_its_bytes_in_order_then_takes_the_fast_path() -> None:
    async def scenario() -> None:
        ends: list[End] = []
        link, sink = _link(ends)
        link.build([_spec("hold", "timeout", timeout=0)])
        link.feed(b"a")
        link.feed(b"b")
        assert sink.written == []
        await link.remove("hold")
        assert sink.written == [b"a", b"b"] and link.stubs == []
        link.feed(b"c")
        assert sink.written == [b"a", b"b", b"c"]

    asyncio.run(scenario())


def test_a_reset_from_inside_a_toxic_can_tear_the_chain_down_at_once() -> None:
    async def scenario() -> None:
        ends: list[End] = []
        link, sink = _link(ends)
        link.build([_spec("rst", "reset_peer", timeout=0)])
        link.feed(b"x")  # reset_peer resets while its own code is running
        assert link.closed and all(stub.closed for stub in link.stubs)
        link.feed(b"after")
        assert sink.written == [] and ends == []

    asyncio.run(scenario())


class _AwaitsTheLoop(Toxic):
    """Breaks stream rule 1: waits on asyncio instead of on its stub."""

    type_name: ClassVar[str] = "awaits_the_loop"

    async def pipe(self, stub: Stub) -> None:
        await asyncio.sleep(0.01)


def test_a_toxic_that_awaits_anything_but_its_stub_closes_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[Item]:
        out: list[Item] = []
        stub = Stub("bad", _AwaitsTheLoop(), 1.0, out.append, on_reset=lambda: None, queue_delta=lambda _: None)
        stub.start()
        return out

    assert asyncio.run(scenario()) == [End.CLOSE]
    assert "stream rule 1" in caplog.text


# -- the precise timer --------------------------------------------------------------------------


def _timer(loop: asyncio.AbstractEventLoop) -> PreciseTimer:
    timer = PreciseTimer.open(loop)
    if timer is None:
        pytest.skip("no timerfd on this system: toxics use the loop's timers")
    return timer


def test_precise_timer_fires_in_order_never_early_and_not_when_cancelled() -> None:
    async def scenario() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        timer = _timer(loop)
        fired: list[tuple[str, float]] = []
        now = loop.time()
        deadlines = {"c": now + 0.030, "a": now + 0.010, "b": now + 0.020, "past": now - 1.0}
        for name, when in deadlines.items():
            timer.call_at(when, lambda name=name, when=when: fired.append((name, loop.time() - when)))
        timer.call_at(now + 0.015, lambda: fired.append(("cancelled", 0.0))).cancel()
        await asyncio.sleep(0.1)
        timer.close()
        return fired

    fired = asyncio.run(scenario())
    assert [name for name, _ in fired] == ["past", "a", "b", "c"]
    assert all(late >= 0 for _, late in fired)


def test_precise_timer_close_hands_pending_timers_to_the_loop() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        timer = _timer(loop)
        fired: list[str] = []
        timer.call_at(loop.time() + 0.02, lambda: fired.append("pending"))
        timer.close()
        timer.call_at(loop.time() + 0.01, lambda: fired.append("after close"))
        await asyncio.sleep(0.1)
        return fired

    assert asyncio.run(scenario()) == ["after close", "pending"]


def test_precise_timer_is_later_by_less_than_asyncios_own() -> None:
    # asyncio rounds its selector timeout up to whole milliseconds (~0.5 ms late on average);
    # the timerfd is late by the kernel's timer slack. Interleaved, so noise hits both alike.
    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        timer = _timer(loop)
        late: dict[str, list[float]] = {"loop": [], "precise": []}
        for i in range(60):
            kind = ("loop", "precise")[i % 2]
            call_at = loop.call_at if kind == "loop" else timer.call_at
            done = loop.create_future()
            when = loop.time() + 0.002 + (i % 7) * 0.0001
            call_at(when, lambda done=done: done.set_result(loop.time()))  # type: ignore[misc]
            late[kind].append(await done - when)
        timer.close()
        return statistics.median(late["loop"]), statistics.median(late["precise"])

    loop_late, precise_late = asyncio.run(scenario())
    assert precise_late < loop_late


def test_latency_on_the_precise_timer_never_leaves_early() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        timer = _timer(loop)
        left: list[float] = []
        stub = Stub(
            "lat",
            Latency(latency=5),
            1.0,
            lambda item: left.append(loop.time()) if type(item) is bytes else None,
            on_reset=lambda: None,
            queue_delta=lambda _: None,
            call_at=timer.call_at,
        )
        stub.start()
        fed = []
        for _ in range(5):
            fed.append(loop.time())
            stub.feed(b"x")
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.03)
        stub.cancel()
        timer.close()
        return [out - into for into, out in zip(fed, left, strict=True)]

    assert all(delay >= 0.005 for delay in asyncio.run(scenario()))
