"""Stop signals at any moment: a command with a run in progress exits 3 with one line, a server 0."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.gameday import leftovers

REPO = Path(__file__).resolve().parents[1]


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "DRILLKIT_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def drillkit(home: Path, *args: str) -> subprocess.Popen[str]:
    """`drillkit ARGS`, returned once its stop-signal policy is installed (`drillkit._entry`'s first
    instructions). Before that the interpreter itself is starting, and a SIGTERM there kills it
    the OS's way: no program can say anything then. On a loaded machine that window can outlast
    the delays below, so they count from the moment drillkit can hear a signal."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "drillkit", *args],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_handlers(proc)
    return proc


def wait_for_handlers(proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until `proc` catches SIGTERM (Linux: the SigCgt mask in /proc/PID/status)."""
    status = Path(f"/proc/{proc.pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
            if int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1:
                return
        time.sleep(0.002)


@contextlib.contextmanager
def killed_after(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """`proc` inside the block; killed after it if a failed assertion left it running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def stop_demo(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "drillkit", "demo", "down"], env=env_for(home), capture_output=True, timeout=60
    )


# The first second is spent importing; later the run starts the demo and its traffic.
@pytest.mark.parametrize(
    ("sig", "after_s"),
    [(signal.SIGINT, 0.1), (signal.SIGTERM, 0.2), (signal.SIGINT, 0.4), (signal.SIGTERM, 0.7), (signal.SIGHUP, 1.5)],
)
def test_a_game_day_stopped_at_any_moment_exits_3_with_one_line(
    tmp_path: Path, sig: signal.Signals, after_s: float
) -> None:
    proc = drillkit(tmp_path, "gameday", "run", "silent-model-swap", "--auto", "--no-live", "--latency-scale", "0")
    try:
        with killed_after(proc):
            time.sleep(after_s)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
    finally:
        stop_demo(tmp_path)
    assert proc.returncode == 3, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "aborted" in err.strip().splitlines()[-1], err  # "aborted", or the run's "verdict aborted: …"
    assert leftovers.read(tmp_path) == []


def test_a_second_signal_while_aborting_adds_no_traceback(tmp_path: Path) -> None:
    proc = drillkit(tmp_path, "gameday", "list")
    time.sleep(0.2)
    for _ in range(5):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 3), err
    assert "Traceback" not in err, err


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"never printed {needle!r}: {seen}")


def test_chaos_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with killed_after(
        drillkit(tmp_path, "chaos", "serve", "--toxiproxy", "127.0.0.1:0", "--llm-proxy", "127.0.0.1:0")
    ) as proc:
        _wait_line(proc, "LLM proxy admin")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def test_chaos_serve_stopped_while_starting_exits_cleanly(tmp_path: Path) -> None:
    proc = drillkit(tmp_path, "chaos", "serve", "--toxiproxy", "127.0.0.1:0", "--llm-proxy", "127.0.0.1:0")
    time.sleep(0.3)  # still importing
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    # Before the command itself runs, drillkit cannot know it is a server: an abort (3) is honest too.
    assert proc.returncode in (0, 3), err
    assert "Traceback" not in err, err


def test_demo_in_the_foreground_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with killed_after(drillkit(tmp_path, "demo", "up", "--foreground", "--port", "0", "--latency-scale", "0")) as proc:
        _wait_line(proc, "serving in the foreground", timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
