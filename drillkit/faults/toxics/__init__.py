"""Toxics by type name, and the envelope that carries one over the Toxiproxy API.

The envelope (``name``, ``type``, ``stream``, ``toxicity``) is decoded apart from the
``attributes``, which belong to the toxic type: a pydantic discriminated union on ``type`` picks
the attribute model, in one place. `parse_toxic` turns a JSON object into a `ToxicSpec` or
raises `InvalidToxic` with one readable message (unknown type named, unknown or negative
attribute named); `update_toxic` applies a PATCH (only ``attributes`` and ``toxicity`` change,
attributes merge into the current ones).

Wire defaults (as Toxiproxy): ``stream`` "downstream", ``toxicity`` 1.0, ``name``
"<type>_<stream>", omitted attributes 0. Upstream = client → server, downstream = server → client.

A drillkit extension of the envelope: ``dead_man`` (default false) and ``heartbeat_interval``
(seconds > 0, default 5). The embedded server removes a dead-man toxic when no heartbeat arrives
in time (`drillkit.proxy.dead_man`); Go Toxiproxy ignores both fields. They appear in a toxic's
JSON only when ``dead_man`` is true, so every other toxic keeps Toxiproxy's exact shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model, model_validator

from drillkit.errors import InputError
from drillkit.faults.toxics.bandwidth import Bandwidth
from drillkit.faults.toxics.base import Toxic
from drillkit.faults.toxics.latency import Latency
from drillkit.faults.toxics.limit_data import LimitData
from drillkit.faults.toxics.noop import Noop
from drillkit.faults.toxics.reset_peer import ResetPeer
from drillkit.faults.toxics.slicer import Slicer
from drillkit.faults.toxics.slow_close import SlowClose
from drillkit.faults.toxics.timeout import Timeout

Stream = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")
#: The envelope's drillkit extension (see the module docstring).
_DEAD_MAN_FIELDS = ("dead_man", "heartbeat_interval")

#: type name → toxic class. Add a toxic with `register_toxic`.
TOXIC_TYPES: dict[str, type[Toxic]] = {}


class InvalidToxic(InputError):
    """A toxic body that cannot be accepted; the message names the type or field at fault."""


class ToxicSpec(BaseModel):
    """One toxic as configured on a proxy (what the API shows). Immutable: updates copy."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = ""
    type: str
    stream: Stream = "downstream"
    toxicity: float = Field(1.0, ge=0.0, le=1.0)
    attributes: Toxic
    dead_man: bool = False
    heartbeat_interval: float = Field(5.0, gt=0.0)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name"):
            stream = data.get("stream", "downstream")
            data = {**data, "name": f"{data.get('type')}_{stream}"}
        return data

    def to_json(self) -> dict[str, Any]:
        """The Toxiproxy JSON shape: name, type, stream, toxicity, attributes (all of them);
        plus dead_man and heartbeat_interval for a dead-man toxic."""
        shape = {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes.model_dump(mode="json"),
        }
        if self.dead_man:
            shape.update(dead_man=True, heartbeat_interval=self.heartbeat_interval)
        return shape


_adapter: TypeAdapter[ToxicSpec] | None = None


def register_toxic(cls: type[Toxic]) -> None:
    """Make ``cls`` available under ``cls.type_name`` (rebuilds the union)."""
    global _adapter
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} has no type_name")
    TOXIC_TYPES[cls.type_name] = cls
    variants = [
        create_model(
            f"{name.title().replace('_', '')}Spec",
            __base__=ToxicSpec,
            type=(Literal[name], ...),  # type: ignore[valid-type]
            attributes=(toxic_cls, Field(default_factory=toxic_cls)),
        )
        for name, toxic_cls in TOXIC_TYPES.items()
    ]
    union = Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007 - built at runtime
    _adapter = TypeAdapter(union)


for _cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Noop):
    register_toxic(_cls)


def parse_toxic(data: Any) -> ToxicSpec:
    """Validate a toxic body (a decoded JSON object). Raises `InvalidToxic`."""
    if not isinstance(data, dict):
        raise InvalidToxic("bad request body: a toxic must be a JSON object")
    assert _adapter is not None
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidToxic(_explain(exc, data)) from None


def update_toxic(current: ToxicSpec, patch: Any) -> ToxicSpec:
    """Apply a PATCH body: ``attributes`` (merged), ``toxicity``, ``dead_man`` and
    ``heartbeat_interval`` may change, nothing else.

    ``name``, ``type`` and ``stream`` may be repeated with their current values (some clients
    send the whole toxic back); a different value is an error rather than silently ignored.
    """
    if not isinstance(patch, dict):
        raise InvalidToxic("bad request body: a toxic update must be a JSON object")
    for key in ("name", "type", "stream"):
        if key in patch and patch[key] != getattr(current, key):
            raise InvalidToxic(f"bad request body: {key} cannot be changed by an update (only attributes, toxicity)")
    unknown = sorted(set(patch) - {"name", "type", "stream", "attributes", "toxicity", *_DEAD_MAN_FIELDS})
    if unknown:
        raise InvalidToxic(f"bad request body: unknown field {unknown[0]!r}")
    attributes = patch.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise InvalidToxic("bad request body: attributes must be a JSON object")
    merged = {
        **current.to_json(),
        "attributes": {**current.attributes.model_dump(), **attributes},
        "toxicity": patch.get("toxicity", current.toxicity),
        **{key: patch.get(key, getattr(current, key)) for key in _DEAD_MAN_FIELDS},
    }
    return parse_toxic(merged)


def _explain(exc: ValidationError, data: dict[str, Any]) -> str:
    type_name = data.get("type")
    messages = []
    for err in exc.errors(include_url=False):
        kind, loc = err["type"], tuple(err["loc"])
        field = loc[1] if len(loc) > 1 else (loc[0] if loc else "")
        if kind == "union_tag_invalid":
            known = ", ".join(sorted(TOXIC_TYPES))
            messages.append(f"invalid toxic type: {type_name!r} (known: {known})")
        elif kind == "union_tag_not_found":
            messages.append("missing required field: type")
        elif field == "stream":
            messages.append("stream was invalid, can be either upstream or downstream")
        elif field == "attributes" and len(loc) > 2:
            attr = loc[2]
            if kind == "extra_forbidden":
                messages.append(f"bad request body: unknown attribute {attr!r} for toxic type {type_name}")
            else:
                messages.append(f"bad request body: attribute {attr!r} of {type_name}: {err['msg']}")
        elif kind == "extra_forbidden":
            messages.append(f"bad request body: unknown field {field!r}")
        else:
            messages.append(f"bad request body: {field}: {err['msg']}")
    return "; ".join(dict.fromkeys(messages))


__all__ = [
    "STREAMS",
    "TOXIC_TYPES",
    "InvalidToxic",
    "Stream",
    "Toxic",
    "ToxicSpec",
    "parse_toxic",
    "register_toxic",
    "update_toxic",
]
