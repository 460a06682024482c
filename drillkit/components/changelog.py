"""The change log `drillkit watch` keeps (`<home>/changes.jsonl`, DESIGN §9.6), as its readers need it.

`read_change_log(home)` reads the log's tail (the last `TAIL_BYTES`) into a `ChangeLog`:

- `last_good`: the newest `baseline.moved`: when the watch last moved the last known good forward
  (only ever while the evals held), and each component's digest then;
- `since_good`: every `input.changed` after it, oldest first: the changes since the last good
  evaluation, each with its time, who (where git knows) and the eval sample taken with it;
  `pending()` the components among them that still differ from the last known good;
- `last_change`: per component, when it last changed; `envelope_holds`: the envelope as last seen;
- `system`, `watched`, `session_open`: the newest session's system and components, and whether it
  has not (yet) written its `watch.stopped` (running, or killed).

Triage reads it (`drillkit.runbooks.checks`): with a baseline it lists what the log says changed
since (`changes_since`); without one, `consider_changes` settles each watched component: its
live digest equal to the last known good's is unchanged; a component the log names is changed,
with the log's times; an exact component (prompt, retrieval, tools) that differs from the last
known good although the log does not name it changed after the watch last looked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from drillkit.components.preflight import EXACT
from drillkit.components.types import COMPONENTS, ComponentDiff, DiffReport, Snapshot
from drillkit.journal.canonical import hash_canonical
from drillkit.journal.events import BaselineMoved, EnvelopeChanged, InputChanged, WatchStarted, WatchStopped
from drillkit.journal.events.watch import eval_text
from drillkit.journal.writer import JournalEntry

CHANGES_FILE = "changes.jsonl"
#: How much of the log's end is read (a watch writes one entry per change, not per look).
TAIL_BYTES = 16 * 1024 * 1024


class LoggedChange(BaseModel):
    """One `input.changed` entry as readers use it."""

    seq: int
    ts: str
    component: str
    summary: str = ""
    who: str | None = None
    back_to_good: bool | None = None
    digest: str | None = None
    score: float = 0.0
    eval: dict[str, Any] | None = None

    def line(self) -> str:
        """`2026-12-05T08:31:02.120Z prompt by Ada: edited v3.md; evals 65% (13/20) < 90% (changes#12)`: the
        citation names the change log's entry (DESIGN §9.4)."""
        who = f" by {self.who}" if self.who else ""
        after = f"; {eval_text(self.eval)}" if eval_text(self.eval) else ""
        return f"{self.ts} {self.component}{who}: {self.summary}{after} (changes#{self.seq})"


class LastGood(BaseModel):
    seq: int
    ts: str
    taken_at: str | None = None
    digests: dict[str, str | None] = {}


class ChangeLog(BaseModel):
    """The change log's state at its end (see the module doc)."""

    path: str
    entries: int = 0
    last_ts: str | None = None
    system: str | None = None
    watched: list[str] = []
    session_open: bool = False
    last_good: LastGood | None = None
    since_good: list[LoggedChange] = []
    last_change: dict[str, str] = {}
    envelope_holds: bool | None = None

    def pending(self) -> list[str]:
        """Components changed since the last known good and not changed back to it, canonical order."""
        latest = {c.component: c for c in self.since_good}
        return [c for c in COMPONENTS if c in latest and not latest[c].back_to_good]

    def changes_since(self, ts: str | None) -> list[LoggedChange]:
        """`since_good` after `ts` (a baseline taken by hand after the watch's last good one)."""
        return [c for c in self.since_good if ts is None or c.ts > ts]


def changes_path(home: Path) -> Path:
    return Path(home) / CHANGES_FILE


def read_change_log(home: Path, *, tail_bytes: int = TAIL_BYTES) -> ChangeLog | None:
    """The change log of `home` (None when there is none, or it holds no entry); never raises for
    a damaged line (skipped: `drillkit evidence verify` is where damage is reported)."""
    path = changes_path(home)
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - tail_bytes))
            raw = f.read()
    except OSError:
        return None
    lines = raw.split(b"\n")[:-1]  # the last piece is "" or a partial line
    if size > tail_bytes and lines:
        lines = lines[1:]  # the first piece may start mid-line
    log = ChangeLog(path=str(path))
    for line in lines:
        try:
            entry = JournalEntry.model_validate_json(line)
        except (ValidationError, ValueError):
            continue
        _take(log, entry)
    return log if log.entries else None


