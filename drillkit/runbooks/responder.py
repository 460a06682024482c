"""Who answers the runbook's questions: a person at a terminal, or nobody (`--auto`).

The interpreter never prompts directly; it asks its `Responder`. That keeps one code path for
both modes and makes the difference explicit:

- `TerminalResponder` (interactive): each step opens with its title, time and guidance (rich
  Markdown); the responder chooses `run`, `skip`, `back`, `note` or `quit`; `ask` checks and
  confirmations are rich prompts. Everything goes to one console (stderr under `--json`, so
  stdout stays machine-readable).
- `AutoResponder` (`--auto`): runs every step, answers no question (an `ask` is skipped) and
  confirms nothing, so `--auto` never alters the system. It prints one line per step unless
  `quiet` (`--json`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.rule import Rule

from drillkit.config.runbook import RESPONDER_COMMANDS, RunbookStep
from drillkit.runbooks.record import StepRecord

_SYMBOL = {
    "pass": "[green]✓[/]",
    "fail": "[red]✗[/]",
    "error": "[yellow]![/]",
    "unknown": "[yellow]?[/]",
    "skipped": "[dim]–[/]",
}


class Responder(Protocol):
    interactive: bool

    def begin(self, n: int, step: RunbookStep, at: str) -> None:
        """A step is about to be offered (number `n` in this session, `at` its UTC time)."""

    def menu(self, step: RunbookStep) -> str:
        """What to do with the step: one of `RESPONDER_COMMANDS`."""

    def choose(self, question: str, choices: list[str]) -> str | None:
        """One of `choices`, or None to skip the question."""

    def confirm(self, question: str) -> bool:
        """Yes or no; the auto responder always says no."""

    def text(self, prompt: str, default: str = "") -> str:
        """Free text (a note, a reordered plan)."""

    def say(self, message: str) -> None:
        """Show a line (rich markup; callers escape what they did not write)."""

    def finished(self, record: StepRecord) -> None:
        """A step finished (or was skipped)."""


class AutoResponder:
    """`--auto`: run everything automated, ask nothing, confirm nothing."""

    interactive = False

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet

    def begin(self, n: int, step: RunbookStep, at: str) -> None:
        pass

    def menu(self, step: RunbookStep) -> str:
        return "run"

    def choose(self, question: str, choices: list[str]) -> str | None:
        return None

    def confirm(self, question: str) -> bool:
        return False

    def text(self, prompt: str, default: str = "") -> str:
        return default

    def say(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"    {message}")

    def finished(self, record: StepRecord) -> None:
        if self.quiet:
            return
        symbol = _SYMBOL.get(record.outcome, "[cyan]→[/]")
        self.console.print(
            f"{symbol} {escape(record.step):<14} {escape(record.type):<13} {escape(record.outcome):<8} "
            f"{record.duration_s:5.1f}s  {escape(record.detail)}"
        )


@contextmanager
def interruptible() -> Iterator[None]:
    """Let Ctrl-C stop a blocking prompt at once.

    Under `asyncio.run` the first Ctrl-C only cancels the main task, which a coroutine blocked in
    `input()` never notices; for the length of a prompt Python's own handler is put back, so
    KeyboardInterrupt is raised right there (the session then leaves the incident resumable).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class TerminalResponder:
    """An operator at a terminal, prompted with rich (input comes from `console.input`)."""

    interactive = True

    def __init__(self, console: Console) -> None:
        self.console = console

    def begin(self, n: int, step: RunbookStep, at: str) -> None:
        self.console.print()
        self.console.print(Rule(f"step {n} · {escape(step.id)} · {escape(step.type)} · {escape(at)}", align="left"))
        self.console.print(f"[bold]{escape(step.title)}[/]")
        if step.guidance:
            self.console.print(Markdown(step.guidance))

    def menu(self, step: RunbookStep) -> str:
        with interruptible():
            return Prompt.ask(
                "[bold]run[/] the step, skip it, go back, add a note, or quit (resume later)",
                choices=list(RESPONDER_COMMANDS),
                default="run",
                console=self.console,
            )

    def choose(self, question: str, choices: list[str]) -> str | None:
        with interruptible():
            answer = Prompt.ask(escape(question), choices=[*choices, "skip"], console=self.console)
        return None if answer == "skip" else answer

    def confirm(self, question: str) -> bool:
        with interruptible():
            return Confirm.ask(question, default=False, console=self.console)

    def text(self, prompt: str, default: str = "") -> str:
        with interruptible():
            return Prompt.ask(escape(prompt), default=default, console=self.console)

    def say(self, message: str) -> None:
        self.console.print(message)

    def finished(self, record: StepRecord) -> None:
        symbol = _SYMBOL.get(record.outcome, "[cyan]→[/]")
        self.console.print(
            f"{symbol} [bold]{escape(record.outcome)}[/] in {record.duration_s:.1f}s  {escape(record.detail)}"
        )


__all__ = ["AutoResponder", "Responder", "TerminalResponder"]
