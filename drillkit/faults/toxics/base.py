"""The toxic interface: one fault acting on one direction of one TCP connection.

A *toxic* is a frozen pydantic model of its attributes plus one coroutine, ``pipe(stub)``. The
*stub* is that toxic's place in one connection's pipe: an input queue fed by the stage before it,
an output to the stage after it, and the waits a toxic may use. The same toxic object serves
every connection; per-connection memory lives in ``stub.state`` (see `StatefulToxic`).

    source socket ─▶ [noop] ─▶ [toxic 1] ─▶ … ─▶ [toxic n] ─▶ sink socket
                     hidden      stub         stub

Stream rules (every toxic follows them; the link relies on them)
----------------------------------------------------------------
1. **Every wait is interruptible.** A toxic waits only through ``await stub.read()``,
   ``await stub.sleep(seconds)`` and ``await stub.hold()``. When the link rewires the chain
   (a toxic is added, updated or removed under live traffic) it *interrupts* the stub: the wait
   in progress raises `Interrupted`, and the link restarts ``pipe`` later with the same stub.
   ``stub.write`` never blocks, so an interrupt always completes within one loop iteration and
   the API never waits on traffic (upstream Toxiproxy issues #558/#412).
2. **On interrupt the chunk in flight is forwarded, never dropped.** Write it in a ``finally``
   (or an ``except Interrupted``) before the exception leaves ``pipe``; slice what is left of it.
   Chunks still queued on the input stay queued: the link moves them on.
3. **End of stream closes the stub.** ``read()`` returns ``None`` once the input has ended;
   ``pipe`` then returns (after any work of its own, such as a delayed close) and the runner
   passes the end on. A toxic that decides to end the connection itself calls ``stub.close()``
   (the peer sees a close once what was written before has been flushed) or ``stub.reset()``
   (both sockets are aborted with SO_LINGER 0, so peers see a TCP RST).
4. **Toxicity is drawn once per connection.** A stub rolls ``u`` in [0, 1) when it is created
   and runs the toxic only while ``u < toxicity``; otherwise it runs the no-op. A toxic with
   toxicity 0 therefore never acts — not even through side effects at connect or close time
   (upstream issue #603). Changing a toxic's toxicity compares the same ``u`` with the new value.
5. **Times are floats in seconds inside; attributes keep the wire units** (ms, µs, KB/s, bytes)
   and each toxic converts them itself.

Optional abilities are small separate interfaces discovered with ``isinstance``; the link has no
special case for any toxic type. Today there is one: `StatefulToxic`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

#: How long an interrupted toxic may take to leave ``pipe`` before it is cancelled (a toxic that
#: does this broke rule 1; we lose its chunk in flight rather than hang the API).
INTERRUPT_GRACE_S = 1.0


class End(enum.Enum):
    """Markers that end a stream. ``EOF``: the source half-closed; ``CLOSE``: a toxic ended it."""

    EOF = "eof"
    CLOSE = "close"


Item = bytes | End
Output = Callable[[Item], None]


class Interrupted(Exception):
    """Raised inside ``pipe`` when the link interrupts the stub; let it propagate."""


class Toxic(BaseModel):
    """Base of every toxic: the attributes (validated, immutable) and the behaviour.

    Subclasses set ``type_name`` (the wire ``type``) and declare their attributes as fields with
    a default of 0 (omitted attributes are 0) and ``ge=0``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    type_name: ClassVar[str] = ""

    async def pipe(self, stub: Stub) -> None:
        """Move data from ``stub.read()`` to ``stub.write()`` following the stream rules."""
        raise NotImplementedError


@runtime_checkable
class StatefulToxic(Protocol):
    """A toxic that keeps memory per connection (it survives interrupts and updates)."""

    def new_state(self) -> Any: ...


