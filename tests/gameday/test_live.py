"""The live view takes typed journal events and shows each one's sentence; the game-day package
journals only typed events (no kind spelled outside `drillkit.journal.events`); a run's stop."""

from __future__ import annotations

import ast
import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from drillkit.errors import Aborted
from drillkit.gameday.context import RunControl
from drillkit.gameday.live import LiveView
from drillkit.journal.events import (
    KINDS,
    Detected,
    Event,
    FaultInjected,
    FaultRemoved,
    InjectClock,
    Phase,
    RollbackFinished,
    RunFinished,
    RunStarted,
    Window,
)

PACKAGE = Path(__file__).resolve().parents[2] / "drillkit" / "gameday"


def test_plain_lines_are_the_events_sentences_and_windows_stay_quiet() -> None:
    out = io.StringIO()
    view = LiveView(Console(file=out, width=200), {}, live=False)
    with view:
        for event in [
            RunStarted(scenario="swap", operator="me", mode="auto", slos={"error_rate": 0.05}),
            Phase(phase="inject"),
            FaultInjected(type="model_swap", name="model_swap", target="primary", at_s=0.0),
            Window(index=1, state="breaching", breached=["error_rate"], error_rate=0.2),
            Detected(ttd_s=3.1, slos=["error_rate"]),
            RollbackFinished(ok=True, rollback_s=1.5),
            FaultRemoved(name="model_swap", target="primary", why="cleanup"),
            InjectClock(t_inject_after_phase_s=0.01),
            Event(something="else"),
            RunFinished(verdict="aborted", reasons=["SIGTERM received"]),
        ]:
            view.on_event(event)
    lines = [line.split("s  ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "Game-day swap started by me (auto rollback)",
        "Phase: inject",
        "Fault injected: model_swap on primary",
        "Detected: error_rate, TTD 3.1 s",
        "Rollback finished: ok in 1.5 s",
        "Fault removed: model_swap (cleanup)",
        "inject.clock t_inject_after_phase_s=0.01",  # a kind without a sentence: its values
        "event something=else",
        "Run finished: aborted: SIGTERM received",  # an aborted run's last line says so
    ]
    assert (view.phase, view.ttd, view.rollback, view.faults) == ("inject", 3.1, 1.5, {})
    assert view.slos == {"error_rate": 0.05} and list(view.history["error_rate"]) == [0.2]


def test_the_dashboard_shows_the_last_window_against_its_objective() -> None:
    view = LiveView(Console(file=io.StringIO()), {"error_rate": 0.05}, live=False)
    view.on_event(FaultInjected(type="latency", name="latency_downstream", target="tools"))
    view.on_event(Window(index=3, state="breaching", breached=["error_rate"], error_rate=0.25))
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(view.render())
    text = console.export_text()
    assert "error_rate" in text and "0.25" in text and "latency_downstream: latency → tools" in text
    assert view.faults == {"latency_downstream": "latency → tools"}


def _calls_and_strings(path: Path) -> tuple[list[str], list[str]]:
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    dotted = {k for k in KINDS if "." in k}
    spelled = [
        f"{path.name}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in dotted and id(node) not in docs
    ]
    writes = [  # ctx.log("kind", ...), ctx.journal.append("kind", ...)
        f"{path.name}:{node.lineno}: {ast.unparse(node.func)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (node.func.attr == "log" or ast.unparse(node.func).endswith("journal.append"))
    ]
    return spelled, writes


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_the_game_day_journals_typed_events_only(path: Path) -> None:
    spelled, writes = _calls_and_strings(path)
    assert not spelled, "spell journal kinds from drillkit.journal.events: " + ", ".join(spelled)
    assert not writes, "journal through RunContext.emit(<event>): " + ", ".join(writes)


def test_a_stop_before_the_run_holds_and_the_first_reason_wins() -> None:
    async def go() -> None:
        control = RunControl()
        control.stop("SIGTERM received")  # e.g. during set-up, before the run's context exists
        control.stop("guardrail tripped: error_rate")
        with pytest.raises(Aborted, match="SIGTERM received"):
            control.check()
        with pytest.raises(Aborted, match="SIGTERM received"):
            await control.wait(None, 5.0)
        with pytest.raises(Aborted, match="SIGTERM received"):
            control.abort("steady state does not hold")
        assert control.reason == "SIGTERM received"

    asyncio.run(go())


def test_a_stop_cuts_a_guarded_wait_short() -> None:
    async def go() -> None:
        control = RunControl()
        asyncio.get_running_loop().call_later(0.05, control.stop, "SIGINT received")
        with pytest.raises(Aborted, match="SIGINT received"):
            await control.guard(asyncio.sleep(30))
        assert await RunControl().guard(asyncio.sleep(0, result=7)) == 7

    asyncio.run(asyncio.wait_for(go(), 5))
