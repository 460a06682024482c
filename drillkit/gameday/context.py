"""What a game-day run's phases share, and how they wait without ever outliving a stop.

- `RunControl` owns the stop: its reason (the first one wins) and the event every wait watches.
  It exists before anything else of the run, so a stop signal during set-up holds too.
- `RunContext` holds the run's inputs and resources (journal, backends, load, injected faults,
  background tasks) and what the window monitor measures while the run goes on (`observe.py`).
  What a phase judges it returns (`drillkit.gameday.results`), not writes here.
- `RunContext.emit` journals a typed event (`drillkit.journal.events`) and shows the live view
  what the journal kept (redacted).

Clocks: every time is seconds on `time.monotonic` (the load generator's clock). `t_inject` is when
the first fault was in place (for a `change` fault: when its step returned).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from drillkit.components.types import Snapshot
from drillkit.config.scenario import Fault, Scenario
from drillkit.config.system import System
from drillkit.errors import Aborted
from drillkit.evals.wire import Wire
from drillkit.faults.backends import ActiveFault, FaultBackend
from drillkit.faults.fleet import Fleet
from drillkit.gameday.external import ExternalSignals
from drillkit.gameday.impact import ImpactTracker
from drillkit.journal.events import Event
from drillkit.journal.writer import Journal
from drillkit.traffic.detect import Breach, Detector, Recovery
from drillkit.traffic.load import LoadGenerator
from drillkit.traffic.slo import SloWindow
from drillkit.traffic.windows import SloWindows

T = TypeVar("T")


#: Stops a demo the run started (None when it was already running).
StopDemo = Callable[[], object]
#: Starts (or finds) the embedded demo: its manifest, and how to stop it if this call started it.
StartDemo = Callable[[], tuple[Path, StopDemo | None]]


@dataclass
class Options:
    home: Path
    mode: str | None = None  # "auto" | "manual" overrides the scenario
    confirm: Callable[[str], Awaitable[None]] | None = None  # manual rollback: waits for the operator
    on_event: Callable[[Event], None] | None = None  # the live view: each event as journaled (redacted)
    start_demo: StartDemo | None = None  # for `system: demo`: the CLI starts the embedded demo
    system_path: Path | None = None  # `--system`: wins over the scenario's `system:` (DESIGN §9.3)
    purpose: str | None = None  # `--purpose`: overrides the scenario's (rehearsal, control, exploratory)


@dataclass
class Injected:
    fault: Fault
    active: ActiveFault | None = None  # None for `change` faults
    removed: bool = False
    backend: FaultBackend | None = None
    removed_at: float | None = None  # monotonic seconds
    removed_why: str = ""


class RunControl:
    """A run's stop: who asked first and why, and the event every wait of the run watches.

    Created before the run's context (a stop signal during set-up is kept and honoured as soon as
    the phases start); `stop` may be called from a signal handler on the loop, a guardrail, the
    monitor or a dying background task: the first reason wins.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self.stopped = asyncio.Event()

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.stopped.set()

    def check(self) -> None:
        """Raise Aborted if the run has been stopped."""
        if self.stopped.is_set():
            raise Aborted(self.reason or "aborted")

    def abort(self, reason: str) -> NoReturn:
        """Stop the run (unless it already was) and raise Aborted."""
        self.stop(reason)
        raise Aborted(self.reason or reason)

    async def wait(self, event: asyncio.Event | None, timeout: float | None) -> bool:
        """Wait for `event` (or just `timeout`); raise Aborted if the run is stopped meanwhile."""
        waiters = [asyncio.ensure_future(self.stopped.wait())]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        self.check()
        return event is not None and event.is_set()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, but give up (cancelling it) the moment the run is stopped."""
        self.check()
        work = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self.stopped.wait())
        try:
            await asyncio.wait([work, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise Aborted(self.reason or "aborted")
        return work.result()


@dataclass
class RunContext:
    scenario: Scenario
    system: System
    options: Options
    run_id: str
    run_dir: Path
    journal: Journal
    control: RunControl = field(default_factory=RunControl)
    backends: Fleet | None = None  # every fault server of the system, while the run holds them
    load: LoadGenerator | None = None
    started_demo: StopDemo | None = None  # stops the demo this run started
    t_start: float = 0.0
    t_inject: float | None = None
    injected: list[Injected] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    snapshot: Snapshot | None = None  # the five inputs at preflight (drillkit.components)
    wire: Wire = field(default_factory=Wire)  # the service's wire format; set at preflight
    rollback_started_at: float | None = None  # the monitor counts recovery only after it
    # What the window monitor sees (observe.py): written by it in the background, read by the phases.
    windows: SloWindows | None = None
    detector: Detector | None = None
    breach: Breach | None = None
    detected_at: float | None = None
    detect_closed: bool = False  # past the detection deadline: later breaches are "late"
    recovery: Recovery | None = None
    recover_closed: bool = False
    breach_seen: asyncio.Event = field(default_factory=asyncio.Event)
    recovered_seen: asyncio.Event = field(default_factory=asyncio.Event)
    last_window: SloWindow | None = None
    external: ExternalSignals | None = None  # promql SLOs and the eval probe (external.py)
    impact: ImpactTracker = field(default_factory=ImpactTracker)  # what the windows after the rollback show
    judged: dict[str, list[int]] = field(default_factory=dict)  # SLO → [windows that judged it, windows]
    recent: list[SloWindow] = field(default_factory=list)

    def since_inject(self, t: float | None = None) -> float | None:
        if self.t_inject is None:
            return None
        return round((t if t is not None else time.monotonic()) - self.t_inject, 3)

    def emit(self, event: Event) -> None:
        """Journal `event`; the live view gets it as written (redacted), read back as the same model."""
        entry = self.journal.record(event)
        if self.options.on_event is not None:
            try:
                kept = type(event).model_validate(entry.data)
            except ValidationError:  # redaction turned a value into one the model refuses
                kept = entry.event
            self.options.on_event(kept)

    def stop(self, reason: str) -> None:
        self.control.stop(reason)

    async def wait(self, event: asyncio.Event | None, timeout: float | None) -> bool:
        return await self.control.wait(event, timeout)

    async def guard(self, awaitable: Awaitable[T]) -> T:
        return await self.control.guard(awaitable)

    def background(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """A task cleanup cancels; if it dies of an error, the run stops (nothing fails silently)."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)

        def died(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                self.stop(f"internal: {name} failed: {type(t.exception()).__name__}: {t.exception()}")

        task.add_done_callback(died)
        self.tasks.append(task)
        return task
