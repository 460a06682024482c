"""Small value types shared by the file contracts: durations, argv lists, strict base model."""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from drillkit.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


#: The longest duration a file may give (7 days): longer is a typo or a hostile file, and every
#: duration ends up in arithmetic (deadlines, sleeps) that must stay finite.
MAX_DURATION_S = 7 * 24 * 3600.0


def parse_duration(value: Any) -> float:
    """`500ms`, `5s`, `2m`, `1h` or a bare number of seconds → seconds (float, 0 ≤ s ≤ 7 days)."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite duration like 500ms, 5s or 2m (got {value!r})")
        if value < 0:
            raise ValueError(f"expected a duration ≥ 0 (got {value!r})")
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds is None:
        raise ValueError(f"expected a duration like 500ms, 5s or 2m (got {value!r})")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most 7 days (got {value!r})")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


#: Seconds, written in files as `500ms`, `5s`, `2m`.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "title": "Duration",
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_DURATION_S},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
            ],
        }
    ),
]


_PERIOD = re.compile(r"^\s*(\d+)\s*(h|d|w)\s*$")
_PERIOD_S = {"h": 3600, "d": 86400, "w": 7 * 86400}
MAX_PERIOD_S = 5 * 366 * 86400


def parse_period(value: Any) -> float:
    """`12h`, `90d`, `13w` → seconds: how often something must happen (1 h to 5 years)."""
    m = _PERIOD.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"expected a period like 90d, 13w or 12h (got {value!r})")
    seconds = float(int(m.group(1)) * _PERIOD_S[m.group(2)])
    if not 0 < seconds <= MAX_PERIOD_S:
        raise ValueError(f"expected a period between 1h and 5 years (got {value!r})")
    return seconds


def format_period(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g}d" if days >= 1 and days == int(days) else f"{seconds / 3600:g}h"


#: A period in hours, days or weeks (`90d`), as seconds.
Period = Annotated[
    float,
    BeforeValidator(parse_period),
    PlainSerializer(format_period, return_type=str),
    WithJsonSchema({"title": "Period", "type": "string", "pattern": r"^\s*\d+\s*(h|d|w)\s*$"}),
]


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


def _inside_folder(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a path, got an empty string")
    if "\x00" in value:
        raise ValueError("a path cannot hold a NUL character")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute():
        return value
    parts = PurePosixPath(posixpath.normpath(value.replace("\\", "/"))).parts
    if parts and parts[0] == "..":
        raise ValueError(
            "a relative path may not climb out of the manifest's folder ('..'); "
            "write a path outside it as an absolute path"
        )
    return value


#: A path in the system manifest, resolved against the manifest's folder. One that climbs out of
#: it (`../x`) must be written as an absolute path, so a manifest copied from elsewhere cannot make
#: drillkit read (and fingerprint, or send to a provider) files outside its folder unnoticed.
#: The check is on the text; a symlink inside the folder is followed as the user set it up.
ManifestPath = Annotated[str, AfterValidator(_inside_folder)]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]

#: An HTTP status code a check expects.
HttpStatus = Annotated[int, Field(ge=100, le=599)]

#: Upper bounds for counts and rates in files: far above any real setting, low enough that a typo
#: or a hostile file cannot ask the engine for a billion tasks.
MAX_RATE = 10_000.0  # requests per second
MAX_CONCURRENCY = 10_000


class Strict(BaseModel):
    """Base for file contracts: unknown keys are errors (typos must not pass silently)."""

    # allow_inf_nan=False: `.nan` and `.inf` are never a valid number in a file (a NaN compares
    # false with every threshold, so an SLO or rate given as NaN would silently never trip).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _header_map(value: Any) -> Any:
    if isinstance(value, dict):
        for name, text in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise ValueError(f"not a valid HTTP header name: {name!r}")
            if not isinstance(text, str):
                raise ValueError(f"header {name}: expected a string (got {type(text).__name__})")
            if any(c in text for c in "\r\n\x00"):
                raise ValueError(f"header {name}: a value may not hold CR, LF or NUL")
    return value


#: Request headers from a file. `${VAR}` in a value is read from the environment when the header
#: is used (`expand_headers`), so a file can name a secret without holding it.
Headers = Annotated[dict[str, str], BeforeValidator(_header_map)]


def header_vars(headers: dict[str, str]) -> set[str]:
    """The environment variables the headers name (`${VAR}`)."""
    return {m.group(1) for value in headers.values() for m in _VAR.finditer(value)}


def expand_headers(headers: dict[str, str], field: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers with every `${VAR}` replaced from the environment.

    A variable that is not set is bad input (`InputError`, exit 2) naming the field and the
    variable, never the value. The expanded values are secrets: callers send them and keep them
    out of everything they write (journals, summaries, reports, logs).
    """
    return {name: expand_vars(value, f"{field}.{name}", env, what="header") for name, value in headers.items()}


def expand_vars(text: str, field: str, env: Mapping[str, str] | None = None, *, what: str = "value") -> str:
    """`text` with every `${VAR}` replaced from the environment; an unset one is bad input
    (`InputError`, exit 2) naming the field and the variable, never a value."""
    source = os.environ if env is None else env
    missing = sorted({m.group(1) for m in _VAR.finditer(text)} - set(source))
    if missing:
        raise InputError(
            f"{field}: the environment variable {missing[0]} is not set "
            f"(the {what} names ${{{missing[0]}}}; export it before running drillkit)"
        )
    return _VAR.sub(lambda m: source[m.group(1)], text)
