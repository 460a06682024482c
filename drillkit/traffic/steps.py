"""Running one step (a rollback, a restore, a `change` fault): an argv list or an HTTP call, timed.

Commands run as argv lists, never through a shell. `drillkit` as the first word runs this very
drillkit (`python -m drillkit`), so a step acts with the same version and home as the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from drillkit.config.system import HttpCall

OUTPUT_TAIL = 2000  # characters of a command's output kept in the journal


@dataclass
class StepResult:
    name: str
    ok: bool
    duration_s: float
    detail: str
    exit_code: int | None = None
    status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_argv(argv: list[str]) -> list[str]:
    if argv and argv[0] == "drillkit":
        return [sys.executable, "-m", "drillkit", *argv[1:]]
    return list(argv)


async def run_step(
    name: str,
    *,
    run: list[str] | None = None,
    http: HttpCall | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> StepResult:
    """Run one step; never raises for the step's own failure (the result says so).

    A `run` step executes in `cwd` (the folder of the file that names it: a scenario's steps run
    beside the scenario, so `[bash, rollback.sh]` works from any working directory).
    """
    t0 = time.monotonic()
    if run is not None:
        ok, detail, code = await _run_command(run, timeout, env, cwd)
        return StepResult(name, ok, round(time.monotonic() - t0, 3), detail, exit_code=code)
    assert http is not None
    ok, detail, status = await _call(http, timeout)
    return StepResult(name, ok, round(time.monotonic() - t0, 3), detail, status=status)


async def _run_command(
    argv: list[str], timeout: float, env: dict[str, str] | None, cwd: Path | None = None
) -> tuple[bool, str, int | None]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *resolve_argv(argv),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # a Ctrl-C meant for the engine does not kill a rollback midway
        )
    except OSError as exc:
        return False, f"cannot run {argv[0]!r}: {exc.strerror}", None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, f"timed out after {timeout:g}s", None
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    text = out.decode(errors="replace").strip()[-OUTPUT_TAIL:]
    return proc.returncode == 0, text or f"exit {proc.returncode}", proc.returncode


async def _call(call: HttpCall, timeout: float) -> tuple[bool, str, int | None]:
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.request(
                call.method, str(call.url), json=call.json_body, headers=call.headers or None
            )
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}", None
    expected = call.expect_status
    if expected is None:
        ok = response.is_success
    else:
        ok = response.status_code in (expected if isinstance(expected, list) else [expected])
    return ok, f"HTTP {response.status_code}: {response.text[:OUTPUT_TAIL]}", response.status_code
