"""Timers on the event loop's clock to within tens of microseconds, for toxics' sleeps.

asyncio's own ``call_at`` wakes up to a millisecond late, about 0.6 ms on average: the selector
rounds its timeout up to whole milliseconds (``epoll_wait`` counts in ms), and the float → ms
conversion can round up once more. A ``latency`` toxic then runs ~1 ms high, and a
100 ± 10 ms one leaves ~5 % of its chunks outside the band (measured with
``drillkit bench proxy``). Go Toxiproxy's ``time.After`` has no such floor.

`PreciseTimer` keeps its deadlines in a heap and arms one Linux ``timerfd`` (nanoseconds,
absolute on ``CLOCK_MONOTONIC``, the clock ``loop.time()`` reads) for the earliest; the loop
watches the fd like any socket, so a wake-up is as late as the kernel's timer slack (50 µs by
default) plus one loop iteration. Where there is no timerfd (not Linux, or the call fails)
`PreciseTimer.open` returns None and callers use ``loop.call_at``.

The owner closes it (`close`) once nothing it scheduled can still fire; `drillkit.proxy.tcp.Proxy`
opens one when it starts listening and closes it when it stops (after aborting its connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import logging
import math
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
    except (OSError, AttributeError):  # no libc to load, or no timerfd in it (not Linux)
        return None
    return libc


_LIBC = _libc() if os.name == "posix" else None


class TimerHandle:
    """One scheduled callback; `cancel` it to keep it from running."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class PreciseTimer:
    """``call_at(when, callback)`` on one loop, fired from a timerfd. Not thread-safe (loop only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, libc: ctypes.CDLL) -> None:
        self._loop = loop
        self._fd = fd
        self._libc = libc
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._armed_for = math.inf
        self._spec = _Itimerspec()
        self._closed = False
        loop.add_reader(fd, self._fire)

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop) -> PreciseTimer | None:
        """A timer on ``loop`` (which must be running this), or None where timerfd is missing."""
        if _LIBC is None:
            return None
        fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            log.debug("timerfd_create failed (errno %d); using the loop's timers", ctypes.get_errno())
            return None
        try:
            return cls(loop, fd, _LIBC)
        except (NotImplementedError, OSError, ValueError):  # a loop that cannot watch the fd
            os.close(fd)
            return None

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback()`` once ``loop.time() >= when`` (falls back to the loop once closed)."""
        handle = TimerHandle(when, callback)
        if self._closed:
            self._loop.call_at(when, self._run, handle)
            return handle
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        if when < self._armed_for:
            self._arm(when)
        return handle

    def close(self) -> None:
        """Stop watching the fd and close it; timers still pending move to the loop's."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        pending, self._heap = self._heap, []
        for when, _, handle in pending:
            if not handle.cancelled:
                self._loop.call_at(when, self._run, handle)

    def _arm(self, when: float) -> None:
        # Absolute time, so the time spent getting here does not count twice; rounded up so it
        # never fires before `when`. A time already past fires at once (zero would disarm).
        sec = math.floor(when)
        nsec = math.ceil((when - sec) * 1e9)
        if nsec >= 1_000_000_000:
            sec, nsec = sec + 1, nsec - 1_000_000_000
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = max(sec, 0), nsec if sec > 0 else max(nsec, 1)
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._armed_for = when

    def _fire(self) -> None:
        # Read the expiry count (clears the fd's readiness). Nothing to read: it was re-armed for
        # later meanwhile, and what is due still runs below.
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        self._armed_for = math.inf
        heap = self._heap
        now = self._loop.time()
        while heap and heap[0][0] <= now:
            self._run(heapq.heappop(heap)[2])
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        if heap and not self._closed and heap[0][0] != self._armed_for:
            self._arm(heap[0][0])

    def _run(self, handle: TimerHandle) -> None:
        if handle.cancelled:
            return
        handle.cancelled = True  # ran: a later cancel() is a no-op
        try:
            handle.callback()
        except Exception as exc:  # one failing callback must not stop the others
            self._loop.call_exception_handler({"message": "timer callback failed", "exception": exc})


__all__ = ["PreciseTimer", "TimerHandle"]
