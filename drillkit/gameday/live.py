"""What a person watching a game-day sees: a rich live dashboard on a terminal, plain lines elsewhere.

The dashboard shows the phase, the timers (since injection, TTD, rollback), one row per SLO with
the last window's value against its objective and a sparkline of recent windows, the active
faults, and the latest events. Off a terminal (CI, a pipe) every event is one timestamped line.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

SPARK = "▁▂▃▄▅▆▇█"
QUIET = {"window"}


def sparkline(values: list[float | None]) -> str:
    nums = [v for v in values if v is not None]
    if not nums:
        return ""
    lo, hi = min(nums), max(nums)
    span = (hi - lo) or 1.0
    return "".join(" " if v is None else SPARK[min(7, int((v - lo) / span * 7))] for v in values)


def describe(kind: str, data: dict[str, Any]) -> str:
    if kind == "phase":
        return f"phase {data.get('phase')}"
    if kind == "fault.injected":
        return f"injected {data.get('type')} on {data.get('target') or data.get('name')}"
    if kind == "fault.removed":
        return f"removed {data.get('name')} from {data.get('target')} ({data.get('why', data.get('error', ''))})"
    if kind == "detected":
        return f"DETECTED after {data.get('ttd_s')}s: {', '.join(data.get('slos', []))}"
    if kind == "rollback.step":
        return (
            f"rollback step {data.get('name')!r}: {'ok' if data.get('ok') else 'FAILED'} in {data.get('duration_s')}s"
        )
    if kind == "rollback.finished":
        return f"rollback {'done' if data.get('ok') else 'FAILED'} in {data.get('rollback_s')}s"
    if kind == "recovered":
        return f"RECOVERED: time to recovery {data.get('ttr_s')}s"
    if kind == "guardrail.tripped":
        return f"GUARDRAIL tripped: {', '.join(data.get('guardrails', []))}"
    if kind == "run.finished":
        return f"verdict {data.get('verdict')}" + (
            f": {'; '.join(data.get('reasons', []))}" if data.get("reasons") else ""
        )
    return f"{kind} " + ", ".join(f"{k}={v}" for k, v in list(data.items())[:4])


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
        self.last: dict[str, Any] = {}
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

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "run.started" and data.get("slos"):
            self.slos = dict(data["slos"])
            self.history = {name: deque(maxlen=30) for name in self.slos}
        if kind == "phase":
            self.phase = str(data.get("phase"))
            if self.phase == "inject":
                self.t_inject = time.monotonic()
        elif kind == "fault.injected":
            self.faults[str(data.get("name") or data.get("type"))] = f"{data.get('type')} → {data.get('target', '')}"
        elif kind == "fault.removed" and data.get("ok", True):
            self.faults.pop(str(data.get("name")), None)
        elif kind == "detected":
            self.ttd = data.get("ttd_s")
        elif kind == "rollback.finished":
            self.rollback = data.get("rollback_s")
        elif kind == "window":
            self.last = data
            for name in self.slos:
                self.history[name].append(data.get(name))
        if kind not in QUIET:
            line = f"{time.monotonic() - self.t0:6.1f}s  {describe(kind, data)}"
            self.events.append(line)
            if self._live is None:
                self.console.print(escape(line), highlight=False)
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
        breached = set(self.last.get("breached", []))
        for name, objective in self.slos.items():
            value = self.last.get(name)
            shown = "—" if value is None else (f"{value:.3g}")
            style = "red" if name in breached else "green"
            table.add_row(name, f"[{style}]{shown}[/]", f"{objective:g}", sparkline(list(self.history[name])))
        faults = "\n".join(f"{escape(k)}: {escape(v)}" for k, v in self.faults.items()) or "none"
        events = "\n".join(escape(e) for e in self.events)
        return Group(
            head, table, Panel(faults, title="active faults", expand=False), Panel(events, title="events", expand=False)
        )
