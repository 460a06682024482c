"""What a person watching a game-day sees: a rich live dashboard on a terminal, plain lines elsewhere.

The dashboard shows the phase, the timers (since injection, TTD, rollback), one row per SLO with
the last window's value against its objective and a sparkline of recent windows, the active
faults, and the latest events (each its sentence from `drillkit.journal.events`). Off a terminal
(CI, a pipe) every event but the windows is one timestamped line.
"""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from drillkit.journal.events import (
    Detected,
    Event,
    FaultInjected,
    FaultRemoved,
    Phase,
    RollbackFinished,
    RunStarted,
    Window,
)

SPARK = "▁▂▃▄▅▆▇█"
QUIET = (Window,)  # one per window: the dashboard's SLO table shows them


def sparkline(values: list[float | None]) -> str:
    nums = [v for v in values if v is not None]
    if not nums:
        return ""
    lo, hi = min(nums), max(nums)
    span = (hi - lo) or 1.0
    return "".join(" " if v is None else SPARK[min(7, int((v - lo) / span * 7))] for v in values)


def line(event: Event) -> str:
    """The event's sentence (`describe()`); a kind without one shows its name and first values."""
    if type(event).describe is not Event.describe:
        return event.describe()
    return f"{event.KIND or 'event'} " + ", ".join(f"{k}={v}" for k, v in list(event.data().items())[:4])


class LiveView:
    """Receives engine events (`on_event`) and draws them."""

    def __init__(self, console: Console, slos: dict[str, float], *, live: bool | None = None) -> None:
        self.console = console
        self.slos = slos
        self.use_live = console.is_terminal if live is None else live
        self.t0 = time.monotonic()
        self.phase = "starting"
        self.t_inject: float | None = None
        self.ttd: float | None = None
        self.rollback: float | None = None
        self.faults: dict[str, str] = {}
        self.events: deque[str] = deque(maxlen=8)
        self.history: dict[str, deque[float | None]] = {name: deque(maxlen=30) for name in slos}
        self.last: Window | None = None
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.use_live:
            self._live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)

    def on_event(self, event: Event) -> None:
        """One event as the journal kept it (redacted); `LedgerFailed` comes after the journal closed."""
        match event:
            case RunStarted(slos=slos) if slos:
                self.slos = dict(slos)
                self.history = {name: deque(maxlen=30) for name in self.slos}
            case Phase(phase=phase):
                self.phase = str(phase)
                if phase == "inject":
                    self.t_inject = time.monotonic()
            case FaultInjected(name=name, type=type_, target=target):
                self.faults[str(name or type_)] = f"{type_} → {target or ''}"
            case FaultRemoved(name=name, ok=True):
                self.faults.pop(str(name), None)
            case Detected(ttd_s=ttd):
                self.ttd = ttd
            case RollbackFinished(rollback_s=seconds):
                self.rollback = seconds
            case Window():
                self.last = event
                for name in self.slos:
                    self.history[name].append(event.value(name))
        if not isinstance(event, QUIET):
            text = f"{time.monotonic() - self.t0:6.1f}s  {line(event)}"
            self.events.append(text)
            if self._live is None:
                self.console.print(escape(text), highlight=False)
        if self._live is not None:
            self._live.update(self.render())

    def render(self) -> Group:
        since = f"{time.monotonic() - self.t_inject:.1f}s" if self.t_inject else "—"
        head = (
            f"[bold]phase[/] {escape(self.phase)}   [bold]since injection[/] {since}   "
            f"[bold]TTD[/] {self.ttd if self.ttd is not None else '—'}s   "
            f"[bold]rollback[/] {self.rollback if self.rollback is not None else '—'}s"
        )
        table = Table("SLO", "last window", "objective", "trend", expand=False)
        breached = set(self.last.breached if self.last is not None else [])
        for name, objective in self.slos.items():
            value = self.last.value(name) if self.last is not None else None
            shown = "—" if value is None else (f"{value:.3g}")
            style = "red" if name in breached else "green"
            table.add_row(name, f"[{style}]{shown}[/]", f"{objective:g}", sparkline(list(self.history[name])))
        faults = "\n".join(f"{escape(k)}: {escape(v)}" for k, v in self.faults.items()) or "none"
        events = "\n".join(escape(e) for e in self.events)
        return Group(
            head, table, Panel(faults, title="active faults", expand=False), Panel(events, title="events", expand=False)
        )
