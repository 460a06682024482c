"""The demo runner as a process: the files that say it runs, its locks, starting and stopping it.

Under `<workdir>/run/`:

- `demo.json` (`RunInfo`): written atomically by the runner once every server has started,
  removed on exit. A `demo.json` whose pid is alive means "running".
- `demo.lock`: held (flock) by the runner for its whole life, with its pid inside. It tells a live
  runner from a reused pid, and keeps two runners off one workdir.
- `start.lock`: held by whoever starts a runner (`drillkit.demo.control.start`), so two starts on
  one workdir start one demo (the second waits, then finds it running).
- `demo.log`: the background runner's stdout and stderr (`spawn_runner`; the previous one is
  kept as `demo.log.1`).

A runner killed with SIGKILL leaves a stale `demo.json`, which `runner_pid` and
`drillkit.demo.control` recognise by the dead pid (or the free lock) and remove.
"""

from __future__ import annotations

import contextlib
import os
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

import drillkit
from drillkit.demo.files import write_text_atomic
from drillkit.errors import DrillkitError, LockBusy
from drillkit.net.filelock import LOCKING, FileLock  # without flock (not POSIX): pid checks alone


class RunInfo(BaseModel):
    """`<workdir>/run/demo.json`: who serves the demo, since when, where."""

    pid: int
    started_at: datetime
    urls: dict[str, str]
    workdir: str
    version: str
    latency_scale: float | None = None
    manifest: str | None = None

    def uptime_s(self) -> float:
        return max(0.0, (datetime.now(UTC) - self.started_at).total_seconds())


def run_dir(workdir: Path) -> Path:
    return Path(workdir) / "run"


def info_path(workdir: Path) -> Path:
    return run_dir(workdir) / "demo.json"


def log_path(workdir: Path) -> Path:
    return run_dir(workdir) / "demo.log"


def lock_path(workdir: Path) -> Path:
    return run_dir(workdir) / "demo.lock"


def write_run_info(workdir: Path, info: RunInfo) -> None:
    write_text_atomic(info_path(workdir), info.model_dump_json(indent=2) + "\n")


def read_run_info(workdir: Path) -> RunInfo | None:
    """The runner's `demo.json`, or None when there is none (or it is unreadable)."""
    try:
        return RunInfo.model_validate_json(info_path(workdir).read_bytes())
    except (OSError, ValidationError):
        return None


def remove_run_info(workdir: Path, pid: int | None = None) -> None:
    """Remove `demo.json` (only if it names `pid`, when given)."""
    if pid is not None:
        info = read_run_info(workdir)
        if info is not None and info.pid != pid:
            return
    info_path(workdir).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # Field 3, after the parenthesised command name (which may itself hold spaces or parens).
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def lock_holder(workdir: Path) -> int | None:
    """The pid of the runner holding this workdir's lock, or None when no runner holds it."""
    path = lock_path(workdir)
    if not LOCKING or not path.exists():
        return None
    try:
        with FileLock(path, shared=True):
            return None
    except LockBusy as busy:
        return int(busy.holder) if busy.holder.isdigit() else -1


def runner_pid(workdir: Path) -> int | None:
    """The pid of the live runner serving `workdir` (starting or started), or None."""
    info = read_run_info(workdir)
    if LOCKING and lock_path(workdir).exists():
        holder = lock_holder(workdir)
        if holder is None:
            return None  # nobody holds the lock: a pid in demo.json is stale (maybe reused)
        if holder > 0:
            return holder
    return info.pid if info is not None and pid_alive(info.pid) else None


def live_info(workdir: Path) -> RunInfo | None:
    """`demo.json` if its runner is alive; a stale one is removed."""
    info = read_run_info(workdir)
    if info is None:
        return None
    if runner_pid(workdir) != info.pid:
        remove_run_info(workdir, info.pid)
        return None
    return info


