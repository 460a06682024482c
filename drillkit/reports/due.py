"""Which rollback paths are due a rehearsal (DESIGN §9.5: `gameday due`).

A path (a manifest `rollbacks.<path>`) is proven by a passing *rehearsal* of a scenario whose
rollback path (`rollback.path`, else its `layer`) is that path, against this system; controls and
exploratory runs prove nothing about a path. It is due `rehearse_every` (default 90 days) after its
last passing rehearsal, and overdue after that; a path never rehearsed is overdue. Runs are read as
the evidence report reads them (`drillkit.reports.evidence_rows`): each run folder with a journal,
what the ledger recorded winning over its summary.json (an edited summary cannot make a path
current), a run written before purposes existed counting as a rehearsal. The report's cadence uses
the same rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drillkit.config.system import System
from drillkit.reports.evidence_model import parse_time
from drillkit.reports.evidence_rows import read_runs, recorded_entries


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
        days = every / timedelta(days=1)  # 12h is 0.5, not 0
        last = passes.get(path)
        if last is None:
            out.append(DuePath(path, rollback.owner, days, None, None, None, True, None))
            continue
        started, run_id = last
        due = started + every
        left = (due - now).total_seconds() / 86400
        out.append(DuePath(path, rollback.owner, days, started.isoformat(timespec="seconds"), run_id,
                           due.isoformat(timespec="seconds"), left < 0, round(left, 1)))  # fmt: skip
    return out


def _passing_rehearsals(home: Path, system: str) -> dict[str, tuple[datetime, str]]:
    """rollback path → (start, run id) of its newest passing rehearsal against `system`."""
    newest: dict[str, tuple[datetime, str]] = {}
    for run in read_runs(home, recorded_entries(home)):
        started = parse_time(run.started_at)
        if started is None or run.verdict != "pass" or run.purpose != "rehearsal" or run.system != system:
            continue
        if run.path not in newest or started > newest[run.path][0]:
            newest[run.path] = (started, run.id)
    return newest


__all__ = ["DuePath", "due_paths"]
