"""The last game-day's preflight fingerprints: a recorded earlier state, for triage without a baseline.

Every game-day journals, before it injects anything, a compact fingerprint of the five inputs
(`<home>/runs/<id>/journal.jsonl`, kind `fingerprint`, `at: preflight`: per component whether it
could be read and the SHA-256 of its canonical data). The newest such entry of the same system
is a reference nobody vouched for as good, but a real one: a component whose fingerprint is
identical now has not changed since; one that differs has, in some way the digest cannot name.

How `drillkit.components.unbaselined` weighs it (`consider`):

- identical: an unknown verdict becomes `unchanged` (basis `game-day`); an unchanged one is
  surer; a change found another way stays, noted as older than the game-day;
- different: for prompt, retrieval and tools, whose fingerprints are exact (hashes, contract
  results), a difference in the last `LOOKBACK_S` is a change; for the model (canary wording)
  and the inputs (the sample's hash) it is only noted.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from drillkit.components.history import LOOKBACK_S, ago
from drillkit.components.types import ComponentDiff, Fingerprint
from drillkit.journal.canonical import hash_canonical
from drillkit.journal.events import Fingerprint as FingerprintEvent
from drillkit.journal.events import RunStarted
from drillkit.journal.writer import JournalEntry

#: Newest runs looked at, and the lines read of each before giving up on finding its preflight.
MAX_RUNS = 20
MAX_LINES = 200
#: Components whose fingerprint is exact: a different digest is a real difference.
EXACT = ("prompt", "retrieval", "tools")


class Preflight(BaseModel):
    """One game-day's preflight: its run, when, and each component's digest (None: not read)."""

    run_id: str
    at: str
    digests: dict[str, str | None]

    @property
    def age_s(self) -> float:
        return time.time() - datetime.fromisoformat(self.at).timestamp()


def last_preflight(home: Path, system: str) -> Preflight | None:
    """The newest preflight fingerprint a game-day of `system` journaled in `home`, if any."""
    runs = home / "runs"
    if not runs.is_dir():
        return None
    journals = sorted(runs.glob("*/journal.jsonl"), key=_mtime, reverse=True)[:MAX_RUNS]
    for path in journals:
        found = _preflight_of(path, system)
        if found is not None:
            return found
    return None


def _preflight_of(path: Path, system: str) -> Preflight | None:
    """The run's preflight entry when the run is of `system` (a journal read only as far as needed)."""
    try:
        with path.open("rb") as f:
            for n, line in enumerate(f):
                if n >= MAX_LINES or not line.endswith(b"\n"):
                    return None
                entry = JournalEntry.model_validate_json(line)
                match entry.event:
                    case RunStarted() as started if started.system != system:
                        return None
                    case FingerprintEvent(at="preflight") as fp:
                        digests = {c: (d.get("digest") if d.get("ok") else None) for c, d in fp.components.items()}
                        return Preflight(run_id=path.parent.name, at=entry.ts, digests=digests)
    except (OSError, ValidationError, ValueError):
        return None  # an unreadable run is no reference; `evidence verify` is where it is reported
    return None


def consider(diff: ComponentDiff, live: Fingerprint, pre: Preflight) -> ComponentDiff:
    """`diff` (a verdict without a baseline) weighed with the preflight (see the module doc)."""
    then = pre.digests.get(diff.component)
    if then is None or not live.ok:
        return diff
    same = hash_canonical(live.data) == then
    age = pre.age_s
    where = f"the preflight of game-day {pre.run_id} ({ago(age)})"
    diff.evidence["game_day"] = {"run": pre.run_id, "at": pre.at, "identical": same}
    if same and diff.changed is None:
        return ComponentDiff(component=diff.component, changed=False, summary=f"identical to {where}",
                             evidence=diff.evidence, confidence=0.7, basis="game-day")  # fmt: skip
    if same:
        note = "the change predates it" if diff.changed else "unchanged since"
        diff.summary += f" (identical to {where}: {note})"
        if diff.changed is False:
            diff.confidence = max(diff.confidence, 0.8)
        return diff
    if diff.changed is not True and diff.component in EXACT and age <= LOOKBACK_S:
        return ComponentDiff(component=diff.component, changed=True, summary=f"differs from {where}",
                             evidence=diff.evidence, confidence=0.6, score=0.5, basis="game-day")  # fmt: skip
    diff.summary += f" (differs from {where})"
    return diff


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


__all__ = ["Preflight", "consider", "last_preflight"]
