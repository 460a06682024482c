"""Breach and recovery detection over judged windows, the way a multi-window alert would fire.

    detector = Detector(bad_windows=2, healthy_windows=3)        # timeline.bad_windows / healthy_windows
    for window in closed_windows:
        event = detector.observe(window)                         # Breach | Recovery | None

- A **breach** is declared when `bad_windows` consecutive windows are breaching; `Breach.at` is
  the end of the last of them, `since` the start of the first, `slos` every SLO any of them
  breached (in order of first appearance).
- A **recovery** is declared, after a breach, when `healthy_windows` consecutive windows are
  healthy; `Recovery.at` is the end of the last of them. Detection is then re-armed.
- An `insufficient` window neither extends nor breaks a streak: too little traffic says nothing.

Windows must be observed in index order (`SloWindows` closes them so). Times are seconds on the
load clock.
"""

from __future__ import annotations

from collections import deque

from pydantic import BaseModel

from drillkit.traffic.slo import SloWindow


class Breach(BaseModel):
    at: float
    since: float
    windows: list[int]
    slos: list[str]


class Recovery(BaseModel):
    at: float
    since: float
    windows: list[int]


class Detector:
    """Turns a stream of judged windows into breach and recovery events (see the module doc)."""

    def __init__(self, bad_windows: int = 2, healthy_windows: int = 3) -> None:
        if bad_windows < 1 or healthy_windows < 1:
            raise ValueError("bad_windows and healthy_windows must be ≥ 1")
        self.bad_windows = bad_windows
        self.healthy_windows = healthy_windows
        self.breach: Breach | None = None
        self.recovery: Recovery | None = None
        # Only the last N windows of a streak are needed; the counts keep the full lengths.
        self._bad: deque[SloWindow] = deque(maxlen=bad_windows)
        self._healthy: deque[SloWindow] = deque(maxlen=healthy_windows)
        self._bad_count = 0
        self._healthy_count = 0
        self._in_breach = False

    @property
    def in_breach(self) -> bool:
        """True between a declared breach and its recovery."""
        return self._in_breach

    @property
    def bad_streak(self) -> int:
        """Consecutive breaching windows so far."""
        return self._bad_count

    @property
    def healthy_streak(self) -> int:
        """Consecutive healthy windows so far (e.g. 'steady state holds' before injecting)."""
        return self._healthy_count

    def observe(self, window: SloWindow) -> Breach | Recovery | None:
        """Feed the next window; return the event it completes, if any."""
        if window.state == "insufficient":
            return None
        if window.state == "breaching":
            self._healthy.clear()
            self._healthy_count = 0
            self._bad.append(window)
            self._bad_count += 1
            if not self._in_breach and self._bad_count >= self.bad_windows:
                streak = list(self._bad)
                slos = list(dict.fromkeys(name for w in streak for name in w.breached))
                self._in_breach = True
                self.breach = Breach(
                    at=streak[-1].end, since=streak[0].start, windows=[w.index for w in streak], slos=slos
                )
                self.recovery = None
                return self.breach
            return None
        self._bad.clear()
        self._bad_count = 0
        self._healthy.append(window)
        self._healthy_count += 1
        if self._in_breach and self._healthy_count >= self.healthy_windows:
            streak = list(self._healthy)
            self._in_breach = False
            self.recovery = Recovery(at=streak[-1].end, since=streak[0].start, windows=[w.index for w in streak])
            return self.recovery
        return None


__all__ = ["Breach", "Detector", "Recovery"]
