"""The one object a game-day run's phases share, and how they wait without ever outliving a stop.

Clocks: every time is seconds on `time.monotonic` (the load generator's clock). `t_inject` is when
the first fault was in place (for a `change` fault: when its step returned).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from drillkit.components.types import Snapshot
from drillkit.config.scenario import Fault, Scenario
from drillkit.config.system import System
from drillkit.errors import Aborted
from drillkit.faults.backends import ActiveFault, FaultBackend
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
    on_event: Callable[[str, dict[str, Any]], None] | None = None  # live view
    start_demo: StartDemo | None = None  # for `system: demo`: the CLI starts the embedded demo


@dataclass
class Injected:
    fault: Fault
    active: ActiveFault | None = None  # None for `change` faults
    removed: bool = False
    backend: FaultBackend | None = None
    removed_at: float | None = None  # monotonic seconds
    removed_why: str = ""


@dataclass
class RunContext:
    scenario: Scenario
    system: System
    options: Options
    run_id: str
    run_dir: Path
    journal: Journal
    backends: dict[str, FaultBackend] = field(default_factory=dict)
    load: LoadGenerator | None = None
    windows: SloWindows | None = None
    detector: Detector | None = None
    started_demo: StopDemo | None = None  # stops the demo this run started
    t_start: float = 0.0
    t_inject: float | None = None
    breach: Breach | None = None
    detected_at: float | None = None
    detect_closed: bool = False  # past the detection deadline: later breaches are "late"
    rollback_started_at: float | None = None
    rollback_s: float | None = None
    rollback_ok: bool | None = None
    recovery: Recovery | None = None
    recover_closed: bool = False
    verify: dict[str, Any] = field(default_factory=dict)
    injected: list[Injected] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    abort_reason: str | None = None
    exit_code: int | None = None  # set when the run stopped on bad input (2)
    completed: bool = False  # every phase ran to its end: the only way to a `pass`
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    breach_seen: asyncio.Event = field(default_factory=asyncio.Event)
    recovered_seen: asyncio.Event = field(default_factory=asyncio.Event)
    last_window: SloWindow | None = None
    recent: list[SloWindow] = field(default_factory=list)
    snapshot: Snapshot | None = None  # the five inputs at preflight (drillkit.components)

    def since_inject(self, t: float | None = None) -> float | None:
        if self.t_inject is None:
            return None
        return round((t if t is not None else time.monotonic()) - self.t_inject, 3)

    def log(self, kind: str, data: dict[str, Any] | None = None) -> None:
        entry = self.journal.append(kind, data or {})
        if self.options.on_event is not None:
            self.options.on_event(kind, entry.data)  # what was written: redacted

    def stop(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        self.abort.set()

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

    async def wait(self, event: asyncio.Event | None, timeout: float | None) -> bool:
        """Wait for `event` (or just `timeout`); raise Aborted if the run is stopped meanwhile."""
        waiters = [asyncio.ensure_future(self.abort.wait())]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if self.abort.is_set():
            raise Aborted(self.abort_reason or "aborted")
        return event is not None and event.is_set()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, but give up (cancelling it) the moment the run is stopped."""
        if self.abort.is_set():
            raise Aborted(self.abort_reason or "aborted")
        work = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self.abort.wait())
        try:
            await asyncio.wait([work, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise Aborted(self.abort_reason or "aborted")
        return work.result()
