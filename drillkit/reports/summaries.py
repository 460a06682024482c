"""Reading a record's `summary.json` with the model its writer used, tolerantly.

    run = run_summary(read_json_object(folder / "summary.json"))            # RunRecord, or None
    incident = incident_summary(read_json_object(folder / "summary.json"))  # IncidentRecord, or None

A report must still be drawn from a summary an older drillkit wrote (keys it did not know yet),
one a hand or a crash left partial, or the ledger's `facts` (a subset of the summary's keys). So a
summary that does not validate is read field by field (`lenient`): what validates is kept, a
missing or malformed field reads as its default, or None when the model has none. Values are
validated strictly (a number is a JSON number, not `"9"` or `true`), as the readers did before.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from drillkit.gameday.summary import Summary
from drillkit.runbooks.record import IncidentSummary

M = TypeVar("M", bound=BaseModel)


class RunRecord(Summary):
    """A run's `summary.json` as the reports read it: the game-day summary, with any verdict it
    carries (a newer or an edited one is shown as it is; the integrity section says if it was edited)."""

    verdict: str  # type: ignore[assignment]


class IncidentRecord(IncidentSummary):
    """An incident's `summary.json` as the reports read it: the triage summary, with any outcome and
    envelope it carries (as a run's verdict), plus the RTO a summary may carry (triage does not write
    one; a team's record may, and the review judges the rollback against it)."""

    outcome: str  # type: ignore[assignment]
    envelope: str | None  # type: ignore[assignment]
    rto_target_s: float | None = None


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing or not an object."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def lenient(model: type[M], data: Mapping[str, Any] | None) -> M:
    """`model` from `data`, never raising: when the whole does not validate, each field that does is
    kept and every other one reads as its default (None when it has none: a required field's type
    then does not hold, so readers fall back with `or`). Keys the model does not know are dropped.
    `model_fields_set` names the fields `data` gave."""
    data = dict(data or {})
    try:
        return model.model_validate(data, strict=True)
    except ValidationError:
        pass
    values: dict[str, Any] = {}
    given: set[str] = set()
    for name, field in model.model_fields.items():
        if name in data:
            try:
                values[name] = _adapter(model, name).validate_python(data[name], strict=True)
                given.add(name)
                continue
            except ValidationError:
                pass
        values[name] = None if field.is_required() else field.get_default(call_default_factory=True)
    return model.model_construct(_fields_set=given, **values)


def run_summary(data: Mapping[str, Any] | None) -> RunRecord | None:
    """A run's summary (`RunRecord`); None when there is none (or it is empty)."""
    return lenient(RunRecord, data) if data else None


def incident_summary(data: Mapping[str, Any] | None) -> IncidentRecord | None:
    """An incident's summary (`IncidentRecord`); None when there is none (or it is empty)."""
    return lenient(IncidentRecord, data) if data else None


@functools.cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


__all__ = ["IncidentRecord", "RunRecord", "incident_summary", "lenient", "read_json_object", "run_summary"]
