"""Which rollback paths are due a rehearsal (DESIGN §9.5: `gameday due`).

A path (a manifest `rollbacks.<component>`) is proven by a passing *rehearsal* of a scenario whose
`layer` is that component, against this system; controls and exploratory runs prove nothing
about a path. It is due `rehearse_every` (default 90 days) after its last passing rehearsal, and
overdue after that; a path never rehearsed is overdue. Runs are read from `<home>/runs/*/
summary.json` (a run written before purposes existed counts as a rehearsal).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drillkit.config.system import System


@dataclass(frozen=True)
class DuePath:
    path: str
    owner: str | None
    rehearse_every_days: float
    last_pass: str | None  # ISO time of the last passing rehearsal's start
    last_run_id: str | None
    due_at: str | None  # when the next rehearsal is due (None: never rehearsed, due now)
    overdue: bool
    days_left: float | None  # negative when overdue; None when never rehearsed

    def data(self) -> dict[str, Any]:
        return asdict(self)


def due_paths(home: Path, system: System, now: datetime | None = None) -> list[DuePath]:
    """Every rollback path of `system`, with its last passing rehearsal and when it is due."""
    now = now or datetime.now(UTC)
    passes = _passing_rehearsals(home, system.name)
    out = []
    for path, rollback in system.rollbacks.items():
        every = timedelta(seconds=rollback.rehearse_every)
        last = passes.get(path)
        if last is None:
            out.append(DuePath(path, rollback.owner, every.days, None, None, None, True, None))
            continue
        started, run_id = last
        due = started + every
        left = (due - now).total_seconds() / 86400
        out.append(DuePath(path, rollback.owner, every.days, started.isoformat(timespec="seconds"), run_id,
                           due.isoformat(timespec="seconds"), left < 0, round(left, 1)))  # fmt: skip
    return out


def _passing_rehearsals(home: Path, system: str) -> dict[str, tuple[datetime, str]]:
    """layer → (start, run id) of its newest passing rehearsal against `system`."""
    newest: dict[str, tuple[datetime, str]] = {}
    for path in sorted((home / "runs").glob("*/summary.json")):
        try:
            s = json.loads(path.read_text(encoding="utf-8"))
            started = datetime.fromisoformat(s["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if s.get("verdict") != "pass" or s.get("purpose", "rehearsal") != "rehearsal" or s.get("system") != system:
            continue
        layer = s.get("layer") or ""
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if layer not in newest or started > newest[layer][0]:
            newest[layer] = (started, str(s.get("run_id")))
    return newest


__all__ = ["DuePath", "due_paths"]