class Stub:
    """One toxic's place in one connection's pipe (created, wired and run by the link).

    The link owns the stub: it calls `feed`, `start`, `interrupt`, `take_pending` and `cancel`;
    toxics call `read`, `write`, `sleep`, `hold`, `close` and `reset`. ``queue_delta`` reports
    every change in queued bytes so the link can apply back-pressure to the source socket.
    """

    __slots__ = (
        "_interrupted",
        "_loop",
        "_queue",
        "_waiter",
        "_waiting_for_input",
        "closed",
        "end",
        "loop_time",
        "name",
        "on_reset",
        "output",
        "queue_delta",
        "received_at",
        "roll",
        "state",
        "task",
        "toxic",
        "toxicity",
    )

    def __init__(
        self,
        name: str,
        toxic: Toxic,
        toxicity: float,
        output: Output,
        *,
        on_reset: Callable[[], None],
        queue_delta: Callable[[int], None],
    ) -> None:
        self.name = name
        self.toxic = toxic
        self.toxicity = toxicity
        self.roll = random.random()  # rule 4: drawn once, here
        self.state: Any = toxic.new_state() if isinstance(toxic, StatefulToxic) else None
        self.output = output
        self.on_reset = on_reset
        self.queue_delta = queue_delta
        self.closed = False
        self.end: End | None = None
        self.received_at = 0.0
        self.task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.loop_time = self._loop.time  # the clock `received_at` and sleeps are measured on
        self._queue: deque[tuple[Item, float]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_for_input = False
        self._interrupted = False

    @property
    def active(self) -> bool:
        """Whether this connection runs the toxic (rather than the no-op), per rule 4."""
        return self.roll < self.toxicity

    # -- the link's side -------------------------------------------------------------------

    def feed(self, item: Item) -> None:
        """Queue an item from the previous stage; stamps its arrival time (loop clock)."""
        if self.closed:
            return  # the connection is ending; nothing after the end matters
        self._queue.append((item, self._loop.time()))
        if type(item) is bytes:
            self.queue_delta(len(item))
        if self._waiting_for_input:
            self._wake()

    def start(self) -> None:
        """Run the toxic (or the no-op, per the roll) on this stub in a task."""
        if not self.closed:
            self.task = self._loop.create_task(self._run(), name=f"toxic:{self.name}")

    async def interrupt(self) -> bool:
        """Stop ``pipe`` at its next wait; return False if the stub has already closed."""
        task = self.task
        if task is not None and not task.done():
            self._interrupted = True
            self._wake()
            await asyncio.wait({task}, timeout=INTERRUPT_GRACE_S)
            if not task.done():
                log.warning("toxic %s ignored an interrupt; cancelling it", self.name)
                task.cancel()
                await asyncio.wait({task})
            self._interrupted = False
        return not self.closed

    def take_pending(self) -> list[Item]:
        """Remove and return what this stub still owes downstream, oldest first: the queued
        items, or an end of stream it has read but not passed on (slow_close interrupted while
        delaying it). The stub counts as closed once an end has been taken.
        """
        items: list[Item] = [item for item, _ in self._queue]
        self._queue.clear()
        if self.end is not None and not self.closed:
            items.append(self.end)
        queued = sum(len(i) for i in items if type(i) is bytes)
        if queued:
            self.queue_delta(-queued)
        if any(type(i) is not bytes for i in items):
            self.closed = True
        return items

    def cancel(self) -> None:
        """Tear down (the connection is gone): nothing is forwarded."""
        self.closed = True
        if self.task is not None:
            self.task.cancel()

    # -- the toxic's side ------------------------------------------------------------------

    async def read(self) -> bytes | None:
        """Next chunk, or None once the stream has ended (again after a restart). Raises
        `Interrupted`."""
        while True:
            if self._interrupted:
                raise Interrupted
            if self.end is not None:
                return None
            if self._queue:
                item, self.received_at = self._queue.popleft()
                if type(item) is bytes:
                    self.queue_delta(-len(item))
                    return item
                self.end = item  # type: ignore[assignment]
                return None
            self._waiting_for_input = True
            try:
                await self._wait(None)
            finally:
                self._waiting_for_input = False

    def write(self, data: bytes) -> None:
        """Pass data to the next stage. Never blocks; ignored after the stub has closed."""
        if data and not self.closed:
            self.output(data)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (nothing if <= 0). Raises `Interrupted`."""
        if self._interrupted:
            raise Interrupted
        if seconds > 0:
            await self._wait(seconds)
            if self._interrupted:
                raise Interrupted

    async def hold(self) -> None:
        """Wait until interrupted (then raise `Interrupted`): holds whatever is queued."""
        while True:
            if self._interrupted:
                raise Interrupted
            await self._wait(None)

    def close(self) -> None:
        """End the connection once what was written before is flushed (rule 3)."""
        if not self.closed:
            self.closed = True
            self.output(End.CLOSE)

    def reset(self) -> None:
        """Abort the connection now with a TCP RST (SO_LINGER 0 on both sockets)."""
        if not self.closed:
            self.closed = True
            self.on_reset()

    # -- internals -------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float | None) -> None:
        # One future per wait, woken by feed (when waiting for input), by the timer, or by an
        # interrupt: cheaper than racing tasks, and nothing else can wake it.
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout, _resolve, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def _run(self) -> None:
        try:
            if self.active:
                await self.toxic.pipe(self)
            else:
                while (data := await self.read()) is not None:
                    self.write(data)
        except Interrupted:
            return
        except Exception:
            log.exception("toxic %s failed; closing the connection", self.name)
            self.close()
            return
        if not self.closed:  # rule 3: pass the end on (EOF stays a half-close)
            self.closed = True
            self.output(self.end or End.CLOSE)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


__all__ = ["INTERRUPT_GRACE_S", "End", "Interrupted", "Item", "StatefulToxic", "Stub", "Toxic"]
