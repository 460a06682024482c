"""The demo process: four loopback servers in one event loop, and the files that say it runs.

`run_demo` is what `drillkit demo up --foreground` runs (and what `drillkit demo up` starts in the
background). Under `<workdir>/run/`:

- `demo.json` (`RunInfo`): written atomically once every server has started, removed on exit.
  A `demo.json` whose pid is alive means "running".
- `demo.lock`: held (flock) by the runner for its whole life, with its pid inside. It tells a live
  runner from a reused pid, and keeps two runners off one workdir.
- `start.lock`: held by `drillkit demo up` while it starts a runner, so two `up`s on one workdir
  start one demo (the second waits, then finds it running).
- `demo.log`: the background runner's stdout and stderr (`spawn_runner`; the previous one is
  kept as `demo.log.1`).

SIGTERM and SIGINT stop the runner gracefully (servers drain for up to 2 s, then `demo.json` is
removed). Cleanup of `demo.json` is the runner's; a runner killed with SIGKILL leaves a stale one,
which `drillkit demo up/status/down` recognise by the dead pid and remove.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError

import drillkit
from drillkit import __version__
from drillkit.demo.serving import HostedApp, bind_socket, serve_all, wait_started
from drillkit.demo.workdir import write_manifest, write_text_atomic
from drillkit.errors import DrillkitError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: fall back to pid checks alone
    fcntl = None  # type: ignore[assignment]

#: Server names in port order: `service` on the base port, `primary` on base + 1, and so on.
SERVERS = ("service", "primary", "fallback", "tool")
DEFAULT_BASE_PORT = 8710
HOST = "127.0.0.1"


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
    if fcntl is None or not path.exists():
        return None
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def runner_pid(workdir: Path) -> int | None:
    """The pid of the live runner serving `workdir` (starting or started), or None."""
    info = read_run_info(workdir)
    if fcntl is not None and lock_path(workdir).exists():
        holder = lock_holder(workdir)
        if holder is None:
            return None  # nobody holds the lock: a pid in demo.json is stale (maybe reused)
        if holder > 0:
            return holder
    return info.pid if info is not None and pid_alive(info.pid) else None


@contextlib.contextmanager
def hold_lock(workdir: Path, wait_s: float = 1.0) -> Iterator[IO[str]]:
    """Hold the workdir's runner lock for the duration (DrillkitError if another runner has it)."""
    busy = f"another demo is already running for {workdir}; see `drillkit demo status`"
    # A prober (`lock_holder`) holds it for microseconds, another runner for good: wait a little.
    with _exclusive(lock_path(workdir), wait_s, busy) as f:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield f


@contextlib.contextmanager
def start_lock(workdir: Path, wait_s: float) -> Iterator[None]:
    """Serialise `drillkit demo up` calls on one workdir (the second waits, then finds it running)."""
    busy = f"another `drillkit demo up` has been starting the demo for {workdir} for {wait_s:g}s"
    with _exclusive(run_dir(workdir) / "start.lock", wait_s, busy):
        yield


@contextlib.contextmanager
def _exclusive(path: Path, wait_s: float, busy: str) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + wait_s
        while fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DrillkitError(busy) from None
                time.sleep(0.02)
        yield f