def _take(log: ChangeLog, entry: JournalEntry) -> None:
    log.entries, log.last_ts = entry.seq, entry.ts
    match entry.event:
        case WatchStarted() as started:
            log.system, log.watched, log.session_open = started.system, list(started.components), True
        case WatchStopped(envelope_holds=holds):
            log.session_open = False
            log.envelope_holds = holds if holds is not None else log.envelope_holds
        case InputChanged() as ch if ch.component:
            change = LoggedChange.model_validate({**ch.data(), "seq": entry.seq, "ts": entry.ts})
            log.since_good.append(change)
            log.last_change[change.component] = entry.ts
        case BaselineMoved() as moved:
            log.last_good = LastGood(seq=entry.seq, ts=entry.ts, taken_at=moved.taken_at, digests=moved.digests)
            log.since_good = []
            log.envelope_holds = True
        case EnvelopeChanged(holds=holds):
            log.envelope_holds = holds


def consider_changes(report: DiffReport, log: ChangeLog, snapshot: Snapshot) -> DiffReport:
    """A report without a baseline (`drillkit.components.unbaselined`) settled by the change log
    for every component the watch watched (see the module doc)."""
    for name, diff in list(report.components.items()):
        fp = snapshot.components.get(name)
        if name not in log.watched or fp is None or not fp.ok:
            continue
        report.components[name] = _settle(diff, log, hash_canonical(fp.data))
    report.note = (report.note + "; " if report.note else "") + f"settled by the change log {log.path}"
    return report


def _settle(diff: ComponentDiff, log: ChangeLog, digest: str) -> ComponentDiff:
    name = diff.component
    good = log.last_good.digests.get(name) if log.last_good is not None else None
    mine = [c for c in log.since_good if c.component == name]
    evidence = {**diff.evidence, "change_log": [c.model_dump(exclude_none=True) for c in mine]}
    where = f"the last known good the watch recorded at {log.last_good.ts}" if log.last_good else ""
    if good is not None and digest == good:
        summary = f"as {where}" + (f" (changed and back since: {len(mine)} change(s))" if mine else "")
        return ComponentDiff(component=name, changed=False, summary=summary, evidence=evidence,
                             confidence=0.9, basis="change log")  # fmt: skip
    if name in log.pending():
        summary = "; ".join(c.line() for c in mine[-3:])
        exact = mine[-1].digest == digest
        return ComponentDiff(component=name, changed=True, summary=summary, evidence=evidence,
                             confidence=1.0 if exact else 0.8, score=max(c.score for c in mine),
                             basis="change log")  # fmt: skip
    if good is not None and name in EXACT:
        summary = f"differs from {where}, and the change log does not name it: changed after the watch last looked"
        return ComponentDiff(component=name, changed=True, summary=summary, evidence=evidence,
                             confidence=0.6, score=0.5, basis="change log")  # fmt: skip
    diff.summary += f" (the change log {'has no last known good' if good is None else 'does not name it'})"
    diff.evidence = evidence
    return diff


def annotate(report: DiffReport, changes: list[LoggedChange]) -> DiffReport:
    """Each changed component of a report against a baseline, with what the log says about it."""
    for name, diff in report.components.items():
        mine = [c for c in changes if c.component == name]
        if mine:
            diff.evidence["change_log"] = [c.model_dump(exclude_none=True) for c in mine]
            if diff.changed:
                newest = mine[-1]
                who = f" by {newest.who}" if newest.who else ""
                diff.summary += f" (change log: changed at {newest.ts}{who})"
    return report


__all__ = [
    "CHANGES_FILE",
    "ChangeLog",
    "LastGood",
    "LoggedChange",
    "annotate",
    "changes_path",
    "consider_changes",
    "read_change_log",
]
