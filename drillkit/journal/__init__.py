"""The run journal: JSON lines written as events happen, chained by SHA-256 of RFC 8785 canonical JSON.

    with Journal(path) as journal:                 # reopening continues the chain
        journal.append(RUN_STARTED, {"scenario": "silent-model-swap"})
    read_journal(path)                             # -> [JournalEntry, ...]
    verify_chain(path)                             # -> [ChainProblem, ...]; [] when intact

The on-disk contract is in `drillkit.journal.writer`; what verification can and cannot prove is in
`drillkit.journal.verify`.
"""

from __future__ import annotations

from drillkit.journal.canonical import ZERO_HASH, canonical_json, hash_canonical, jsonable, sha256_hex
from drillkit.journal.kinds import (
    DETECTED,
    FAULT_INJECTED,
    FAULT_REMOVED,
    GUARDRAIL_TRIPPED,
    JOURNAL_REPAIRED,
    KINDS,
    PHASE,
    RECOVERED,
    ROLLBACK_FINISHED,
    ROLLBACK_STARTED,
    ROLLBACK_STEP,
    RUN_FINISHED,
    RUN_STARTED,
    SLO_BREACH,
    VERIFY,
    WINDOW,
)
from drillkit.journal.verify import ChainProblem, read_journal, verify_chain
from drillkit.journal.writer import Journal, JournalBusy, JournalEntry, RedactFn

__all__ = [
    "DETECTED",
    "FAULT_INJECTED",
    "FAULT_REMOVED",
    "GUARDRAIL_TRIPPED",
    "JOURNAL_REPAIRED",
    "KINDS",
    "PHASE",
    "RECOVERED",
    "ROLLBACK_FINISHED",
    "ROLLBACK_STARTED",
    "ROLLBACK_STEP",
    "RUN_FINISHED",
    "RUN_STARTED",
    "SLO_BREACH",
    "VERIFY",
    "WINDOW",
    "ZERO_HASH",
    "ChainProblem",
    "Journal",
    "JournalBusy",
    "JournalEntry",
    "RedactFn",
    "canonical_json",
    "hash_canonical",
    "jsonable",
    "read_journal",
    "sha256_hex",
    "verify_chain",
]
