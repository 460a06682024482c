"""The evidence ledger: one hash-chained entry per finished game-day run or triage incident.

    entry = record(home, "run", run_id, run_dir / "journal.jsonl", summary)   # when the run is over

On disk, under the drillkit home:

- `ledger.jsonl`: JSON lines in RFC 8785 canonical form, `{seq, ts, kind, id, journal, entries,
  merkle_root, journal_head, last_prev, summary, summary_digest, facts, extends, operator, prev}`.
  `journal` (and `summary`) are paths relative to the home; `merkle_root` is RFC 6962's tree head
  over the journal's lines; `facts` repeats what a reader of the evidence report needs (scenario or
  runbook, verdict or outcome, TTD, rollback time, TTR, ...) so an edited summary.json cannot change
  the record; `operator` names who entered it (`record(operator=...)`, else `$DRILLKIT_OPERATOR`, else
  the OS user: `ledger_operator`), so the signed checkpoint covers a name; an entry written before
  it existed has no `operator` key (and its canonical bytes are unchanged); `prev` chains entries
  exactly like a journal's (SHA-256 of the previous line).
- `ledger.checkpoint.json` (`drillkit.journal.checkpoint`): the ledger's tree head, re-signed with
  Ed25519 on every append. Keep a copy of it (and the key fingerprint) outside the home: a later
  `drillkit evidence verify --checkpoint COPY` proves the ledger still extends it.

`record` is safe for concurrent writers (an exclusive `FileLock` on `ledger.lock`) and idempotent:
recording the same id again with an unchanged journal returns the existing entry. When the journal
has legitimately grown since (a resumed incident finished again) and still starts with exactly the
recorded entries, a new entry is appended that `extends` the old one; a journal that no longer
matches what was recorded is left for `drillkit evidence verify` to report, never re-recorded.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drillkit.errors import DrillkitError, InputError
from drillkit.journal.canonical import ZERO_HASH, canonical_json, hash_canonical, jsonable, sha256_hex
from drillkit.journal.checkpoint import (
    CHECKPOINT_FILE,
    ORIGIN,
    Checkpoint,
    checkpoint_path,
    first_error,
    read_checkpoint,
    sign_checkpoint,
    write_checkpoint,
)
from drillkit.journal.ledger_operator import operator_name
from drillkit.journal.merkle import merkle_root, merkle_root_hex
from drillkit.journal.signing import (
    PUB_FILE,
    SigningKey,
    fingerprint,
    keys_dir,
    load_public_key,
    signing_key,
    verify_signature,
)
from drillkit.journal.verify import digest_journal, journal_lines
from drillkit.journal.writer import TS_PATTERN, format_ts
from drillkit.net.filelock import FileLock

LEDGER_FILE = "ledger.jsonl"
LOCK_FILE = "ledger.lock"
Kind = Literal["run", "incident", "plan", "changes"]

#: Summary keys copied into a ledger entry's `facts` when present (runs and incidents alike).
FACT_KEYS = (
    "scenario", "runbook", "title", "layer", "rollback_path", "severity", "system", "operator", "mode", "rollback_mode",
    "verdict", "outcome", "purpose", "envelope", "changed", "revert_order", "breached",
    "ttd_s", "rollback_s", "ttr_s", "rto_target_s", "started_at", "finished_at", "duration_s",
)  # fmt: skip


class LedgerError(DrillkitError):
    """The ledger does not match its signed checkpoint, so nothing more is signed (exit 1)."""


class LedgerEntry(BaseModel):
    """One ledger line; strict, so a parsed line re-canonicalises to exactly the bytes hashed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seq: int = Field(ge=1)
    ts: str = Field(pattern=TS_PATTERN)
    kind: Kind
    id: str = Field(min_length=1)
    journal: str
    entries: int = Field(ge=0)
    merkle_root: str = Field(pattern=r"^[0-9a-f]{64}$")
    journal_head: str = Field(pattern=r"^[0-9a-f]{64}$")
    last_prev: str | None = None
    summary: str | None = None
    summary_digest: str | None = None
    facts: dict[str, Any] = {}
    extends: int | None = None
    operator: str | None = Field(default=None, min_length=1)  # who entered it; absent before it existed
    prev: str = Field(pattern=r"^[0-9a-f]{64}$")

    def canonical(self) -> bytes:
        # An entry without an operator (written before the field existed) keeps its bytes.
        return canonical_json(self.model_dump(exclude={"operator"} if self.operator is None else None))

    @property
    def hash(self) -> str:
        return sha256_hex(self.canonical())


def ledger_path(home: Path) -> Path:
    return Path(home) / LEDGER_FILE


