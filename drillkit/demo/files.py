"""Small file habits the demo keeps everywhere: atomic replacement, and files re-read on change.

- `write_atomic` replaces a file in one step (temp file in the same folder, then `os.replace`):
  a reader sees the old content or the new one, never half of it.  The temp name starts with a
  dot, so folder scans that skip dotfiles (the corpus) never see it.
- `WatchedFile` holds a file's parsed content and re-reads it when its `file_stamp` changes.
  The stamp is (inode, mtime_ns, size): an atomic replacement always gets a new inode, so even a
  same-size rewrite within one coarse mtime tick is noticed.  An in-place edit of the same size
  within one tick is not; the demo's own writers all replace atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
Stamp = tuple[int, int, int]


def write_atomic(path: Path, data: str | bytes, *, fsync: bool = True) -> None:
    """Replace `path` with `data` (str is written as UTF-8) in one step, keeping its mode.

    `fsync` flushes the data to disk before the rename, so a crash leaves the old file or the
    new one; pass False for files that are cheap to lose (snapshots that are rebuilt anyway).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, *, fsync: bool = True) -> None:
    """`write_atomic` for text."""
    write_atomic(path, text, fsync=fsync)


def file_stamp(path: Path) -> Stamp | None:
    """(inode, mtime_ns, size) of `path`, or None when it does not exist."""
    try:
        st = Path(path).stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class WatchedFile(Generic[T]):
    """The parsed content of one file, re-read (with `load`) when its stamp changes.

    `missing` gives the value for a file that does not exist; without it `get` raises
    FileNotFoundError.  An exception from `load` propagates and leaves the stamp unchanged, so
    the next `get` tries again.  Not thread-safe: one asyncio loop per instance.
    """

    def __init__(self, path: Path, load: Callable[[Path], T], missing: Callable[[], T] | None = None) -> None:
        self.path = Path(path)
        self._load = load
        self._missing = missing
        self._stamp: Stamp | None = None
        self._value: T | None = None
        self._loaded = False

    def get(self) -> T:
        """The content, re-read first if the file changed since the last read."""
        stamp = file_stamp(self.path)
        if self._loaded and stamp == self._stamp:
            return self._value  # type: ignore[return-value]
        if stamp is None:
            if self._missing is None:
                raise FileNotFoundError(2, "No such file or directory", str(self.path))
            value = self._missing()
        else:
            value = self._load(self.path)
        self._value, self._stamp, self._loaded = value, stamp, True
        return value

    def wrote(self, value: T) -> None:
        """Record that `value` was just written to the file (so it is not read back)."""
        self._value, self._stamp, self._loaded = value, file_stamp(self.path), True


__all__ = ["WatchedFile", "file_stamp", "write_atomic", "write_text_atomic"]
