"""What every section of a run's review reads (`Run`): the record, its summary, the entries the
sections cite, and the run's purpose and outcome (DESIGN §9.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drillkit.gameday.summary import outcome_of
from drillkit.journal.events import (
    Absorbed,
    Detected,
    Recovered,
    RollbackFinished,
    RollbackImpact,
    RollbackSkipped,
    RollbackStarted,
    RunFinished,
    RunStarted,
    Verify,
)
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review_sections import Record, extra
from drillkit.reports.summaries import RunRecord, lenient

Pair = tuple[JournalEntry, Any]


@dataclass
class Run:
    """What every section of a run's review reads: the record, its summary (an empty one when the
    run was killed before writing it), and the entries the sections cite."""

    record: Record
    summary: RunRecord
    has_summary: bool
    started: RunStarted
    verify: Verify
    verify_entry: JournalEntry | None
    finished: tuple[JournalEntry, RunFinished] | None
    detected: tuple[JournalEntry, Detected] | None
    rollback_started: tuple[JournalEntry, RollbackStarted] | None
    rollback_finished: tuple[JournalEntry, RollbackFinished] | None
    rollback_skipped: tuple[JournalEntry, RollbackSkipped] | None
    recovered: tuple[JournalEntry, Recovered] | None
    absorbed: tuple[JournalEntry, Absorbed] | None
    impact: tuple[JournalEntry, RollbackImpact] | None

    @classmethod
    def of(cls, record: Record, summary: RunRecord | None) -> Run:
        s = summary or lenient(RunRecord, {})
        journalled = record.pair(Verify)
        verify = lenient(Verify, s.verify) if s.verify else journalled[1] if journalled else Verify()
        same = journalled is not None and journalled[1].data() == verify.data()
        return cls(
            record, s, summary is not None, record.first(RunStarted) or RunStarted(), verify,
            journalled[0] if same and journalled else None, record.pair(RunFinished, last=True),
            record.pair(Detected), record.pair(RollbackStarted), record.pair(RollbackFinished),
            record.pair(RollbackSkipped), record.pair(Recovered), record.pair(Absorbed), record.pair(RollbackImpact),
        )  # fmt: skip

    def verify_cites(self) -> list[str]:
        """Where the verify result was read: its journal entry, else the summary."""
        return self.record.cite(self.verify_entry) if self.verify_entry is not None else [self.record.summary_cite]

    @property
    def verdict(self) -> str:
        finished = self.finished[1].verdict if self.finished else None
        return self.summary.verdict or finished or "unknown"

    @property
    def purpose(self) -> str:
        """rehearsal | control | exploratory: the summary's (a run written before purposes is a rehearsal)."""
        given = "purpose" in self.summary.model_fields_set
        return str((self.summary.purpose if given else None) or extra(self.started, "purpose") or "rehearsal")

    @property
    def as_expected(self) -> bool | None:
        """Whether the verdict is what the run's purpose wanted (None: the run has no verdict)."""
        if self.summary.outcome in ("as_expected", "unexpected"):
            return self.summary.outcome == "as_expected"
        known = self.purpose in ("rehearsal", "control", "exploratory")
        if self.verdict not in ("pass", "fail", "aborted") or not known:
            return None
        return outcome_of(self.purpose, self.verdict) == "as_expected"

    def measured(self, field: str, pair: Pair | None, attr: str) -> tuple[float | None, list[str]]:
        """A figure the summary and the journal both carry: the summary's when there is one (it is
        the record of the verdict), cited to the journal entry that holds the same value, else to
        the summary."""
        journal = getattr(pair[1], attr, None) if pair is not None else None
        value = getattr(self.summary, field, None) if self.has_summary else journal
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None, []
        if pair is not None and journal == value:
            return value, self.record.cite(pair)
        return value, [self.record.summary_cite]


__all__ = ["Pair", "Run"]