def home_relative(home: Path, path: Path) -> str:
    """`path` relative to the home (POSIX form) when inside it, else absolute: what the ledger stores."""
    path, home = Path(path).absolute(), Path(home).absolute()
    try:
        return path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def resolve_recorded(home: Path, recorded: str) -> Path:
    """The file a ledger path names (relative paths are under the home)."""
    path = Path(recorded)
    return path if path.is_absolute() else Path(home) / path


def read_ledger(home: Path, *, skip_invalid: bool = False) -> list[LedgerEntry]:
    """The ledger's entries in file order ([] when there is none). An unreadable line is an
    InputError naming it, or skipped with `skip_invalid` (readers that must not stop on one bad
    line: `drillkit evidence verify` reports it). This does not check the chain."""
    path = ledger_path(home)
    if not path.exists():
        return []
    lines, _tail = journal_lines(path)
    entries = []
    for n, raw in enumerate(lines, 1):
        try:
            entries.append(LedgerEntry.model_validate(json.loads(raw)))
        except ValueError as exc:
            if not skip_invalid:
                raise InputError(f"{path}:{n}: not a ledger entry ({first_error(exc)})") from None
    return entries


def latest_by_id(entries: list[LedgerEntry]) -> dict[str, LedgerEntry]:
    """The newest entry per recorded id (a later entry `extends` an earlier one)."""
    latest: dict[str, LedgerEntry] = {}
    for entry in entries:
        latest[entry.id] = entry
    return latest


def record(
    home: Path,
    kind: Kind,
    ident: str,
    journal: Path,
    summary: dict[str, Any] | BaseModel,
    *,
    key: Path | str | None = None,
    operator: str | None = None,
) -> LedgerEntry:
    """Record a finished run or incident; return its ledger entry. Call once its journal is closed
    and its summary.json written: the summary's digest and `facts` are taken from that file (it has
    passed redaction) when it exists next to the journal, else from `summary`.

    `key` is a signing key file (default `$DRILLKIT_SIGNING_KEY`, else the home's, created on first
    use). `operator` names who enters the record (default `$DRILLKIT_OPERATOR`, else the OS user):
    it is part of the signed entry. Raises InputError for a missing journal or an unusable key;
    LedgerError (exit 1) when the ledger no longer matches its signed checkpoint (nothing is
    appended then: re-signing would launder the edit); OSError when the disk refuses.
    """
    home, journal = Path(home), Path(journal)
    if kind not in ("run", "incident", "plan", "changes"):
        raise ValueError(f"ledger kind must be 'run', 'incident', 'plan' or 'changes', got {kind!r}")
    # The change log (`<home>/changes.jsonl`, grown by every watch session) has no summary file
    # next to it: its entry digests the session's summary as given.
    summary_file = journal.parent / "summary.json" if kind != "changes" else None
    summary_data = _summary_data(summary_file, summary)
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):
        signer = signing_key(home, key)
        lines, tail, entries = _read_signed(home, signer)
        previous = latest_by_id(entries).get(ident)
        digest = digest_journal(journal)
        if previous is not None:
            if previous.kind != kind:
                raise InputError(f"{ident}: already recorded in the ledger as a {previous.kind}, not a {kind}")
            if not _extends(journal, previous, digest.entries):
                return previous  # unchanged (idempotent), or no longer matching: verify reports it
        _prepare_append(home, lines, tail, signer)
        entry = LedgerEntry(
            seq=len(lines) + 1,
            ts=format_ts(datetime.now(UTC)),
            kind=kind,
            id=ident,
            journal=home_relative(home, journal),
            entries=digest.entries,
            merkle_root=digest.merkle_root,
            journal_head=digest.head,
            last_prev=digest.last_prev,
            summary=home_relative(home, summary_file) if summary_file and summary_file.exists() else None,
            summary_digest=hash_canonical(summary_data),
            facts=summary_facts(summary_data),
            extends=previous.seq if previous is not None else None,
            operator=operator_name(operator),
            prev=sha256_hex(lines[-1]) if lines else ZERO_HASH,
        )
        line = entry.canonical()
        _append(ledger_path(home), line + b"\n")
        write_checkpoint(home, [*lines, line], signer)
    return entry


def _summary_data(summary_file: Path | None, summary: dict[str, Any] | BaseModel) -> Any:
    """The summary a ledger entry digests. The file, when written, has passed the redaction policy
    and is what verify will compare: facts and digest come from it, so nothing unredacted reaches
    the ledger; `summary` only when there is no such file (or it is not a JSON object)."""
    data = jsonable(_read_json(summary_file)) if summary_file and summary_file.exists() else None
    return data if isinstance(data, dict) else jsonable(summary)


