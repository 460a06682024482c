"""Each L4 toxic driven through its ``pipe(stub)`` interface, without sockets and on a virtual clock.

`FakeStub` is the toxic's side of `drillkit.faults.toxics.base.Stub` (``read``, ``write``,
``sleep``, ``hold``, ``close``, ``reset``, ``loop_time``, ``received_at``, ``state``) with time
that only moves when a toxic sleeps or waits for input: a 10-second latency runs in microseconds.
An interrupt (the link rewiring the chain) is scheduled at a virtual time with ``interrupt_at``.
A few tests at the end run toxics on the real `Stub` to check that the fake keeps its contract.

The socket-level behaviour (the link, back-pressure, TCP RST, the Toxiproxy API) is tested in
``tests/proxy/test_toxiproxy_compat.py`` and ``tests/proxy/test_toxiproxy_api.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

import pytest

from drillkit.faults.toxics import TOXIC_TYPES, InvalidToxic, parse_toxic
from drillkit.faults.toxics.bandwidth import Bandwidth
from drillkit.faults.toxics.base import End, Interrupted, Item, StatefulToxic, Stub, Toxic
from drillkit.faults.toxics.latency import Latency
from drillkit.faults.toxics.limit_data import LimitData
from drillkit.faults.toxics.noop import Noop
from drillkit.faults.toxics.reset_peer import ResetPeer
from drillkit.faults.toxics.slicer import Slicer
from drillkit.faults.toxics.slow_close import SlowClose
from drillkit.faults.toxics.timeout import Timeout


class FakeStub:
    """A stub on a virtual clock (seconds from 0). Input is a list of ``(arrival_time, chunk)``;
    the stream ends (``read`` returns None) once they are read, unless ``eof=False``.

    ``out`` records ``(time, chunk)`` for every write; ``ended`` is ``("close" | "reset", time)``
    once the toxic ends the connection; ``sleeps`` records every requested sleep in seconds.
    """

    def __init__(
        self,
        toxic: Toxic,
        chunks: list[tuple[float, bytes]] | None = None,
        *,
        eof: bool = True,
        interrupt_at: float | None = None,
    ) -> None:
        self.now = 0.0
        self.received_at = 0.0
        self.state = toxic.new_state() if isinstance(toxic, StatefulToxic) else None
        self.inputs: deque[tuple[float, bytes]] = deque(chunks or [])
        self.eof = eof
        self.interrupt_at = interrupt_at
        self.out: list[tuple[float, bytes]] = []
        self.sleeps: list[float] = []
        self.held_at: float | None = None
        self.ended: tuple[str, float] | None = None

    @property
    def closed(self) -> bool:
        return self.ended is not None

    def loop_time(self) -> float:
        return self.now

    def _interrupt_by(self, until: float) -> None:
        """Move the clock to ``until``, or raise `Interrupted` at the interrupt if it comes first."""
        if self.interrupt_at is not None and until >= self.interrupt_at:
            self.now = max(self.now, self.interrupt_at)
            raise Interrupted
        self.now = max(self.now, until)

    async def read(self) -> bytes | None:
        if self.inputs:
            at, data = self.inputs[0]
            self._interrupt_by(at)
            self.inputs.popleft()
            self.received_at = at
            return data
        if self.eof:
            self._interrupt_by(self.now)
            return None
        self._interrupt_by(float("inf"))  # waits for input that never comes
        raise AssertionError("a toxic waited for input forever")

    def write(self, data: bytes) -> None:
        if data and not self.closed:
            self.out.append((self.now, data))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._interrupt_by(self.now + max(seconds, 0.0))

    async def hold(self) -> None:
        self.held_at = self.now
        self._interrupt_by(float("inf"))
        raise AssertionError("a toxic held forever: give the stub an interrupt_at")

    def close(self) -> None:
        if not self.closed:
            self.ended = ("close", self.now)

    def reset(self) -> None:
        if not self.closed:
            self.ended = ("reset", self.now)

    @property
    def data(self) -> bytes:
        return b"".join(chunk for _, chunk in self.out)


def run(toxic: Toxic, stub: FakeStub) -> bool:
    """Run ``pipe`` to its end; True if it returned, False if it was interrupted. Clears the
    interrupt, so calling it again restarts the toxic on the same stub, as the link does."""
    try:
        asyncio.run(toxic.pipe(stub))  # type: ignore[arg-type]
    except Interrupted:
        stub.interrupt_at = None
        return False
    return True


# -- latency -----------------------------------------------------------------------------------


def test_latency_delays_each_chunk_from_its_arrival() -> None:
    stub = FakeStub(Latency(latency=100), [(0.0, b"a"), (0.005, b"b"), (1.0, b"c")])
    assert run(Latency(latency=100), stub)
    # A burst is delayed once (from each chunk's arrival), not once per chunk.
    assert stub.out == [(0.1, b"a"), (pytest.approx(0.105), b"b"), (pytest.approx(1.1), b"c")]
    assert stub.ended is None  # the runner passes the end on, not the toxic


def test_latency_jitter_stays_within_bounds_and_never_below_zero() -> None:
    random.seed(7)
    delays = [Latency(latency=100, jitter=20).delay_s() for _ in range(500)]
    assert all(0.08 <= d <= 0.12 for d in delays) and len(set(delays)) > 100
    assert all(Latency(latency=5, jitter=50).delay_s() >= 0.0 for _ in range(500))


def test_latency_interrupted_forwards_the_chunk_in_flight() -> None:
    toxic = Latency(latency=10_000)
    stub = FakeStub(toxic, [(0.0, b"in flight"), (0.5, b"queued")], interrupt_at=0.2)
    assert not run(toxic, stub)
    assert stub.out == [(0.2, b"in flight")]  # rule 2: written before Interrupted left pipe
    assert list(stub.inputs) == [(0.5, b"queued")]  # still queued: the link moves it on


# -- bandwidth ---------------------------------------------------------------------------------


def test_bandwidth_sends_slices_at_the_rate() -> None:
    toxic = Bandwidth(rate=10)  # 10 KB/s = 10 000 bytes/s: 1 000-byte slices, 0.1 s each
    stub = FakeStub(toxic, [(0.0, bytes(5000))])
    assert run(toxic, stub)
    assert [len(c) for _, c in stub.out] == [1000] * 5
    assert [t for t, _ in stub.out] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_bandwidth_keeps_its_wire_schedule_across_chunks_and_restarts() -> None:
    toxic = Bandwidth(rate=1)  # 1 000 bytes/s: one 100-byte slice per 0.1 s
    stub = FakeStub(toxic, [(0.0, bytes(300)), (0.05, bytes(100))], interrupt_at=0.15)
    assert not run(toxic, stub)
    assert stub.data == bytes(300)  # one slice sent, the rest of the chunk forwarded on interrupt
    faster = Bandwidth(rate=2)  # an update: the same stub and state, new attributes
    assert run(faster, stub)
    # The wire stays busy until 0.2 s (the slice in progress when interrupted counts as sent), so
    # the next 100 bytes leave 0.05 s after that at 2 000 bytes/s: at 0.25 s, not at once at 0.15 s.
    assert stub.out[-1] == (pytest.approx(0.25), bytes(100))


def test_bandwidth_zero_holds_data_and_releases_it_on_interrupt() -> None:
    toxic = Bandwidth(rate=0)
    stub = FakeStub(toxic, [(0.0, b"held")], interrupt_at=3.0)
    assert not run(toxic, stub)
    assert stub.held_at == 0.0 and stub.out == [(3.0, b"held")]


# -- slow_close --------------------------------------------------------------------------------


def test_slow_close_passes_data_then_delays_the_end() -> None:
    toxic = SlowClose(delay=400)
    stub = FakeStub(toxic, [(0.0, b"bye"), (0.1, b"!")])
    assert run(toxic, stub)
    assert stub.out == [(0.0, b"bye"), (0.1, b"!")]  # data untouched
    assert stub.now == pytest.approx(0.5)  # pipe returned (the end passes on) 0.4 s after EOF
    assert stub.ended is None


def test_slow_close_interrupted_while_delaying_delays_again_on_restart() -> None:
    toxic = SlowClose(delay=400)
    stub = FakeStub(toxic, [(0.0, b"x")], interrupt_at=0.2)
    assert not run(toxic, stub)
    assert run(toxic, stub)  # the restarted pipe reads the end again and waits again
    assert stub.sleeps == [0.4, 0.4] and stub.now == pytest.approx(0.6)


# -- timeout -----------------------------------------------------------------------------------


def test_timeout_holds_everything_then_closes() -> None:
    toxic = Timeout(timeout=250)
    stub = FakeStub(toxic, [(0.0, b"anyone there?")])
    assert run(toxic, stub)
    assert stub.out == [] and stub.ended == ("close", 0.25)
    assert list(stub.inputs) == [(0.0, b"anyone there?")]  # never read: held on the input


def test_timeout_clock_survives_restarts() -> None:
    toxic = Timeout(timeout=1000)
    stub = FakeStub(toxic, interrupt_at=0.6)
    assert not run(toxic, stub)
    assert run(Timeout(timeout=1000), stub)  # an update keeps the state: no fresh second
    assert stub.ended == ("close", pytest.approx(1.0))


def test_timeout_zero_holds_until_interrupted_and_never_closes() -> None:
    toxic = Timeout(timeout=0)
    stub = FakeStub(toxic, [(0.0, b"held")], interrupt_at=60.0)
    assert not run(toxic, stub)
    assert stub.held_at == 0.0 and stub.ended is None and stub.out == []


# -- reset_peer --------------------------------------------------------------------------------


def test_reset_peer_resets_after_the_first_chunk_and_drops_it() -> None:
    toxic = ResetPeer(timeout=50)
    stub = FakeStub(toxic, [(0.2, b"x"), (0.21, b"y")])
    assert run(toxic, stub)
    assert stub.ended == ("reset", pytest.approx(0.25)) and stub.out == []


def test_reset_peer_interrupted_forwards_the_chunk_and_does_not_reset() -> None:
    toxic = ResetPeer(timeout=1000)
    stub = FakeStub(toxic, [(0.0, b"x")], interrupt_at=0.5)
    assert not run(toxic, stub)
    assert stub.out == [(0.5, b"x")] and stub.ended is None


def test_reset_peer_without_data_never_resets() -> None:
    toxic = ResetPeer(timeout=0)
    stub = FakeStub(toxic, [])
    assert run(toxic, stub)
    assert stub.ended is None


# -- slicer ------------------------------------------------------------------------------------


def test_slicer_cuts_chunks_into_pieces_with_a_delay_between() -> None:
    toxic = Slicer(average_size=3, delay=500)
    stub = FakeStub(toxic, [(0.0, b"abcdefgh")])
    assert run(toxic, stub)
    assert [c for _, c in stub.out] == [b"abc", b"def", b"gh"]
    assert stub.sleeps == [0.0005, 0.0005]  # microseconds, between pieces only


def test_slicer_with_variation_delivers_every_byte_in_order() -> None:
    random.seed(3)
    payload = random.randbytes(5000)
    toxic = Slicer(average_size=10, size_variation=8, delay=10)
    stub = FakeStub(toxic, [(0.0, payload[:2500]), (0.01, payload[2500:])])
    assert run(toxic, stub)
    sizes = [len(c) for _, c in stub.out]
    assert stub.data == payload and all(1 <= s <= 18 for s in sizes) and len(set(sizes)) > 5


def test_slicer_interrupted_forwards_the_rest_of_the_chunk() -> None:
    toxic = Slicer(average_size=1, delay=1_000_000)  # one byte a second
    stub = FakeStub(toxic, [(0.0, b"abcd")], interrupt_at=1.5)
    assert not run(toxic, stub)
    assert [c for _, c in stub.out] == [b"a", b"b", b"cd"]


# -- limit_data --------------------------------------------------------------------------------


def test_limit_data_passes_the_limit_then_closes() -> None:
    toxic = LimitData(bytes=10)
    stub = FakeStub(toxic, [(0.0, b"123456"), (0.1, b"7890ab"), (0.2, b"never")])
    assert run(toxic, stub)
    assert stub.data == b"1234567890" and stub.ended == ("close", 0.1)


def test_limit_data_counts_across_restarts() -> None:
    toxic = LimitData(bytes=6)
    stub = FakeStub(toxic, [(0.0, b"abcd"), (1.0, b"efgh")], interrupt_at=0.5)
    assert not run(toxic, stub)  # interrupted while waiting for the second chunk
    assert run(LimitData(bytes=6), stub)
    assert stub.data == b"abcdef" and stub.ended == ("close", 1.0)


def test_limit_data_zero_closes_on_the_first_data() -> None:
    toxic = LimitData(bytes=0)
    stub = FakeStub(toxic, [(0.3, b"x")])
    assert run(toxic, stub)
    assert stub.out == [] and stub.ended == ("close", 0.3)


def test_limit_data_end_of_stream_before_the_limit_does_not_close() -> None:
    toxic = LimitData(bytes=100)
    stub = FakeStub(toxic, [(0.0, b"short")])
    assert run(toxic, stub)
    assert stub.data == b"short" and stub.ended is None  # the runner passes the EOF on


# -- noop --------------------------------------------------------------------------------------


def test_noop_passes_every_chunk_untouched_and_at_once() -> None:
    chunks = [(0.0, b"a"), (0.5, b"bc")]
    stub = FakeStub(Noop(), chunks)
    assert run(Noop(), stub)
    assert stub.out == [(0.0, b"a"), (0.5, b"bc")] and stub.sleeps == [] and stub.ended is None


# -- attributes and registration ---------------------------------------------------------------


def test_attributes_are_validated_by_each_toxic_type() -> None:
    spec = parse_toxic({"type": "slicer", "attributes": {"average_size": 10}})
    assert spec.attributes == Slicer(average_size=10) and spec.name == "slicer_downstream"
    with pytest.raises(InvalidToxic, match="unknown attribute 'late'"):
        parse_toxic({"type": "latency", "attributes": {"late": 1}})
    with pytest.raises(InvalidToxic, match="attribute 'rate' of bandwidth"):
        parse_toxic({"type": "bandwidth", "attributes": {"rate": -1}})


def test_every_registered_toxic_has_a_unit_test_here() -> None:
    names = [name for name in globals() if name.startswith("test_")]
    untested = {t for t in TOXIC_TYPES if not any(name.startswith(f"test_{t}_") for name in names)}
    assert not untested, f"add a test_<type>_... unit test for {sorted(untested)}"


# -- the same toxics on the real Stub (no sockets, real loop) ----------------------------------


def _on_real_stub(toxic: Toxic, toxicity: float = 1.0) -> tuple[Stub, list[Item], list[str]]:
    out: list[Item] = []
    resets: list[str] = []
    stub = Stub("t", toxic, toxicity, out.append, on_reset=lambda: resets.append("rst"), queue_delta=lambda _: None)
    return stub, out, resets


def test_real_stub_interrupt_ends_a_long_sleep_at_once_and_forwards_the_chunk() -> None:
    async def scenario() -> tuple[list[Item], float]:
        stub, out, _ = _on_real_stub(Latency(latency=10_000))
        stub.feed(b"in flight")
        stub.start()
        await asyncio.sleep(0)  # the toxic reads the chunk and starts its 10 s wait
        started = time.perf_counter()
        assert await stub.interrupt()
        return out, time.perf_counter() - started

    out, took = asyncio.run(scenario())
    assert out == [b"in flight"] and took < 0.5


def test_real_stub_latency_measures_from_arrival_on_the_loop_clock() -> None:
    async def scenario() -> float:
        stub, out, _ = _on_real_stub(Latency(latency=20))
        loop = asyncio.get_running_loop()
        stub.feed(b"x")
        stub.feed(End.EOF)
        fed = loop.time()
        stub.start()
        assert stub.task is not None
        await asyncio.wait_for(stub.task, 2)
        assert out == [b"x", End.EOF]  # the runner passed the EOF on after pipe returned
        return loop.time() - fed

    assert 0.019 <= asyncio.run(scenario()) < 1.0


def test_real_stub_toxicity_zero_runs_the_noop_instead() -> None:
    async def scenario() -> tuple[list[Item], list[str]]:
        stub, out, resets = _on_real_stub(ResetPeer(timeout=0), toxicity=0.0)
        assert not stub.active
        stub.feed(b"x")
        stub.feed(End.EOF)
        stub.start()
        assert stub.task is not None
        await asyncio.wait_for(stub.task, 2)
        return out, resets

    assert asyncio.run(scenario()) == ([b"x", End.EOF], [])


def test_real_stub_reset_aborts_through_the_link_callback() -> None:
    async def scenario() -> tuple[list[Item], list[str]]:
        stub, out, resets = _on_real_stub(ResetPeer(timeout=0))
        stub.feed(b"x")
        stub.start()
        assert stub.task is not None
        await asyncio.wait_for(stub.task, 2)
        assert stub.closed
        return out, resets

    assert asyncio.run(scenario()) == ([], ["rst"])
