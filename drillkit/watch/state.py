"""What a watch session knows between looks, and what one look found.

`WatchState` is rebuilt from `baseline.json` and the change log's tail when a session starts
(`WatchState.resume`), so a restarted watch neither logs again a change it already logged nor
forgets one it logged: `pending` (components that differ from the last known good, and the digest
each was last logged with), `unaccepted` (components with a change since the last known good,
changed back or not: they make the next healthy look move the baseline), `last_change` (when each
component last changed) and `envelope_holds`. The metrics read the same state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drillkit.components.changelog import ChangeLog
from drillkit.components.health import Health
from drillkit.components.snapshot import baseline_of
from drillkit.components.types import Fingerprint, Snapshot
from drillkit.config.system import System


@dataclass(frozen=True)
class Look:
    """One look at the system: the five inputs' fingerprints, then the eval sample."""

    snapshot: Snapshot
    health: Health
    at: float  # wall clock, epoch seconds
    took_s: float


@dataclass
class WatchState:
    system: System
    baseline: Snapshot | None = None
    baseline_note: str | None = None
    seen: dict[str, Fingerprint] = field(default_factory=dict)
    pending: dict[str, str | None] = field(default_factory=dict)
    unaccepted: set[str] = field(default_factory=set)
    last_change: dict[str, float] = field(default_factory=dict)
    envelope_holds: bool | None = None
    differs: dict[str, bool | None] = field(default_factory=dict)
    similarity: dict[str, float] = field(default_factory=dict)
    pass_rate: float | None = None
    health: Health | None = None
    up: bool = False
    looks: int = 0
    changes: int = 0
    changed: set[str] = field(default_factory=set)
    last_look_at: float | None = None
    next_look_at: float | None = None

    @classmethod
    def resume(cls, system: System, home: Path, log: ChangeLog | None) -> WatchState:
        """The state a session starts from: the home's baseline of `system` and the log's tail."""
        baseline, why = baseline_of(home, system)
        state = cls(system=system, baseline=baseline, baseline_note=why)
        if log is None or (log.system is not None and log.system != system.name):
            return state  # another system's log tells nothing about this one
        for change in log.since_good:
            state.unaccepted.add(change.component)
            if change.back_to_good:
                state.pending.pop(change.component, None)
            else:
                state.pending[change.component] = change.digest
        state.last_change = {c: _epoch(ts) for c, ts in log.last_change.items()}
        state.envelope_holds = log.envelope_holds
        return state

    def seconds_since_change(self, now: float | None = None) -> dict[str, float]:
        now = time.time() if now is None else now
        return {c: max(0.0, now - t) for c, t in self.last_change.items()}


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


__all__ = ["Look", "WatchState"]
