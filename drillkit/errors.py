"""Errors drillkit raises, and the exit code each maps to at the command line.

    DrillkitError            base; exit 1 unless a subclass says otherwise
    ├── InputError           a bad file, flag or argument: exit 2 (message names file:line: field)
    │   └── LockBusy         another process holds a lock drillkit needs (a game-day on this home): exit 2
    ├── CheckFailed          a check ran and failed (eval outside the envelope, verify failed): exit 1
    ├── Aborted              the operator or a guardrail stopped the run: exit 3
    └── ServiceError         a service drillkit needs is unreachable or answered badly: exit 1

Third-party errors (pydantic, yaml, httpx) are translated into these at the module boundary, so
the CLI prints one readable line and never a traceback (unless `--debug`).
"""

from __future__ import annotations


class DrillkitError(Exception):
    exit_code = 1


class InputError(DrillkitError):
    exit_code = 2


class LockBusy(InputError):
    """Another process holds the lock (`drillkit.net.filelock`); `holder` is the note it left ("pid 123")."""

    def __init__(self, message: str, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder


class CheckFailed(DrillkitError):
    exit_code = 1


class Aborted(DrillkitError):
    exit_code = 3


class ServiceError(DrillkitError):
    exit_code = 1


__all__ = ["Aborted", "CheckFailed", "DrillkitError", "InputError", "LockBusy", "ServiceError"]
