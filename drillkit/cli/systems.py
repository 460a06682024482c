"""The systems the CLI can start for a command: today the embedded demo.

Nothing below the CLI imports `drillkit.demo`; a game-day whose scenario says `system: demo` gets
`demo_starter(...)` in its options and calls it from its own signal-safe set-up.
"""

from __future__ import annotations

from pathlib import Path

from drillkit.gameday.context import StartDemo, StopDemo
from drillkit.home import demo_workdir


def demo_starter(home: Path, *, latency_scale: float | None = None) -> StartDemo:
    """Start (or find) the embedded demo of `home`; stop it afterwards only if this call started it."""

    def start() -> tuple[Path, StopDemo | None]:
        from drillkit.demo import control

        workdir = demo_workdir(home)
        started = control.start(workdir, latency_scale=latency_scale)
        if started.already_running:
            return workdir / "drillkit.yaml", None
        return workdir / "drillkit.yaml", lambda: control.stop(workdir, process=started.process)

    return start


__all__ = ["demo_starter"]
