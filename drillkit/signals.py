"""Stop signals, one policy for the whole process (imports only `signal`: it is loaded first).

From the executable's first instructions (`drillkit._entry`), SIGINT, SIGTERM and SIGHUP raise
`KeyboardInterrupt`, which the CLI turns into one line and exit 3. A phase that must react
differently — a game-day removing its faults, a server draining — routes them to a callback on
its event loop with `with routed(loop, callback): ...`, which hands the process-wide handlers back
when the phase ends (asyncio's `remove_signal_handler` alone would leave SIGTERM at the OS
default, which kills without cleanup).

`received` remembers the first stop signal, so a long-lived server can tell a service manager's
SIGTERM (a clean stop: exit 0) from an interrupted command; `serving` says the command is one.
"""

from __future__ import annotations

import signal

TYPE_CHECKING = False  # typing and asyncio cost ~15 ms and ~40 ms to import: not before the handlers
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal went away

#: The first stop signal this process received, if any.
received: signal.Signals | None = None
#: True while the running command is a long-lived server (SIGTERM then means a clean stop).
serving = False
_installed = False


def note(sig: signal.Signals) -> None:
    """Remember `sig` as received (the first one wins)."""
    global received
    if received is None:
        received = sig


def _interrupt(signum: int, frame: FrameType | None) -> None:
    note(signal.Signals(signum))
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install() -> None:
    """Make every stop signal raise KeyboardInterrupt (the process-wide policy)."""
    global _installed
    _installed = True
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)


def ignore() -> None:
    """Ignore further stop signals (while exiting: one line, never a traceback).

    Only where `install` set the policy: a host process (a test runner) keeps its own handlers.
    """
    if not _installed:
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class routed:  # lower case: used like a function, `with routed(loop, callback):`
    """Deliver stop signals to `callback(sig)` on `loop` inside the block; restore the handlers after."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: Callable[[signal.Signals], Any],
        signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
    ) -> None:
        self.loop, self.callback, self.signals = loop, callback, signals
        self.previous: dict[signal.Signals, Any] = {}

    def _deliver(self, sig: signal.Signals) -> None:
        note(sig)
        self.callback(sig)

    def __enter__(self) -> None:
        for sig in self.signals:
            self.previous[sig] = signal.getsignal(sig)
            self.loop.add_signal_handler(sig, self._deliver, sig)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig in self.signals:
            self.loop.remove_signal_handler(sig)
            handler = self.previous.get(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


__all__ = ["STOP_SIGNALS", "ignore", "install", "note", "received", "routed", "serving"]
