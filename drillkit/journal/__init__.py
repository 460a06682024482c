"""The run journal: JSON lines written as events happen, chained by SHA-256 of RFC 8785 canonical JSON.

    with Journal(path) as journal:                 # reopening continues the chain
        journal.record(RunStarted(scenario="silent-model-swap"))
    read_journal(path)                             # -> [JournalEntry, ...]
    verify_chain(path)                             # -> [ChainProblem, ...]; [] when intact

The on-disk contract is in `drillkit.journal.writer`, the kinds and their models in
`drillkit.journal.events`; what verification can and cannot prove is in
`drillkit.journal.verify`.
"""

from __future__ import annotations

from drillkit.journal.canonical import ZERO_HASH, canonical_json, hash_canonical, jsonable, sha256_hex
from drillkit.journal.verify import ChainProblem, read_journal, verify_chain
from drillkit.journal.writer import Journal, JournalBusy, JournalEntry, RedactFn

__all__ = [
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
