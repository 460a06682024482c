"""Reading a journal back, and checking its hash chain for edits, drops, reorders and truncation.

    entries = read_journal(path)        # the valid entries, in file order
    problems = verify_chain(path)       # [] when the chain is intact
    digest = digest_journal(path)       # entries, RFC 6962 Merkle root, head: what the ledger binds

`verify_chain(path, model=LedgerEntry)` checks the evidence ledger the same way: any strict model
with `seq`, `prev`, `canonical()` and `hash` chains like a journal entry.

What the chain alone proves: any edit of an entry that has a successor, any dropped or reordered
entry. What it cannot: a removed or edited *last* entry, or a file whose every hash was
rewritten — the ledger's signed checkpoint (bound to `Journal.head`) covers those.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from drillkit.errors import InputError
from drillkit.journal.canonical import ZERO_HASH, sha256_hex
from drillkit.journal.merkle import merkle_root_hex
from drillkit.journal.writer import JournalEntry, split_lines

#: An entry and the 1-based line it was read from.
Located = tuple[int, JournalEntry]
#: Any strict pydantic model with `seq`, `prev`, `canonical()` and `hash` chains like a journal
#: entry (the ledger's entries do): `verify_chain(path, model=...)` checks either.
Chained = type[BaseModel]
ProblemKind = Literal["truncated", "invalid", "edited", "dropped", "reordered", "duplicate"]


class ChainProblem(BaseModel):
    """One thing wrong with a journal file. `line` is 1-based; `seq` the entry's seq when readable.

    `truncated` alone (on the last line) is what a crash leaves: the entries before it are intact.
    """

    line: int
    seq: int | None = None
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return self.message


def read_journal(path: Path | str) -> list[JournalEntry]:
    """The journal's entries in file order. A partial last line (a crash mid-write) is skipped;
    any other unreadable line is an `InputError` naming file:line. This does not check the chain.
    """
    path = Path(path)
    lines, _tail = split_lines(_read(path))
    entries = []
    for n, raw in enumerate(lines, 1):
        entry = _parse(raw)
        if isinstance(entry, str):
            raise InputError(f"{path}:{n}: not a journal entry: {entry}")
        entries.append(entry)
    return entries


class JournalDigest(BaseModel):
    """What the ledger binds of a journal: its complete lines, their Merkle root, the last line's hash.

    `merkle_root` is RFC 6962's tree head over the lines exactly as stored (each the entry's
    canonical JSON, no newline); `head` the SHA-256 hex of the last line (the writer's
    `Journal.head`); `last_prev` the `prev` that last line carries (hash of the line before it),
    which lets a verifier tell "only the last entry was edited" from "the chain was rewritten".
    `partial_bytes` counts bytes after the last newline (a crash's partial line; not covered).
    """

    entries: int
    merkle_root: str
    head: str
    last_prev: str | None = None
    partial_bytes: int = 0


def journal_lines(path: Path | str) -> tuple[list[bytes], bytes]:
    """The journal's complete lines (without newline) and any partial last line; InputError if unreadable."""
    return split_lines(_read(Path(path)))


def digest_lines(lines: list[bytes], tail: bytes = b"") -> JournalDigest:
    last_prev = None
    if lines:
        try:
            last_prev = json.loads(lines[-1]).get("prev")
        except (ValueError, AttributeError):
            last_prev = None
    return JournalDigest(
        entries=len(lines),
        merkle_root=merkle_root_hex(lines),
        head=sha256_hex(lines[-1]) if lines else ZERO_HASH,
        last_prev=last_prev if isinstance(last_prev, str) else None,
        partial_bytes=len(tail),
    )


def digest_journal(path: Path | str) -> JournalDigest:
    """The `JournalDigest` of the file at `path` (reads it once; does not check the chain)."""
    return digest_lines(*journal_lines(path))


def verify_chain(path: Path | str, *, model: Chained = JournalEntry) -> list[ChainProblem]:
    """Every problem found in the journal at `path`, ordered by line; [] when the chain is intact.

    `model` parses each line (default: a journal entry; the ledger passes its own entry model).
    """
    return check_lines(*journal_lines(path), model=model)


def check_lines(lines: list[bytes], tail: bytes = b"", *, model: Chained = JournalEntry) -> list[ChainProblem]:
    """`verify_chain` on lines already read (see `journal_lines`)."""
    problems: list[ChainProblem] = []
    parsed: list[tuple[int, JournalEntry]] = []
    hashes: dict[int, str] = {}  # line -> SHA-256 of the entry's canonical form (what `prev` must be)
    invalid_lines: set[int] = set()
    for n, raw in enumerate(lines, 1):
        entry = _parse(raw, model)
        if isinstance(entry, str):
            invalid_lines.add(n)
            problems.append(ChainProblem(line=n, kind="invalid", message=f"line {n}: not a journal entry ({entry})"))
            continue
        canonical = entry.canonical()  # computed once: RFC 8785 in pure Python is most of the cost
        hashes[n] = sha256_hex(canonical)
        if canonical != raw:
            problems.append(
                ChainProblem(
                    line=n,
                    seq=entry.seq,
                    kind="edited",
                    message=f"line {n} (seq {entry.seq}): not in canonical form, rewritten after it was written",
                )
            )
        parsed.append((n, entry))
    if tail:
        n = len(lines) + 1
        entry = _parse(tail, model)
        seq = None if isinstance(entry, str) else entry.seq
        problems.append(
            ChainProblem(
                line=n,
                seq=seq,
                kind="truncated",
                message=f"line {n}: the last line has no newline, cut short by a crash while writing; "
                f"the {len(lines)} lines before it are a valid prefix",
            )
        )
        if not isinstance(entry, str):
            hashes[n] = sha256_hex(entry.canonical())
            parsed.append((n, entry))

    by_seq = _check_order(parsed, problems)
    _check_gaps(by_seq, invalid_lines, problems)
    _check_links(by_seq, hashes, problems)
    problems.sort(key=lambda p: p.line)
    return problems


def _check_order(parsed: list[tuple[int, JournalEntry]], problems: list[ChainProblem]) -> dict[int, Located]:
    """Report duplicates and entries that come after a higher seq; return seq → (line, entry)."""
    by_seq: dict[int, Located] = {}
    top_seq, top_line = 0, 0
    for n, entry in parsed:
        s = entry.seq
        if s in by_seq:
            problems.append(
                ChainProblem(line=n, seq=s, kind="duplicate", message=f"line {n}: seq {s} repeats line {by_seq[s][0]}")
            )
            continue
        by_seq[s] = (n, entry)
        if s < top_seq:
            problems.append(
                ChainProblem(
                    line=n,
                    seq=s,
                    kind="reordered",
                    message=f"line {n} (seq {s}) comes after line {top_line} (seq {top_seq}): entries were reordered",
                )
            )
        else:
            top_seq, top_line = s, n
    return by_seq


def _check_gaps(by_seq: dict[int, Located], invalid_lines: set[int], problems: list[ChainProblem]) -> None:
    """Report seqs missing between 1 and the highest seq, unless unreadable lines stand in their place."""
    before, before_line = 0, 0
    for s in sorted(by_seq):
        line = by_seq[s][0]
        missing = s - before - 1
        if missing > 0:
            # An entry edited into unparseable text is already reported as invalid, not as dropped.
            between = range(min(before_line, line) + 1, max(before_line, line))
            unreadable = sum(1 for n in between if n in invalid_lines)
            if unreadable < missing:
                span = f"seq {before + 1}" if missing == 1 else f"seqs {before + 1}–{s - 1}"
                count = "1 entry" if missing == 1 else f"{missing} entries"
                where = f"after line {before_line} (seq {before})" if before else "at the start"
                problems.append(
                    ChainProblem(
                        line=line,
                        seq=s,
                        kind="dropped",
                        message=f"line {line}: {span} missing {where}: {count} dropped",
                    )
                )
        before, before_line = s, line


def _check_links(by_seq: dict[int, Located], hashes: dict[int, str], problems: list[ChainProblem]) -> None:
    """Each entry's `prev` must be the hash of the entry with the seq before it (zeros for seq 1)."""
    for s, (line, entry) in by_seq.items():
        if s == 1:
            if entry.prev != ZERO_HASH:
                problems.append(
                    ChainProblem(
                        line=line,
                        seq=s,
                        kind="edited",
                        message=f"line {line} (seq 1): prev should be 64 zeros, the entry was edited",
                    )
                )
            continue
        previous = by_seq.get(s - 1)
        if previous is None:
            continue  # reported as dropped (or invalid)
        prev_line = previous[0]
        if hashes[prev_line] != entry.prev:
            problems.append(
                ChainProblem(
                    line=prev_line,
                    seq=s - 1,
                    kind="edited",
                    message=f"line {prev_line} (seq {s - 1}) no longer hashes to the prev recorded on line {line} "
                    f"(seq {s}): line {prev_line} was edited (or line {line}'s prev)",
                )
            )


def _parse(raw: bytes, model: Chained = JournalEntry) -> JournalEntry | str:
    """The entry on a line, or why it is not one."""
    try:
        return model.model_validate(json.loads(raw))  # type: ignore[return-value]
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    except UnicodeDecodeError:
        return "not UTF-8"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "entry"
        return f"{where}: {first['msg']}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the journal ({exc.strerror})") from None


__all__ = [
    "ChainProblem",
    "JournalDigest",
    "ProblemKind",
    "check_lines",
    "digest_journal",
    "digest_lines",
    "journal_lines",
    "read_journal",
    "verify_chain",
]
