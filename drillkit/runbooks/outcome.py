"""What a check or an action comes to (`StepResult`): the one type the interpreter, the checks,
the probes and the actions all share, in a module that imports none of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StepResult:
    """What a check or an action came to: the outcome `next` branches on, one line, the details."""

    outcome: str
    detail: str = ""
    result: dict[str, Any] | None = None


__all__ = ["StepResult"]
