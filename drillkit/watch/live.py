"""What a person running `drillkit watch` sees.

- On a terminal: a live table (rich) redrawn every second: each component against the last known
  good and when it last changed, the eval sample's pass rate against the envelope, when the last
  known good was taken, the countdown to the next look, and the latest change-log entries.
- Off a terminal (a service manager's log, a pipe): one line per change-log entry,
  `<ts> <sentence>`, nothing for a look that found nothing.
- `--json`: one JSON object per line on stdout: each change-log entry as written
  (`{seq, ts, kind, data}`), and the session's summary last (`{"summary": {...}}`).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from drillkit.components.history import ago
from drillkit.components.types import COMPONENTS
from drillkit.journal.events import Event, WatchStarted
from drillkit.journal.writer import JournalEntry, format_ts
from drillkit.watch.state import WatchState

MARKS = {True: "[red]differs[/]", False: "[green]as last known good[/]", None: "[yellow]unknown[/]"}


def sentence(event: Event) -> str:
    if type(event).describe is not Event.describe:
        return event.describe()
    return f"{event.KIND or 'event'} " + ", ".join(f"{k}={v}" for k, v in list(event.data().items())[:4])


class WatchView:
    """Receives the session's entries and looks (`drillkit.watch.session.View`) and shows them."""

    def __init__(
        self, console: Console, *, as_json: bool = False, live: bool | None = None, write: Callable[[str], None]
    ) -> None:
        self.console, self.as_json, self.write = console, as_json, write
        self.use_live = (console.is_terminal if live is None else live) and not as_json
        self.events: deque[str] = deque(maxlen=8)
        self.state: WatchState | None = None
        self.header = ""
        self._live: Live | None = None

    def __enter__(self) -> WatchView:
        if self.use_live:
            self._live = Live(self, console=self.console, refresh_per_second=1, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def on_entry(self, entry: JournalEntry) -> None:
        if self.as_json:
            self.write(json.dumps(entry.model_dump(), ensure_ascii=False))
            return
        event = entry.event
        if isinstance(event, WatchStarted):
            metrics = f" · metrics {event.metrics}" if event.metrics else ""
            self.header = f"[bold]watching {escape(str(event.system))}[/] every {event.every_s:g} s{escape(metrics)}"
        self._show(f"{entry.ts} {sentence(event)}")

    def on_note(self, event: Event) -> None:
        """Something not in the change log (the ledger refused it): a line, or a JSON `note`."""
        if self.as_json:
            self.write(json.dumps({"note": {"kind": event.KIND or "note", **event.data()}}, ensure_ascii=False))
            return
        self._show(f"{format_ts(datetime.now(UTC))} {sentence(event)}")

    def on_look(self, state: WatchState) -> None:
        self.state = state
        if self._live is not None:
            self._live.refresh()

    def summary(self, data: dict[str, Any]) -> None:
        if self.as_json:
            self.write(json.dumps({"summary": data}, ensure_ascii=False))

    def _show(self, text: str) -> None:
        self.events.append(text)
        if self._live is not None:
            self._live.refresh()
        else:
            self.console.print(escape(text), highlight=False)

    def __rich__(self) -> Group:
        return Group(self.header, self._table(), *(escape(e) for e in self.events))

    def _table(self) -> Table:
        table = Table("input", "against the last known good", "last change", box=None, header_style="bold")
        st = self.state
        if st is None:
            table.add_row("—", "first look under way…", "")
            return table
        since = st.seconds_since_change()
        for name in COMPONENTS:
            if name in st.seen or name in st.differs:
                when = ago(since[name]) if name in since else "—"
                table.add_row(name, MARKS[st.differs.get(name)], when)
        health = st.health
        colour = {True: "green", False: "red"}.get(health.healthy if health else None, "yellow")  # type: ignore[arg-type]
        table.add_row("evals", f"[{colour}]{escape(health.describe()) if health else '—'}[/]", "")
        base = st.baseline.taken_at if st.baseline is not None else escape(st.baseline_note or "none yet")
        table.add_row("baseline", f"last known good of {base}", "")
        nxt = f"next look in {max(0.0, st.next_look_at - time.time()):.0f} s" if st.next_look_at else ""
        table.add_row("looks", f"{st.looks}, {st.changes} change(s)", nxt)
        return table


__all__ = ["WatchView", "sentence"]
