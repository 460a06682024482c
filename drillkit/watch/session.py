"""One `drillkit watch` session: look on a schedule, write down what changed, until told to stop.

    summary = await run_watch(system, WatchOptions(home, every_s=60), view)

Contract:

- **One per home**: `<home>/watch.lock` (a `FileLock` noting the pid); a second watch is
  `LockBusy` (exit 2) naming the holder. The change log's own writer lock backs it up.
- **The change log** `<home>/changes.jsonl` is a `Journal` (hash-chained, fsync'd, redacted with
  the manifest's policy) that every session continues: `watch.started`, then per look the
  `input.changed`, `envelope.changed` and `baseline.moved` entries `drillkit.watch.decide` calls
  for, the webhook sends (`notify.sent`), and `watch.stopped`. A look writes nothing until it is
  complete, and then writes it all at once: a stop never leaves half a look in the log.
- **Resume**: the state starts from `baseline.json` and the log's tail (`WatchState.resume`).
- **A look** fingerprints the five inputs, then runs the eval sample (`sample` cases, the same
  each time): the evals of a look always ran after every change its fingerprints saw.
- **Schedule**: a look starts every `every_s` seconds from the first (fixed rate; a look that
  overruns skips the starts it missed); `once` looks once and stops.
- **Stopping**: SIGINT, SIGTERM or SIGHUP (`signals.routed`) cancel the look in flight or the
  wait and end the session cleanly: notifications drained (at most `DRAIN_S`), `watch.stopped`
  written, the log closed, the metrics endpoint closed, and the log entered in the evidence ledger
  (kind `changes`, id `changes`) as the prefix it now is — each session's entry `extends` the
  previous one, and `drillkit evidence verify` accepts the log growing past it. A session killed
  before it could record itself is recorded by the next one as it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from drillkit import __version__, signals
from drillkit.components.changelog import changes_path, read_change_log
from drillkit.components.health import judge_health
from drillkit.components.snapshot import configured, replace_baseline, take_snapshot
from drillkit.config.system import System
from drillkit.errors import InputError, LockBusy
from drillkit.gameday.notify import Notifier
from drillkit.journal.events import Event, LedgerFailed, NotifySent, WatchStarted, WatchStopped
from drillkit.journal.ledger import LedgerError, record
from drillkit.journal.ledger_operator import operator_name
from drillkit.journal.redact import Redactor
from drillkit.journal.writer import Journal, JournalEntry
from drillkit.net.filelock import FileLock
from drillkit.watch.attribution import attribute
from drillkit.watch.decide import Decision, advance, decide
from drillkit.watch.metrics import MetricsServer, serve_metrics
from drillkit.watch.notices import notify_decision
from drillkit.watch.state import Look, WatchState

LOCK_FILE = "watch.lock"
LEDGER_ID = "changes"
DEFAULT_SAMPLE = 20
DRAIN_S = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class WatchOptions:
    home: Path
    every_s: float = 60.0
    once: bool = False
    sample: int | None = DEFAULT_SAMPLE  # eval cases per look; None: the whole suite
    metrics: str | None = None  # HOST:PORT


class View(Protocol):
    def on_entry(self, entry: JournalEntry) -> None: ...
    def on_note(self, event: Event) -> None: ...
    def on_look(self, state: WatchState) -> None: ...


class WatchSummary(BaseModel):
    """How a session went (the ledger entry's summary; `watch --json` prints it last)."""

    session: str
    system: str
    started_at: str
    finished_at: str | None = None
    reason: str | None = None
    looks: int = 0
    changes: int = 0
    changed: list[str] = []
    envelope: str | None = None  # "pass" | "fail" | None (not judged)
    baseline_at: str | None = None
    metrics: str | None = None
    ledger_error: str | None = None


@contextlib.contextmanager
def watch_lock(home: Path) -> Iterator[None]:
    """One watch per home: a second one would log every change twice and race on baseline.json."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(home / LOCK_FILE, note=f"pid {os.getpid()}").acquire()
    except LockBusy as busy:
        raise LockBusy(f"another drillkit watch is running with this home ({busy.holder}); stop it first",
                       busy.holder) from None  # fmt: skip
    with lock:
        yield


async def run_watch(system: System, options: WatchOptions, view: View) -> WatchSummary:
    """Watch until stopped (or one look with `once`); see the module doc."""
    if not configured(system) and system.evals is None:
        raise InputError("nothing to watch: the manifest configures no component (`components`) and no `evals`")
    stop = asyncio.Event()
    with watch_lock(options.home):
        session = Session(system, options, view)

        def on_signal(sig: Any) -> None:
            session.reason = getattr(sig, "name", str(sig))
            stop.set()

        with signals.routed(asyncio.get_running_loop(), on_signal):
            if signals.received is not None:
                # Asked to stop before the signals were routed here, and the KeyboardInterrupt was
                # lost (raised inside a finalizer, which Python ignores): stop all the same.
                on_signal(signals.received)
            try:
                session.start()
                await session.loop(stop)
            finally:
                await session.close()
    return session.summary


class Session:
    def __init__(self, system: System, options: WatchOptions, view: View) -> None:
        self.system, self.options, self.view = system, options, view
        now = datetime.now(UTC)
        self.summary = WatchSummary(
            session=f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}", system=system.name, started_at=_iso(now)
        )
        self.reason = "stopped"
        self.journal = Journal(changes_path(options.home), redact=Redactor.for_system(system))
        self.metrics: MetricsServer | None = None
        try:
            self.state = WatchState.resume(system, options.home, read_change_log(options.home))
            self.notifier = Notifier(system.notify, record=self._notified)
        except BaseException:
            self.journal.close()
            raise

    def emit(self, event: Event) -> None:
        self.view.on_entry(self.journal.record(event))

    def _notified(self, event: NotifySent) -> None:
        if not self.journal.closed:
            self.emit(event)

    def start(self) -> None:
        if self.journal.seq:  # a session killed before it recorded itself: record it now
            self._record_ledger({"system": self.system.name, "note": "recorded by the next session"})
        if self.options.metrics is not None:
            self.metrics = serve_metrics(self.options.metrics, self.state)
            self.summary.metrics = self.metrics.url
        self.emit(
            WatchStarted(
                session=self.summary.session,
                system=self.system.name,
                every_s=self.options.every_s,
                sample=self.options.sample,
                components=configured(self.system),
                operator=operator_name(),
                pid=os.getpid(),
                drillkit=__version__,
                resumed_after_seq=self.journal.seq or None,
                pending=list(self.state.pending),
                metrics=self.summary.metrics,
            )
        )

    async def loop(self, stop: asyncio.Event) -> None:
        every = self.options.every_s
        next_at = time.monotonic()
        while True:
            look = await until_stopped(self.look(), stop)
            if look is None:
                return
            decision = decide(self.state, look)
            attributed = await until_stopped(asyncio.to_thread(self._attribute, decision), stop)
            if attributed is None:
                return
            self.write(look, decision)
            while next_at <= time.monotonic():
                next_at += every
            self.state.next_look_at = None if self.options.once else time.time() + (next_at - time.monotonic())
            self.view.on_look(self.state)
            if self.options.once:
                self.reason = "once"
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=next_at - time.monotonic())
            if stop.is_set():
                return

    async def look(self) -> Look:
        """The five fingerprints, then the eval sample: one after the other, so the evals judge at
        least every change the fingerprints saw (run together, a change landing mid-look could be
        seen by the fingerprints and accepted by evals that mostly ran before it)."""
        at, t0 = time.time(), time.perf_counter()
        snapshot = await take_snapshot(self.system)
        health = await judge_health(self.system, sample=self.options.sample)
        return Look(snapshot=snapshot, health=health, at=at, took_s=round(time.perf_counter() - t0, 3))

    def _attribute(self, decision: Decision) -> bool:
        for change in decision.changes:
            attribute(change, self.system)
        return True

    def write(self, look: Look, decision: Decision) -> None:
        """Everything one look found, written at once (no await: a stop cannot split it)."""
        for change in decision.changes:
            self.emit(change)
        if decision.envelope is not None:
            self.emit(decision.envelope)
        if decision.new_baseline is not None and decision.move is not None:
            replace_baseline(self.options.home, decision.new_baseline)
            self.emit(decision.move)
        notify_decision(self.notifier, self.system.name, decision)
        advance(self.state, look, decision)
        self.summary.looks, self.summary.changes = self.state.looks, self.state.changes

    async def close(self) -> None:
        await self.notifier.drain(timeout=DRAIN_S)
        st, summary = self.state, self.summary
        summary.reason, summary.finished_at = self.reason, _iso(datetime.now(UTC))
        summary.changed = sorted(st.changed)
        summary.envelope = {True: "pass", False: "fail"}.get(st.envelope_holds)  # type: ignore[arg-type]
        summary.baseline_at = st.baseline.taken_at if st.baseline is not None else None
        try:
            self.emit(WatchStopped(session=summary.session, reason=self.reason, looks=st.looks, changes=st.changes,
                                   envelope_holds=st.envelope_holds))  # fmt: skip
        finally:
            self.journal.close()
            if self.metrics is not None:
                self.metrics.close()
        self._record_ledger(summary.model_dump(mode="json", exclude_none=True))

    def _record_ledger(self, facts: dict[str, Any]) -> None:
        try:
            record(self.options.home, "changes", LEDGER_ID, self.journal.path, facts)
        except (LedgerError, InputError, OSError) as exc:
            self.summary.ledger_error = str(exc)
            self.view.on_note(LedgerFailed(error=str(exc)))


async def until_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None (and `work` cancelled) when `stop` is set first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


__all__ = ["DEFAULT_SAMPLE", "View", "WatchOptions", "WatchSummary", "run_watch", "until_stopped", "watch_lock"]
