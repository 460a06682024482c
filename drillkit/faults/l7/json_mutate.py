"""`json_mutate`: a tool API changes its contract — fields vanish, get renamed or new values.

On a whole JSON response (any status): `drop: [path]` removes fields, `rename: {path: new_name}`
renames the last key of the path in place, `set: {path: value}` sets a value (creating missing
objects on the way), in that order.  Paths are dotted; a numeric part indexes a list
(`items.0.sku`).  Paths that do not exist are skipped.  `status` replaces the response status.
Streaming responses pass unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from drillkit.faults.l7.base import Attributes, Exchange, Fault, Reply, RewritesBody


class JsonMutateAttributes(Attributes):
    set: dict[str, Any] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    status: int | None = Field(default=None, ge=100, le=599)

    @field_validator("drop", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v  # `--set drop=eta` means one path


def _step(node: Any, part: str, *, create: bool = False) -> Any:
    if isinstance(node, dict):
        if part not in node and create:
            node[part] = {}
        return node.get(part)
    if isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
        return node[int(part)]
    return None


def _parent(root: Any, path: str, *, create: bool = False) -> tuple[Any, str]:
    *parents, last = path.split(".")
    node = root
    for part in parents:
        node = _step(node, part, create=create)
    return node, last


def mutate(body: Any, attrs: JsonMutateAttributes) -> Any:
    """Apply drop, rename and set to `body` in place; returns it."""
    for path in attrs.drop:
        node, key = _parent(body, path)
        if isinstance(node, dict):
            node.pop(key, None)
        elif isinstance(node, list) and _step(node, key) is not None:
            del node[int(key)]
    for path, new_name in attrs.rename.items():
        node, key = _parent(body, path)
        if isinstance(node, dict) and key in node:
            # Rebuild so the renamed key keeps its position (clients sometimes rely on order).
            items = [(new_name if k == key else k, v) for k, v in node.items()]
            node.clear()
            node.update(items)
    for path, value in attrs.set.items():
        node, key = _parent(body, path, create=True)
        if isinstance(node, dict):
            node[key] = value
        elif isinstance(node, list) and _step(node, key) is not None:
            node[int(key)] = value
    return body


class JsonMutateFault(Fault, RewritesBody):
    type = "json_mutate"
    attributes_model = JsonMutateAttributes

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        a: JsonMutateAttributes = self.attrs
        if a.status is not None:
            reply.status = a.status
        body = reply.json()
        if (a.set or a.drop or a.rename) and isinstance(body, dict | list):
            reply.set_json(mutate(body, a))
        return reply