@contextlib.contextmanager
def hold_lock(workdir: Path, wait_s: float = 1.0) -> Iterator[FileLock]:
    """Hold the workdir's runner lock for the duration (DrillkitError if another runner has it)."""
    busy = f"another demo is already running for {workdir}; see `drillkit demo status`"
    # A prober (`lock_holder`) holds it for microseconds, another runner for good: wait a little.
    with _exclusive(lock_path(workdir), wait_s, busy, note=f"{os.getpid()}\n") as lock:
        yield lock


@contextlib.contextmanager
def start_lock(workdir: Path, wait_s: float) -> Iterator[None]:
    """Serialise `drillkit demo up` calls on one workdir (the second waits, then finds it running)."""
    busy = f"another `drillkit demo up` has been starting the demo for {workdir} for {wait_s:g}s"
    with _exclusive(run_dir(workdir) / "start.lock", wait_s, busy):
        yield


@contextlib.contextmanager
def _exclusive(path: Path, wait_s: float, busy: str, note: str | None = None) -> Iterator[FileLock]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(path, blocking=True, timeout=wait_s, note=note).acquire()
    except LockBusy:
        raise DrillkitError(busy) from None
    with lock:
        yield lock


def spawn_runner(
    workdir: Path, *, base_port: int, latency_scale: float | None, allowed_hosts: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """Start `drillkit demo up --foreground` for `workdir`, detached from this process.

    The child gets its own session (a Ctrl-C here does not reach it), stdin from /dev/null and
    stdout/stderr in `run/demo.log` (the previous log is kept as `demo.log.1`). The caller waits
    for `demo.json`, and kills the child if it never comes up.
    """
    workdir = Path(workdir).absolute()
    log = log_path(workdir)
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
    # -P: the runner's cwd (the workdir, user files) must never shadow a module on sys.path.
    argv = [sys.executable, "-P", "-m", "drillkit", "demo", "up", "--foreground", "--workdir", str(workdir)]
    argv += ["--port", str(base_port)]
    if latency_scale is not None:
        argv += ["--latency-scale", repr(latency_scale)]
    for host in allowed_hosts:
        argv += ["--allow-host", host]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The runner must import this very drillkit. Installed, it does; from a clone (not installed,
    # or a cwd-relative PYTHONPATH), only if told where the clone is.
    package_root = Path(drillkit.__file__).resolve().parent.parent
    if not _is_site_dir(package_root):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), os.environ.get("PYTHONPATH")) if p)
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )


def _is_site_dir(path: Path) -> bool:
    """True when `path` is one of this interpreter's site-packages folders (an installed package)."""
    paths = sysconfig.get_paths()
    sites = [*site.getsitepackages(), site.getusersitepackages(), paths["purelib"], paths["platlib"]]
    return any(Path(s).resolve() == path for s in sites if s)


def stop_process(pid: int, timeout: float = 5.0) -> bool:
    """SIGTERM `pid`, wait up to `timeout` s, then SIGKILL; True if it had to be killed.

    Raises DrillkitError if the process outlives SIGKILL by 2 s.
    """
    _signal(pid, signal.SIGTERM)
    if wait_gone(pid, timeout):
        return False
    _signal(pid, signal.SIGKILL)
    if not wait_gone(pid, 2.0):
        raise DrillkitError(f"process {pid} did not exit even after SIGKILL")
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until `pid` has exited; False if it still runs after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_ports_closed(urls: dict[str, str], timeout: float) -> list[str]:
    """Wait until nothing accepts connections on the URLs' ports; the URLs still listening."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [url for url in urls.values() if _listening(url)]
        if not busy or time.monotonic() > deadline:
            return busy
        time.sleep(0.05)


def _listening(url: str) -> bool:
    host, _, port = url.split("://", 1)[-1].split("/", 1)[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.2).close()
    except OSError:
        return False
    return True


def log_excerpt(path: Path, lines: int = 25) -> str:
    """From the log's first error on (the cause, not the teardown noise after it), else its end."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    first = next((i for i, line in enumerate(text) if line.startswith(("ERROR", "Traceback", "error:"))), None)
    return "\n".join(text[first : first + lines] if first is not None else text[-lines:])
