"""`FileLock` and `lock_fd` on real files, against a second process that holds the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from drillkit.errors import InputError, LockBusy
from drillkit.net import filelock
from drillkit.net.filelock import LOCKING, FileLock, lock_fd

pytestmark = pytest.mark.skipif(not LOCKING, reason="no flock here: nothing is locked (see the module doc)")

# Takes the lock, says so, and keeps it until its stdin closes (or it is killed).
HOLDER = """
import sys
from drillkit.net.filelock import FileLock
shared = sys.argv[2] == "shared"
lock = FileLock(sys.argv[1], shared=shared, note=None if shared else sys.argv[2]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def held_elsewhere(path: Path, how: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `path`: `how` is "shared" or the exclusive holder's note."""
    argv = [sys.executable, "-c", HOLDER, str(path), how]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "held\n"
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def release_later(lock: FileLock, after_s: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(after_s), lock.release()))
    thread.start()
    return thread


def test_a_lock_held_by_another_process_is_busy_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "gameday.lock"
    with held_elsewhere(path, "pid 4242 (game-day swap)"):
        with pytest.raises(LockBusy) as busy:
            FileLock(path, note=f"pid {os.getpid()}").acquire()
        assert busy.value.holder == "pid 4242 (game-day swap)"
        assert str(busy.value) == f"{path} is locked by another process (pid 4242 (game-day swap))"
        assert FileLock(path).holder() == "pid 4242 (game-day swap)"
        with pytest.raises(LockBusy):
            FileLock(path, shared=True).acquire()  # a shared lock waits for an exclusive one too
    with FileLock(path, note="me") as lock:  # the holder exited: free again
        assert lock.locked and lock.holder() == "me"


def test_busy_is_an_input_error_with_exit_code_2() -> None:
    assert issubclass(LockBusy, InputError) and LockBusy("busy").exit_code == 2
    assert LockBusy("busy", "pid 1").holder == "pid 1" and LockBusy("busy").holder == ""


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "demo.lock"
    with held_elsewhere(path, "4242") as proc:
        proc.kill()
        proc.wait(timeout=10)
        with FileLock(path) as lock:
            assert lock.locked
            assert lock.holder() == "4242"  # a note outlives its holder: read it only when busy


def test_release_and_close_free_the_lock_in_this_process_too(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = FileLock(path).acquire()
    with pytest.raises(LockBusy):
        FileLock(path).acquire()  # flock belongs to the open file: this process is no exception
    first.release()
    first.release()  # idempotent
    assert not first.locked
    with FileLock(path), pytest.raises(LockBusy):
        first.acquire()
    assert first.acquire().locked  # acquire again after release
    first.release()


def test_with_on_an_acquired_lock_releases_it_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = FileLock(path, note="pid 1").acquire()
    with lock as same:
        assert same is lock and lock.locked
        with pytest.raises(LockBusy):
            FileLock(path).acquire()
    assert not lock.locked
    with FileLock(path):
        pass


def test_shared_locks_coexist_and_keep_out_an_exclusive_one(tmp_path: Path) -> None:
    path = tmp_path / "demo.lock"
    path.write_text("1234\n")
    with held_elsewhere(path, "shared"):
        with FileLock(path, shared=True) as mine:
            assert mine.locked
        with pytest.raises(LockBusy) as busy:
            FileLock(path, note="x").acquire()
        assert busy.value.holder == "1234\n".strip()  # shared holders write nothing
    assert path.read_text() == "1234\n"


def test_an_exclusive_note_replaces_a_longer_old_one(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    path.write_text("pid 1234567 and a long story\n")
    with FileLock(path, note="pid 9"):
        assert path.read_text() == "pid 9"
    with FileLock(path):  # no note: the old one is left as it was
        assert path.read_text() == "pid 9"


def test_a_new_lock_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new.lock"
    with FileLock(path):
        assert path.stat().st_mode & 0o777 == 0o600 & ~_umask()


def test_blocking_waits_for_the_release(tmp_path: Path) -> None:
    path = tmp_path / "ledger.lock"
    held = FileLock(path).acquire()
    thread = release_later(held, 0.15)
    started = time.monotonic()
    with FileLock(path, blocking=True, note="second"):
        waited = time.monotonic() - started
    thread.join()
    assert 0.1 <= waited < 5, waited


def test_blocking_with_a_timeout_gets_the_lock_released_in_time(tmp_path: Path) -> None:
    path = tmp_path / "start.lock"
    held = FileLock(path).acquire()
    thread = release_later(held, 0.1)
    started = time.monotonic()
    with FileLock(path, blocking=True, timeout=5):
        waited = time.monotonic() - started
    thread.join()
    assert 0.05 <= waited < 4, waited


def test_blocking_with_a_timeout_gives_up_after_it(tmp_path: Path) -> None:
    path = tmp_path / "start.lock"
    with held_elsewhere(path, "pid 7"):
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            FileLock(path, blocking=True, timeout=0.2).acquire()
        waited = time.monotonic() - started
    assert busy.value.holder == "pid 7"
    assert 0.2 <= waited < 2, waited


def test_lock_fd_locks_a_file_the_caller_already_holds_open(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        lock_fd(fd)
        with pytest.raises(LockBusy):
            FileLock(path).acquire()
        other = os.open(path, os.O_RDWR)
        try:
            with pytest.raises(LockBusy, match="locked by another process"):
                lock_fd(other)
        finally:
            os.close(other)
    finally:
        os.close(fd)  # releases it
    with FileLock(path):
        pass


def test_arguments_that_mean_nothing_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exclusive"):
        FileLock(tmp_path / "x", shared=True, note="pid 1")
    with pytest.raises(ValueError, match="blocking"):
        FileLock(tmp_path / "x", timeout=1)
    fd = os.open(tmp_path / "y", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(ValueError, match="blocking"):
            lock_fd(fd, timeout=1)
    finally:
        os.close(fd)
    lock = FileLock(tmp_path / "x").acquire()
    with pytest.raises(RuntimeError, match="already held"):
        lock.acquire()
    lock.release()


def test_without_fcntl_nothing_is_locked_but_notes_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.lock"
    with FileLock(path, note="pid 1"):
        monkeypatch.setattr(filelock, "fcntl", None)
        with FileLock(path, note="pid 2") as second:  # "where available": no exclusion, no error
            assert second.locked
        assert path.read_text() == "pid 2"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
