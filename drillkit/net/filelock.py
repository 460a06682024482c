"""One advisory file lock for everything drillkit keeps to one process at a time.

    with FileLock(home / "chaos" / "gameday.lock", note=f"pid {os.getpid()}"):
        ...   # LockBusy (an InputError) with `holder` = "pid 123" when another process has it

Contract:

- A whole-file `flock(2)`, advisory: it keeps out other `flock` callers, not plain readers and
  writers. It belongs to the open file, so it ends when the file is closed: `release()`, the end
  of the `with` block, or the process's exit (SIGKILL too) — a crash never leaves it held. Two
  `FileLock`s on one path exclude each other even within one process. The file is opened
  close-on-exec, so a spawned program does not inherit it.
- Exclusive by default; `shared=True` locks coexist with each other, never with an exclusive one.
- Waiting: `blocking=False` (the default) tries once; `blocking=True` waits, without end when
  `timeout` is None (in the kernel), else polling every 20 ms for up to `timeout` seconds (flock
  has no timed wait). A lock not got raises `LockBusy`; its `holder` is the note in the file.
- Notes: an exclusive holder may leave a `note` ("pid 123"): on acquisition the file is emptied
  and the note written, so a busy lock's `holder()` names who has it. The note stays after
  release (the file is never removed: deleting a lock file lets two processes lock two files),
  so it means something only while the lock is busy. Shared holders write nothing.
- The file is created when missing (mode 0o600; its folder must exist) and never removed.
- `lock_fd` is the same lock on a file the caller already holds open (the journal writer locks
  its own append fd); closing that fd releases it.

Portability: `fcntl` (POSIX) does the locking. Where it is missing (Windows), locking is not
available and nothing is locked, the stance the journal writer always took ("where available"):
`LOCKING` is False, `FileLock` and `lock_fd` succeed without excluding anyone and never raise
`LockBusy`, notes are still written. Callers that need more check `LOCKING` (the demo falls
back to checking pids).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Self

from drillkit.errors import LockBusy

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: nothing is locked (see the module doc)
    fcntl = None  # type: ignore[assignment]

#: True where `flock` exists and locks exclude one another; False where nothing is locked.
LOCKING = fcntl is not None
POLL_S = 0.02
NOTE_MAX = 4096  # bytes of a note read back; a note is a line ("pid 123 ...")


def lock_fd(fd: int, *, shared: bool = False, blocking: bool = False, timeout: float | None = None) -> None:
    """Lock the open file `fd` (see the module doc); closing `fd` releases it.

    Raises LockBusy (with no holder: this function reads nothing) when the lock is not got, and
    ValueError for a `timeout` without `blocking`.
    """
    if timeout is not None and not blocking:
        raise ValueError("a timeout needs blocking=True")
    if fcntl is None:
        return
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if blocking and timeout is None:
        fcntl.flock(fd, mode)
        return
    deadline = time.monotonic() + (timeout or 0.0)
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockBusy(f"file descriptor {fd} is locked by another process") from None
            time.sleep(POLL_S)


class FileLock:
    """The lock on the file `path`, held from `acquire()` (or `with`) to `release()`.

    `with FileLock(...)` acquires and releases. `with` on a lock already acquired only releases
    it at the end, for callers that handle `LockBusy` apart from the body's errors:

        try:
            lock = FileLock(path, note="pid 123").acquire()
        except LockBusy as busy:
            raise SomethingClearer(busy.holder) from None
        with lock:
            ...

    One owner: not for sharing between threads. `acquire` again after `release` is fine.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        shared: bool = False,
        blocking: bool = False,
        timeout: float | None = None,
        note: str | None = None,
    ) -> None:
        if note is not None and shared:
            raise ValueError("only an exclusive holder leaves a note")
        if timeout is not None and not blocking:
            raise ValueError("a timeout needs blocking=True")
        self.path = Path(path)
        self.shared = shared
        self.blocking = blocking
        self.timeout = timeout
        self.note = note
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """True between a successful `acquire` and `release` (also where nothing is locked)."""
        return self._fd is not None

    def acquire(self) -> Self:
        """Open (create) the file, lock it, write the note; LockBusy when another process has it."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: this FileLock is already held")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            lock_fd(fd, shared=self.shared, blocking=self.blocking, timeout=self.timeout)
        except LockBusy:
            holder = _read_note(fd)
            os.close(fd)
            named = f" ({holder})" if holder else ""
            raise LockBusy(f"{self.path} is locked by another process{named}", holder) from None
        except BaseException:
            os.close(fd)
            raise
        if self.note is not None:
            try:
                _write_note(fd, self.note)
            except BaseException:
                os.close(fd)
                raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Close the file, which releases the lock (the note stays). Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def holder(self) -> str:
        """The note in the file ("" when none): who holds the lock, when it is busy."""
        if self._fd is not None:
            return _read_note(self._fd)
        try:
            with open(self.path, "rb") as f:
                return f.read(NOTE_MAX).decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        kind = "shared" if self.shared else "exclusive"
        return f"<FileLock {kind} {str(self.path)!r} {'held' if self.locked else 'free'}>"


def _read_note(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, NOTE_MAX).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _write_note(fd: int, note: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(note.encode("utf-8"))
    while view:
        view = view[os.write(fd, view) :]


__all__ = ["LOCKING", "FileLock", "LockBusy", "lock_fd"]
