"""The journal event base: `Event`, the registry (`REGISTRY`, `@kind`) and `parse`.

The package face (`drillkit.journal.events`) says how events are written and read; the kinds
themselves are in `events.run` (game-days) and `events.incident` (triage).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

#: kind → model. Filled by `@kind(...)` below; `parse` and `KINDS` read it.
REGISTRY: dict[str, type[Event]] = {}

E = TypeVar("E", bound="type[Event]")
#: Numbers keep their JSON form: an int the writer set is not read back as a float.
Number = int | float


class Event(BaseModel):
    """One journal entry's data. Subclasses are registered under their kind."""

    model_config = ConfigDict(extra="allow")
    KIND: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        """The entry's JSON object: only what the writer set (plus any extra keys)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def describe(self) -> str:
        return self.KIND or "event"


def kind(name: str) -> Any:
    def register(cls: E) -> E:
        if name in REGISTRY:
            raise ValueError(f"journal kind {name!r} registered twice")
        cls.KIND = name
        REGISTRY[name] = cls
        return cls

    return register


def parse(name: str, data: dict[str, Any]) -> Event:
    """The typed event for one entry; an unknown kind, or data its model refuses, reads as `Event`."""
    model = REGISTRY.get(name)
    if model is not None:
        try:
            return model.model_validate(data)
        except ValidationError:
            pass  # an older or hand-edited entry: still readable, just untyped
    return Event.model_validate(data)


def format_seconds(value: float | None, digits: int = 1) -> str:
    """`2.4 s`, `1.5 min`, `2.0 h`; `—` when nothing was measured."""
    if value is None:
        return "—"
    if abs(value) < 60:
        return f"{value:.{digits}f} s"
    if abs(value) < 3600:
        return f"{value / 60:.{digits}f} min"
    return f"{value / 3600:.{digits}f} h"


def nums(values: list[Any] | None) -> str:
    return ", ".join(str(v) for v in values or []) or "—"


def ok_text(ok: bool | None) -> str:
    return "ok" if ok else "FAILED"