def _read_signed(home: Path, signer: SigningKey) -> tuple[list[bytes], bytes, list[LedgerEntry]]:
    """The ledger's complete lines, a torn last line (b"" when none) and the parsed entries; a
    LedgerError when a line does not parse or the ledger no longer matches its signed checkpoint."""
    path = ledger_path(home)
    lines, tail = journal_lines(path) if path.exists() else ([], b"")
    entries = _parse_lines(path, lines)
    _check_signed(home, lines, signer)
    return lines, tail, entries


def _prepare_append(home: Path, lines: list[bytes], tail: bytes, signer: SigningKey) -> None:
    if not lines and not checkpoint_path(home).exists():
        # Sign the empty ledger first: from now on a missing checkpoint can only mean deletion.
        write_checkpoint(home, [], signer)
    if tail:  # a crash mid-append left half a line: drop it, no checkpoint ever covered it
        _truncate(ledger_path(home), sum(len(line) + 1 for line in lines))


def _parse_lines(path: Path, lines: list[bytes]) -> list[LedgerEntry]:
    entries = []
    for n, raw in enumerate(lines, 1):
        try:
            entries.append(LedgerEntry.model_validate(json.loads(raw)))
        except ValueError as exc:
            raise LedgerError(
                f"{path}:{n}: not a ledger entry ({first_error(exc)}); nothing recorded: run 'drillkit evidence verify'"
            ) from None
    return entries


def _check_signed(home: Path, lines: list[bytes], signer: SigningKey) -> None:
    """Refuse to re-sign a ledger that no longer matches its signed checkpoint: signing over an
    edit would launder it. A change of key is accepted only from the home's own generated key (the
    one migration path: default key → team key); any other key change needs a person to look."""
    cp_path = checkpoint_path(home)
    advice = "nothing recorded: run 'drillkit evidence verify'"
    if not cp_path.exists():
        if lines:
            raise LedgerError(f"{cp_path}: missing while the ledger holds {len(lines)} entries; {advice}")
        return
    try:
        cp = read_checkpoint(cp_path)
        signature_ok = verify_signature(cp.public_raw, cp.signed_text(), cp.signature_raw)
    except (InputError, ValueError) as exc:
        raise LedgerError(f"{cp_path}: unreadable ({exc}); {advice}") from None
    if not signature_ok or fingerprint(cp.public_raw) != cp.key_fingerprint:
        raise LedgerError(f"{cp_path}: the signature does not verify; {advice}")
    if cp.size > len(lines):
        raise LedgerError(f"{cp_path}: signed {cp.size} entries, the ledger holds {len(lines)}; {advice}")
    if merkle_root_hex(lines[: cp.size]) != cp.root:
        raise LedgerError(f"{ledger_path(home)}: entries 1–{cp.size} changed since they were signed; {advice}")
    if cp.key_fingerprint != signer.fingerprint and cp.key_fingerprint != _home_key_fingerprint(home):
        raise LedgerError(
            f"{cp_path}: signed by {cp.key_fingerprint}, which is neither the signing key "
            f"({signer.fingerprint}) nor this home's own key; {advice}"
        )


def _home_key_fingerprint(home: Path) -> str | None:
    pub = keys_dir(home) / PUB_FILE
    try:
        return fingerprint(load_public_key(pub)) if pub.exists() else None
    except InputError:
        return None


def summary_facts(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary[k] for k in FACT_KEYS if k in summary}


def summary_digest(path: Path) -> str | None:
    """SHA-256 of the canonical JSON of a summary file's content (None when unreadable)."""
    data = _read_json(path)
    return None if data is None else hash_canonical(jsonable(data))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _extends(journal: Path, previous: LedgerEntry, entries_now: int) -> bool:
    """True when the journal has grown past what `previous` recorded and still starts with it."""
    if entries_now <= previous.entries:
        return False
    lines, _tail = journal_lines(journal)
    return merkle_root(lines[: previous.entries]).hex() == previous.merkle_root


def _locked(home: Path) -> FileLock:
    # Blocks: recording is short, and every run must get in. (Not serialised where flock is missing.)
    return FileLock(Path(home) / LOCK_FILE, blocking=True)


def _append(path: Path, payload: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)
        os.fsync(f.fileno())


__all__ = [
    "CHECKPOINT_FILE",
    "FACT_KEYS",
    "LEDGER_FILE",
    "ORIGIN",
    "Checkpoint",
    "Kind",
    "LedgerEntry",
    "LedgerError",
    "checkpoint_path",
    "home_relative",
    "latest_by_id",
    "ledger_path",
    "read_checkpoint",
    "read_ledger",
    "record",
    "resolve_recorded",
    "sign_checkpoint",
    "summary_digest",
    "summary_facts",
    "write_checkpoint",
]
