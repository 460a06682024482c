"""The Locust processes of one run, and the file that tells them what to do.

`drillkit.traffic.locust_engine` decides what runs; this module runs it and makes sure it ends:

- `locust_bin()`: `DRILLKIT_LOCUST_BIN`, else `locust` on PATH, else the one beside this Python;
  none is `LocustMissing` (an input error: exit 2).
- `RunFiles`: a 0700 temporary folder holding the run's config (0600 JSON, headers included); it
  is the processes' working folder too, so no `locust.conf` or `pyproject.toml` of the caller's
  folder applies. `forget()` deletes it (idempotent).
- `Processes`: each `locust` runs in a session of its own (a terminal's Ctrl-C reaches drillkit,
  which stops them), without `LOCUST_*` variables, its output drained and its tail kept for
  errors. `until(future)` waits for a future unless a process exits first; `shutdown()` waits
  for every exit, then SIGTERMs, then SIGKILLs the process groups still there, and reaps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit.errors import DrillkitError, InputError

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BIN_ENV = "DRILLKIT_LOCUST_BIN"
BIND_ENV = "DRILLKIT_LOCUST_MASTER_BIND"
REMOTE_ENV = "DRILLKIT_LOCUST_REMOTE_WORKERS"
_TAIL = 4000


class LocustMissing(InputError):
    """`traffic.engine: locust` and no Locust to run."""


class LocustFailed(DrillkitError):
    """The Locust master or a worker failed, or did not start."""


def locust_bin() -> str:
    """The `locust` to run (module doc)."""
    named = os.environ.get(BIN_ENV)
    candidates = [named] if named else [shutil.which("locust"), str(Path(sys.executable).with_name("locust"))]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    where = f"{BIN_ENV}={named} is not an executable" if named else "no `locust` on PATH or beside this Python"
    raise LocustMissing(f"traffic.engine locust: {where} (pip install locust, or set {BIN_ENV})")


def master_bind() -> tuple[str, int, int]:
    """(host, port) the master listens on for workers, and how many remote workers it waits for."""
    text = os.environ.get(BIND_ENV, "").strip() or "127.0.0.1:0"
    host, _, port = text.rpartition(":") if ":" in text else (text, ":", "0")
    remote = os.environ.get(REMOTE_ENV, "").strip() or "0"
    if not host or not port.isdigit() or not remote.isdigit():
        raise InputError(f"{BIND_ENV}={text!r}, {REMOTE_ENV}={remote!r}: expected HOST:PORT and a count of workers")
    return host, int(port), int(remote)


class RunFiles:
    """The run's private folder and its config file (module doc)."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="drillkit-locust-")  # mode 0700
        self.config = os.path.join(self.folder, "config.json")

    def write(self, config: dict[str, Any]) -> str:
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f)
        return self.config

    def forget(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class LocustProcess:
    role: str
    proc: asyncio.subprocess.Process
    tail: bytearray = field(default_factory=bytearray)
    reader: asyncio.Task[None] | None = None

    def describe(self) -> str:
        lines = self.tail.decode("utf-8", "replace").strip().splitlines()
        why = f"exited with code {self.proc.returncode}" if self.proc.returncode is not None else "still running"
        return f"Locust {self.role} (pid {self.proc.pid}) {why}" + (f": {lines[-1]}" if lines else "")


class Processes:
    """The run's `locust` processes (module doc)."""

    def __init__(self, binary: str, files: RunFiles) -> None:
        self.binary, self.files = binary, files
        self.all: list[LocustProcess] = []

    async def spawn(self, role: str, *args: str) -> LocustProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "DRILLKIT_LOCUST_"))}
        env |= {"DRILLKIT_LOCUST_CONFIG": self.files.config, "DRILLKIT_LOCUST_PARENT": str(os.getpid())}
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-f", str(LOCUSTFILE), *args, "--loglevel", "WARNING",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=self.files.folder, env=env, start_new_session=True,
        )  # fmt: skip
        process = LocustProcess(role, proc)
        process.reader = asyncio.create_task(_keep_tail(proc.stdout, process.tail))
        self.all.append(process)
        return process

    async def until(self, future: asyncio.Future[Any]) -> Any:
        """`future`'s result, unless a process exits first (then `LocustFailed`)."""
        exits = [asyncio.ensure_future(p.proc.wait()) for p in self.all]
        try:
            await asyncio.wait([future, *exits], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in exits:
                task.cancel()
        if future.done():
            return future.result()
        await asyncio.sleep(0.2)  # its last words
        dead = next(p for p in self.all if p.proc.returncode is not None)
        raise LocustFailed(f"Locust did not start: {dead.describe()}")

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.all)

    async def shutdown(self, grace: float) -> list[str]:
        """Every process gone (module doc); what each that failed said (a non-zero exit or a kill)."""
        try:
            await self._exits(grace)
            killed = [p.describe().replace("still running", "killed after its stop") for p in self.running()]
            self._signal(signal.SIGTERM)
            await self._exits(2.0)
        finally:
            self._signal(signal.SIGKILL)
        readers = [p.reader for p in self.all if p.reader is not None]
        if readers:
            await asyncio.wait(readers, timeout=1.0)
        for process in self.all:
            await process.proc.wait()
        return killed

    def running(self) -> list[LocustProcess]:
        return [p for p in self.all if p.proc.returncode is None]

    async def _exits(self, seconds: float) -> None:
        waits = [asyncio.ensure_future(p.proc.wait()) for p in self.running()]
        if waits:
            _, late = await asyncio.wait(waits, timeout=seconds)
            for task in late:
                task.cancel()

    def _signal(self, sig: int) -> None:
        for process in self.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.proc.pid, sig)  # its own session: the group is the process's


async def _keep_tail(stream: asyncio.StreamReader | None, tail: bytearray) -> None:
    """Read a process's output to its end (so it never blocks on a full pipe), keeping the last bytes."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        tail += chunk
        del tail[:-_TAIL]


__all__ = [
    "BIND_ENV",
    "BIN_ENV",
    "LOCUSTFILE",
    "REMOTE_ENV",
    "LocustFailed",
    "LocustMissing",
    "LocustProcess",
    "Processes",
    "RunFiles",
    "locust_bin",
    "master_bind",
]