def spawn_runner(workdir: Path, *, base_port: int, latency_scale: float | None) -> subprocess.Popen[bytes]:
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
    argv = [sys.executable, "-m", "drillkit", "demo", "up", "--foreground", "--workdir", str(workdir)]
    argv += ["--port", str(base_port)]
    if latency_scale is not None:
        argv += ["--latency-scale", repr(latency_scale)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The runner must import this very drillkit, installed or not, whatever its cwd.
    package_root = str(Path(drillkit.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
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


def bind_sockets(base_port: int) -> dict[str, socket.socket]:
    """One listening socket per server: `base_port + i`, a busy one → ephemeral; base 0 → all ephemeral."""
    socks: dict[str, socket.socket] = {}
    try:
        for i, name in enumerate(SERVERS):
            port = base_port + i if base_port else 0
            socks[name] = bind_socket(HOST, port, fallback_to_ephemeral=True)
    except BaseException:
        for s in socks.values():
            s.close()
        raise
    return socks


def _create_apps(workdir: Path, latency_scale: float | None) -> tuple[dict[str, Callable], float]:
    """The four apps, and the sim latency scale they use (None: DRILLKIT_SIM_LATENCY_SCALE, else 1)."""
    # Imported here so `drillkit demo down/status` work even if an app module fails to import.
    from drillkit.demo.service import create_service_app
    from drillkit.demo.sim.app import create_sim_app, latency_scale_from_env
    from drillkit.demo.tool_api import create_tool_app

    scale = latency_scale_from_env() if latency_scale is None else latency_scale
    apps = {
        "service": create_service_app(workdir),
        "primary": create_sim_app("primary", latency_scale=scale),
        "fallback": create_sim_app("fallback", latency_scale=scale),
        "tool": create_tool_app(workdir / "orders.json"),
    }
    return apps, scale


async def run_demo(
    workdir: Path,
    *,
    base_port: int = DEFAULT_BASE_PORT,
    latency_scale: float | None = None,
    on_started: Callable[[RunInfo], None] | None = None,
) -> None:
    """Serve the demo from a prepared `workdir` until SIGTERM or SIGINT.

    Binds the sockets, writes the manifest with their URLs, creates the apps (the service reads the
    manifest), serves them, and writes `demo.json` once every server has started. `latency_scale`
    None means the sim's own rule (DRILLKIT_SIM_LATENCY_SCALE, else 1); the value used is recorded
    in `demo.json`. Always removes `demo.json` and closes the sockets on the way out.
    """
    workdir = Path(workdir).absolute()
    with hold_lock(workdir):
        remove_run_info(workdir)  # whatever is there is stale: we hold the lock
        socks = bind_sockets(base_port)
        try:
            urls = {name: f"http://{HOST}:{sock.getsockname()[1]}" for name, sock in socks.items()}
            manifest = write_manifest(workdir, urls)
            apps, scale = _create_apps(workdir, latency_scale)
            hosted = [HostedApp(name, apps[name], socks[name]) for name in SERVERS]
            await _serve(workdir, hosted, urls, manifest, scale, on_started)
        finally:
            remove_run_info(workdir, os.getpid())
            for sock in socks.values():
                sock.close()


async def _serve(
    workdir: Path,
    hosted: list[HostedApp],
    urls: dict[str, str],
    manifest: Path,
    latency_scale: float,
    on_started: Callable[[RunInfo], None] | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(serve_all(hosted, stop))
    try:
        started = asyncio.create_task(wait_started(hosted))
        await asyncio.wait([started, serving], return_when=asyncio.FIRST_COMPLETED)
        if started.done() and started.exception() is None and not serving.done():
            info = RunInfo(
                pid=os.getpid(),
                started_at=datetime.now(UTC),
                urls=urls,
                workdir=str(workdir),
                version=__version__,
                latency_scale=latency_scale,
                manifest=str(manifest),
            )
            write_text_atomic(info_path(workdir), info.model_dump_json(indent=2) + "\n")
            if on_started is not None:
                on_started(info)
            await serving
            return
        # Not every server started: a signal came first, or a server failed (uvicorn logs why).
        signalled = stop.is_set()
        started.cancel()
        stop.set()
        await serving  # raises what broke it, if it raised
        if not signalled:
            failure = started.exception() if started.done() and not started.cancelled() else None
            raise DrillkitError(f"the demo's servers did not all start{f': {failure}' if failure else ''}")
    finally:
        stop.set()
        if not serving.done():
            await asyncio.gather(serving, return_exceptions=True)
        for sig in signals:
            loop.remove_signal_handler(sig)
