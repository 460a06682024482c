"""The run journal: append-only JSON lines, each entry chained to the previous one by SHA-256.

    with Journal(run_dir / "journal.jsonl") as journal:
        journal.record(RunStarted(scenario="silent-model-swap"))   # a typed event (journal.events)
        await journal.append_async(Window.KIND, window)      # from a coroutine: fsync off the loop

Contract (DESIGN §6):

- One entry per line, `{seq, ts, kind, data, prev}`, written as the line's RFC 8785 canonical
  JSON. `seq` counts from 1 (on a journal never cut, line N holds seq N); `ts` is the wall-clock
  time of writing, RFC 3339 UTC with milliseconds (`2026-11-28T10:15:00.123Z`); `prev` is the
  SHA-256 hex of the previous entry's canonical JSON, 64 zeros for the first entry.
- Each entry is written with one `write` and, unless `fsync=False`, fsync'd before `append`
  returns, so a crash leaves a valid prefix plus at most one partial last line. Measured on ext4
  on the development VM: about 0.2–0.3 ms per entry with fsync, a few µs without.
- `redact` is applied to every entry's `data` (already converted to plain JSON values, see
  `canonical.jsonable`) before it is hashed and written: what is redacted never reaches disk.
- Reopening an existing journal continues its chain (resume). A partial last line left by a crash
  is cut off first, and a `journal.repaired` entry records its length and SHA-256.
- Thread-safe: one lock orders seq, ts, prev and the write. One writer process per journal: a
  second `Journal` on the same file raises `JournalBusy` (an advisory `flock`, where available).

Reading and verifying a journal are in `drillkit.journal.verify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drillkit.errors import DrillkitError, InputError, LockBusy
from drillkit.journal.canonical import ZERO_HASH, canonical_json, hash_canonical, jsonable, sha256_hex
from drillkit.journal.events import Event, JournalRepaired, parse
from drillkit.net.filelock import lock_fd

RedactFn = Callable[[dict[str, Any]], dict[str, Any]]  # e.g. drillkit.journal.redact.Redactor
Clock = Callable[[], datetime]

TS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


class JournalBusy(DrillkitError):
    """Another `Journal` (in this or another process) holds the file open for writing."""


class JournalEntry(BaseModel):
    """One journal line. Strict, so a parsed line re-canonicalises to exactly the bytes hashed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seq: int = Field(ge=1)
    ts: str = Field(pattern=TS_PATTERN, description="RFC 3339 UTC with milliseconds")
    kind: str = Field(min_length=1)
    data: dict[str, Any] = {}
    prev: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 hex of the previous entry; zeros for seq 1")

    def canonical(self) -> bytes:
        """The entry's RFC 8785 canonical JSON: exactly the line written (without its newline)."""
        return canonical_json(self.model_dump())

    @property
    def hash(self) -> str:
        """SHA-256 hex of `canonical()`: the next entry's `prev`."""
        return sha256_hex(self.canonical())

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.ts)

    @property
    def event(self) -> Event:
        """The entry's data as its kind's model (`drillkit.journal.events`)."""
        return parse(self.kind, self.data)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds (truncated, not rounded, so ts never runs ahead of the clock)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def split_lines(raw: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (without newline) and the bytes after the last newline (a partial line, or b"")."""
    cut = raw.rfind(b"\n") + 1
    body, tail = raw[:cut], raw[cut:]
    return (body[:-1].split(b"\n") if body else []), tail


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """An open journal file. See the module doc for the on-disk contract.

    `fsync=False` skips the per-entry fsync (tests; a crash may then lose recent entries, never
    reorder them). `clock` returns the wall-clock time stamped on entries (tz-aware).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        fsync: bool = True,
        redact: RedactFn | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._redact = redact
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._head = ZERO_HASH
        created = not self.path.exists()
        # 0o600: entries can carry prompts and answers until the redaction policy says otherwise.
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self._lock_file()
            repaired = self._resume()
            if created and fsync:
                _fsync_dir(self.path.parent)  # the new file's name must survive a crash too
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise
        if repaired is not None:
            self.append(JournalRepaired.KIND, repaired)

    # -- public ------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The seq of the last entry written (0 for an empty journal)."""
        return self._seq

    @property
    def head(self) -> str:
        """SHA-256 hex of the last entry (64 zeros for an empty journal): what a checkpoint binds."""
        return self._head

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(self, kind: str, data: Any = None) -> JournalEntry:
        """Write one entry now (fsync'd unless disabled) and return it.

        `data` is a mapping or a pydantic model (anything `jsonable` turns into a JSON object);
        it is redacted before writing. Raises ValueError for data JSON cannot carry, OSError
        when the disk refuses (the file is then left as it was before the call).
        """
        if not kind:
            raise ValueError("a journal entry needs a kind")
        body = jsonable({} if data is None else data)
        if not isinstance(body, dict):
            raise ValueError(f"journal data must be a JSON object (got {type(body).__name__})")
        if self._redact is not None:
            body = self._redact(body)
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"journal {self.path} is closed")
            entry = JournalEntry(seq=self._seq + 1, ts=format_ts(self._clock()), kind=kind, data=body, prev=self._head)
            line = entry.canonical()
            self._write(line + b"\n")
            self._seq, self._head = entry.seq, sha256_hex(line)
        return entry

    def record(self, event: Event) -> JournalEntry:
        """`append` a typed event under its registered kind."""
        if not event.KIND:
            raise ValueError(f"{type(event).__name__} is not a registered journal kind")
        return self.append(event.KIND, event.data())

    async def append_async(self, kind: str, data: Any = None) -> JournalEntry:
        """`append` from a coroutine: the write and fsync run in a worker thread, not on the loop."""
        return await asyncio.to_thread(self.append, kind, data)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # also releases the flock
                self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _lock_file(self) -> None:
        assert self._fd is not None
        try:
            lock_fd(self._fd)  # exclusive, no wait; where flock is missing a second writer goes unseen
        except LockBusy:
            raise JournalBusy(f"{self.path}: another drillkit process is writing this journal") from None

    def _resume(self) -> dict[str, Any] | None:
        """Continue the chain after the last complete entry; cut a partial last line (crash)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if not size:
            return None
        raw = os.pread(self._fd, size, 0)
        lines, tail = split_lines(raw)
        repaired = None
        if tail:
            os.ftruncate(self._fd, size - len(tail))
            if self._fsync:
                os.fsync(self._fd)
            repaired = {"cut_bytes": len(tail), "cut_sha256": sha256_hex(tail), "after_seq": None}
        if lines:
            try:
                last = JournalEntry.model_validate_json(lines[-1])
            except ValueError as exc:
                raise InputError(
                    f"{self.path}:{len(lines)}: cannot continue this journal, its last entry is not valid ({exc})"
                ) from None
            self._seq, self._head = last.seq, hash_canonical(last.model_dump())
        if repaired is not None:
            repaired["after_seq"] = self._seq
        return repaired

    def _write(self, payload: bytes) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(self._fd, view) :]
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            # Never leave half an entry behind a live writer: the next append would glue onto it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)
            raise


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open directories
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Clock", "Journal", "JournalBusy", "JournalEntry", "RedactFn", "format_ts", "split_lines"]
