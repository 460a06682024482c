"""Start, stop, inspect and steer the demo from Python: what `drillkit demo …` and the engine use.

Every function takes the demo's workdir, returns data and raises `DrillkitError`s; none prints.

- `start` prepares the workdir and starts the runner (`drillkit demo up --foreground`) as a
  detached background process, then waits until every server answers. It returns a `Started`
  holding the runner's `Popen`: a long-lived caller passes it back to `stop(process=...)`, which
  reaps it; a caller that exits right away (the CLI) calls `detach` instead.
- `run_foreground` serves the demo in this process until SIGTERM/SIGINT.
- `stop` stops the runner (SIGTERM, SIGKILL after `timeout`) and checks its ports are free.
- `status` is liveness, per-server health and lever state; `lever` calls the admin API.

Errors that a command can fix carry `hint` and `commands` (class attributes): what to do, and
the `drillkit` subcommands that do it, so a caller can print them with its own options.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from drillkit.demo.process import (
    RunInfo,
    live_info,
    log_excerpt,
    log_path,
    read_run_info,
    remove_run_info,
    runner_pid,
    spawn_runner,
    start_lock,
    stop_process,
    wait_ports_closed,
)
from drillkit.demo.runner import Health, default_base_port, endpoints, failures, probe_all, run_demo
from drillkit.demo.workdir import check_workdir, prepare_workdir
from drillkit.errors import DrillkitError, InputError, ServiceError

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
ADMIN_TIMEOUT_S = 10.0


class NotRunning(ServiceError):
    """The demo is not running for this workdir."""

    hint = "start it with"
    commands = ("demo up",)


class StillStarting(ServiceError):
    """A runner holds the workdir but has not reported its servers yet."""

    hint = "see"
    commands = ("demo status",)


class Unhealthy(ServiceError):
    """A runner serves the workdir but some server does not answer."""

    hint = "restart it"
    commands = ("demo down", "demo up")


class RunningNow(InputError):
    """The asked change (a reset) needs the demo stopped first."""

    hint = "stop it first"
    commands = ("demo down",)


class StartFailed(ServiceError):
    """The background runner did not come up; `log_excerpt` is the start of its log's trouble."""

    def __init__(self, message: str, log: Path | None = None, log_excerpt: str = "") -> None:
        super().__init__(message)
        self.log = log
        self.log_excerpt = log_excerpt


@dataclass
class Started:
    """A running demo. `process` is the runner this call started (None when it already ran)."""

    info: RunInfo
    already_running: bool
    elapsed_s: float | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = {"status": "already_running" if self.already_running else "started", **self.info.model_dump(mode="json")}
        data |= {"endpoints": endpoints(self.info.urls), "log": str(log_path(Path(self.info.workdir)))}
        if self.elapsed_s is not None:
            data["startup_s"] = round(self.elapsed_s, 3)
        return data


@dataclass
class Stopped:
    running: bool  # whether a runner was there to stop
    pid: int | None = None
    killed: bool = False  # it ignored SIGTERM and was killed
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        if not self.running:
            return {"stopped": False, "running": False}
        return {"stopped": True, "pid": self.pid, "killed": self.killed, "stop_s": round(self.elapsed_s, 3)}


@dataclass
class Status:
    info: RunInfo | None
    health: dict[str, Health] = field(default_factory=dict)
    state: Any = None  # the lever state, or {"error": why it could not be read}

    @property
    def running(self) -> bool:
        return self.info is not None

    @property
    def healthy(self) -> bool:
        return self.running and all(h.ok for h in self.health.values())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"running": self.running, "healthy": self.healthy}
        if self.info is not None:
            data |= {**self.info.model_dump(mode="json"), "uptime_s": round(self.info.uptime_s(), 1)}
            data |= {"health": {name: asdict(h) for name, h in self.health.items()}, "state": self.state}
        return data


# -- start ---------------------------------------------------------------------------------------


