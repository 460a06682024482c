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
   ``stub.write`` never blocks, so an interrupt completes before ``interrupt()`` returns and
   the API never waits on traffic (upstream Toxiproxy issues #558/#412). Awaiting anything else
   (``asyncio.sleep``, a future) is an error: the stub closes the connection.
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
from collections.abc import Callable, Coroutine, Generator
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)


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


class TimerHandle(Protocol):
    """What a scheduled wake-up gives back (`asyncio.TimerHandle` is one)."""

    def cancel(self) -> None: ...


#: Schedules ``callback()`` at ``when`` on the loop clock (`asyncio.AbstractEventLoop.call_at`'s
#: shape). A stub uses its loop's by default; the proxy passes a more precise one.
CallAt = Callable[[float, Callable[[], None]], TimerHandle]

#: Toxic classes already checked against `StatefulToxic` (a protocol isinstance is slow, and
#: a stub is built for every toxic of every new connection).
_STATEFUL: dict[type[Toxic], bool] = {}


class _Park:
    """What a stub's wait yields to the stub that steps it: "resume me when woken"."""

    __slots__ = ()

    def __await__(self) -> Generator[_Park, None, None]:
        yield self


_PARK = _Park()


class Stub:
    """One toxic's place in one connection's pipe (created, wired and run by the link).

    The link owns the stub: it calls `feed`, `start`, `interrupt`, `take_pending` and `cancel`;
    toxics call `read`, `write`, `sleep`, `hold`, `close` and `reset`. ``queue_delta`` reports
    every change in queued bytes so the link can apply back-pressure to the source socket.

    The stub runs its toxic itself rather than in an asyncio task: ``pipe`` waits only through
    the stub (rule 1), so the stub resumes it (``send``) exactly when what it waits for happens —
    in `feed` for input, from a ``call_at`` timer for a sleep, in `interrupt`. A chunk crosses
    every stage that has nothing to wait for (the head, ``latency`` 0, a toxic that is not
    active) inside the call that read it from the socket: no task switch per stage and chunk.
    ``task`` is a future that is done when the current run of the toxic ends (made on demand).
    """

    __slots__ = (
        "_call_at",
        "_coro",
        "_doomed",
        "_interrupted",
        "_loop",
        "_queue",
        "_running",
        "_task",
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
        call_at: CallAt | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.name = name
        self.toxic = toxic
        self.toxicity = toxicity
        self.roll = random.random()  # rule 4: drawn once, here
        self.state: Any = toxic.new_state() if _is_stateful(toxic) else None  # type: ignore[attr-defined]
        self.output = output
        self.on_reset = on_reset
        self.queue_delta = queue_delta
        self.closed = False
        self.end: End | None = None
        self.received_at = 0.0
        self._task: asyncio.Future[None] | None = None
        self._loop = loop or asyncio.get_running_loop()
        self.loop_time = self._loop.time  # the clock `received_at` and sleeps are measured on
        self._call_at: CallAt = call_at or self._loop.call_at
        self._queue: deque[tuple[Item, float]] = deque()
        self._coro: Coroutine[Any, Any, None] | None = None  # the run in progress
        self._running = False  # inside `_step`: the toxic's code is executing
        self._doomed = False  # cancelled while running: stop it when it next waits
        self._waiting_for_input = False
        self._interrupted = False

    @property
    def task(self) -> asyncio.Future[None]:
        """Done when the current run ends (at once if none is running)."""
        if self._task is None:
            self._task = self._loop.create_future()
            if self._coro is None:
                self._task.set_result(None)
        return self._task

    @property
    def active(self) -> bool:
        """Whether this connection runs the toxic (rather than the no-op), per rule 4."""
        return self.roll < self.toxicity

    # -- the link's side -------------------------------------------------------------------

    def feed(self, item: Item) -> None:
        """Queue an item from the previous stage (stamped with its arrival time on the loop
        clock) and, if the toxic is waiting for input, run it on the item now."""
        if self.closed:
            return  # the connection is ending; nothing after the end matters
        self._queue.append((item, self._loop.time()))
        if type(item) is bytes:
            self.queue_delta(len(item))
        if self._waiting_for_input:
            self._step()

    def start(self) -> None:
        """Run the toxic (or the no-op, per the roll) on this stub, up to its first wait."""
        if self.closed or self._coro is not None:
            return
        self._task = None  # the new run's future is made if someone asks for it
        self._doomed = False
        self._coro = self._run()
        self._step()

    async def interrupt(self) -> bool:
        """Stop ``pipe`` at its wait: `Interrupted` is raised there, the toxic forwards its chunk
        in flight and returns, all before this returns. False if the stub has already closed."""
        if self._coro is not None:
            self._interrupted = True
            try:
                self._step()
                if self._coro is not None:  # it caught Interrupted and waited again
                    log.warning("toxic %s ignored an interrupt; stopping it", self.name)
                    self._kill()
            finally:
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
        self._kill()

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
                await _PARK
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
            timer = self._call_at(self._loop.time() + seconds, self._step)
            try:
                await _PARK  # resumed by the timer or by an interrupt
            finally:
                timer.cancel()
            if self._interrupted:
                raise Interrupted

    async def hold(self) -> None:
        """Wait until interrupted (then raise `Interrupted`): holds whatever is queued."""
        while True:
            if self._interrupted:
                raise Interrupted
            await _PARK

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

    def _step(self) -> None:
        """Resume the run until its next wait or its end (no-op if there is none, or if the
        toxic's code is already executing further up the stack)."""
        coro = self._coro
        if coro is None or self._running:
            return
        self._running = True
        try:
            waits_on = coro.send(None)
        except StopIteration:
            self._coro = None
            self._end_run()
            return
        except BaseException:
            self._coro = None
            self._end_run()
            raise
        finally:
            self._running = False
        if waits_on is not _PARK:
            log.error("toxic %s awaited %r, not its stub (stream rule 1); closing", self.name, waits_on)
            self._kill()
            self.close()
        elif self._doomed:
            self._kill()

    def _kill(self) -> None:
        """End the run at its wait (``GeneratorExit`` there; its writes still go out unless the
        stub has closed). Deferred to the next wait if the toxic's code is executing."""
        coro = self._coro
        if coro is None:
            return
        if self._running:
            self._doomed = True
            return
        self._coro, self._doomed = None, False
        try:
            coro.close()
        except RuntimeError:  # it caught GeneratorExit and waited again
            log.warning("toxic %s would not stop", self.name)
        self._end_run()

    def _end_run(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.set_result(None)

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


def _is_stateful(toxic: Toxic) -> bool:
    cls = type(toxic)
    known = _STATEFUL.get(cls)
    if known is None:
        known = _STATEFUL[cls] = isinstance(toxic, StatefulToxic)
    return known


__all__ = ["CallAt", "End", "Interrupted", "Item", "StatefulToxic", "Stub", "TimerHandle", "Toxic"]
