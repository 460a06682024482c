"""Small value types shared by the file contracts: durations, argv lists, strict base model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """`500ms`, `5s`, `2m`, `1h` or a bare number of seconds → seconds (float, ≥ 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 500ms, 5s or 2m (got {value!r})")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration ≥ 0 (got {value!r})")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT_S[m.group(2)]
    raise ValueError(f"expected a duration like 500ms, 5s or 2m (got {value!r})")


def format_duration(seconds: float) -> str:
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


#: Seconds, written in files as `500ms`, `5s`, `2m`.
Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def _argv(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            f"expected an argv list such as [drillkit, demo, ctl, reset], not a shell string (got {value!r})"
        )
    if isinstance(value, list):
        if not value:
            raise ValueError("expected a non-empty argv list")
        return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
    return value


#: A command as an argv list: never a shell string.
Argv = Annotated[list[str], BeforeValidator(_argv)]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    """Base for file contracts: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