def start(
    workdir: Path,
    *,
    base_port: int | None = None,
    latency_scale: float | None = None,
    reset: bool = False,
    timeout: float = START_TIMEOUT_S,
    allowed_hosts: tuple[str, ...] = (),
) -> Started:
    """Start the demo for `workdir` in the background unless it already runs (see module doc).

    `allowed_hosts`: Host names its apps answer besides loopback ones (`--allow-host`).
    `base_port` None: `DRILLKIT_DEMO_PORT`, else 8710 (`drillkit.demo.runner.default_base_port`).

    Raises InputError for a workdir that cannot be prepared, `RunningNow` for a reset while it
    runs, `Unhealthy`/`StillStarting` for a runner that cannot be used, `StartFailed` when the
    new runner does not come up within `timeout` s (it is then killed).
    """
    workdir = Path(workdir).absolute()
    check_workdir(workdir)
    with start_lock(workdir, timeout + 5):
        info = running(workdir, reset=reset)
        if info is not None:
            return Started(info, already_running=True)
        prepare_workdir(workdir, reset=reset)
        started = time.monotonic()
        base_port = default_base_port() if base_port is None else base_port
        proc = spawn_runner(workdir, base_port=base_port, latency_scale=latency_scale, allowed_hosts=allowed_hosts)
        try:
            info = _wait_healthy(workdir, proc, timeout)
        except BaseException as exc:
            with contextlib.suppress(DrillkitError):
                stop_process(proc.pid, 3.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
            remove_run_info(workdir, proc.pid)
            if isinstance(exc, ServiceError):
                log = log_path(workdir)
                raise StartFailed(str(exc), log, log_excerpt(log)) from None
            raise
    return Started(info, already_running=False, elapsed_s=time.monotonic() - started, process=proc)


def detach(started: Started) -> None:
    """Give up the runner's handle without waiting for it: for a caller about to exit (the CLI).

    The runner lives on in its own session; once this process exits, init adopts and reaps it.
    """
    if started.process is not None:
        started.process.returncode = 0  # Popen would otherwise warn that it "is still running"
        started.process = None


def run_foreground(
    workdir: Path,
    *,
    base_port: int | None = None,
    latency_scale: float | None = None,
    reset: bool = False,
    on_started: Callable[[RunInfo], None] | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> RunInfo | None:
    """Serve the demo in this process until SIGTERM/SIGINT; None once it stopped.

    Returns the running demo's info at once, serving nothing, when it already runs. This is also
    what the background runner runs, so it never waits for the start lock its starter holds.
    """
    workdir = Path(workdir).absolute()
    check_workdir(workdir)
    info = running(workdir, reset=reset)
    if info is not None:
        return info
    prepare_workdir(workdir, reset=reset)
    asyncio.run(
        run_demo(
            workdir,
            base_port=default_base_port() if base_port is None else base_port,
            latency_scale=latency_scale,
            on_started=on_started,
            allowed_hosts=allowed_hosts,
        )
    )
    return None


def running(workdir: Path, *, reset: bool = False) -> RunInfo | None:
    """The healthy demo serving `workdir`, or None; raises when one runs but cannot be used.

    `reset` asks whether a reset could proceed: a running demo is then `RunningNow`.
    """
    info = live_info(workdir)
    if info is None:
        pid = runner_pid(workdir)
        if pid is not None:
            raise StillStarting(f"a demo process (pid {pid}) is starting for {workdir}")
        return None
    if reset:
        raise RunningNow(f"the demo is running (pid {info.pid}) for {workdir}")
    health = probe_all(info.urls)
    if not all(h.ok for h in health.values()):
        raise Unhealthy(f"a demo process (pid {info.pid}) runs for {workdir} but does not answer: {failures(health)}")
    return info


def _wait_healthy(workdir: Path, proc: subprocess.Popen[bytes], timeout: float) -> RunInfo:
    deadline = time.monotonic() + timeout
    health: dict[str, Health] = {}
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceError(f"the demo process exited (code {proc.returncode}) before it was up")
            info = read_run_info(workdir)
            if info is not None and info.pid == proc.pid:
                health = probe_all(info.urls, client)
                if all(h.ok for h in health.values()):
                    return info
            time.sleep(0.05)
    detail = f": {failures(health)}" if health else ""
    raise ServiceError(f"the demo was not up within {timeout:g}s{detail}")


# -- stop and status -------------------------------------------------------------------------------


def stop(workdir: Path, *, timeout: float = STOP_TIMEOUT_S, process: subprocess.Popen[bytes] | None = None) -> Stopped:
    """Stop the demo serving `workdir` (not running is no error) and check its ports are free.

    `process`: the handle `start` returned, reaped here. Raises ServiceError when a port still
    listens after the runner exited.
    """
    workdir = Path(workdir).absolute()
    pid = runner_pid(workdir)
    info = read_run_info(workdir)
    if pid is None:
        remove_run_info(workdir)  # stale, if any
        _reap(process)
        return Stopped(running=False)
    started = time.monotonic()
    killed = stop_process(pid, timeout)
    _reap(process)
    remove_run_info(workdir, pid)
    urls = info.urls if info is not None and info.pid == pid else {}
    busy = wait_ports_closed(urls, 2.0)
    if busy:
        raise ServiceError(f"the demo stopped but something still listens on {', '.join(busy)}")
    return Stopped(running=True, pid=pid, killed=killed, elapsed_s=time.monotonic() - started)


def _reap(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(2)


def status(workdir: Path) -> Status:
    """Whether the demo runs for `workdir`, each server's health and the lever state."""
    info = live_info(workdir)
    if info is None:
        return Status(None)
    health = probe_all(info.urls)
    state: Any
    try:
        state = admin(info, "GET", "/admin/state")
    except DrillkitError as exc:
        state = {"error": str(exc)}
    return Status(info, health, state)


# -- levers ----------------------------------------------------------------------------------------


def lever(workdir: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the running demo's admin API (`NotRunning` when it does not run); see `admin`."""
    info = live_info(workdir)
    if info is None:
        raise NotRunning(f"the demo is not running for {workdir}")
    return admin(info, method, path, body)


def admin(info: RunInfo, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the service's admin API; 4xx → InputError (exit 2), no answer or 5xx → ServiceError."""
    url = info.urls["service"] + path
    try:
        with httpx.Client(timeout=ADMIN_TIMEOUT_S, trust_env=False) as client:
            r = client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        raise ServiceError(f"the demo service did not answer {method} {url}: {exc or type(exc).__name__}") from None
    try:
        data = r.json()
    except ValueError:
        data = None
    if r.is_success:
        return data
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # the service's own shape (an unknown path, say)
        error = error.get("message")
    message = error if isinstance(error, str) else r.text.strip() or f"HTTP {r.status_code}"
    if 400 <= r.status_code < 500:
        raise InputError(message)
    raise ServiceError(f"the demo service answered {r.status_code} to {method} {path}: {message}")


def route(workdir: Path, provider: str) -> Any:
    return lever(workdir, "POST", "/admin/route", {"provider": provider})


def pin(workdir: Path, model: str | None) -> Any:
    """Pin the primary provider's model; None unpins (back to the manifest's model)."""
    return lever(workdir, "POST", "/admin/pin", {"model": model})


def activate_prompt(workdir: Path, version: str) -> Any:
    return lever(workdir, "POST", "/admin/prompt", {"version": version})


def corpus_versions(workdir: Path) -> Any:
    return lever(workdir, "GET", "/admin/corpus")


def activate_corpus(workdir: Path, version: str) -> Any:
    return lever(workdir, "POST", "/admin/corpus", {"version": version})


def switch(workdir: Path, name: str, on: bool) -> Any:
    """Turn a switch lever on or off: `degrade` or `kill-switch`."""
    return lever(workdir, "POST", f"/admin/{name}", {"on": on})


def reset(workdir: Path) -> Any:
    return lever(workdir, "POST", "/admin/reset", {})


__all__ = [
    "NotRunning",
    "RunningNow",
    "StartFailed",
    "Started",
    "Status",
    "StillStarting",
    "Stopped",
    "Unhealthy",
    "activate_corpus",
    "activate_prompt",
    "admin",
    "corpus_versions",
    "detach",
    "lever",
    "pin",
    "reset",
    "route",
    "run_foreground",
    "running",
    "start",
    "status",
    "stop",
    "switch",
]
