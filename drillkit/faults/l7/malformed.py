"""`malformed`: a response whose JSON does not parse.

`mode: invalid` puts a syntax error into the JSON (same length); `mode: truncated` keeps only the
first half of it.  Non-streaming: the whole body (the HTTP message itself stays well-formed).
Streaming: the first JSON event at or after position `after_chunks`, once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from drillkit.faults.l7.base import Attributes, Exchange, Fault, FiltersEvents, Reply, RewritesBody, SseEvent


class MalformedAttributes(Attributes):
    mode: Literal["invalid", "truncated"] = "invalid"
    after_chunks: int = Field(default=1, ge=0)


def corrupt(text: str, mode: str) -> str:
    if mode == "truncated":
        return text[: len(text) // 2]
    # The first ':' of a JSON object separates its first key from its value: '=' there is invalid.
    return text.replace(":", "=", 1) if ":" in text else text + "}"


class MalformedFault(Fault, RewritesBody, FiltersEvents):
    type = "malformed"
    attributes_model = MalformedAttributes

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        reply.set_body(corrupt(reply.body.decode("utf-8", "replace"), self.attrs.mode).encode())
        return reply

    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent:
        if event.index < self.attrs.after_chunks or ex.state.get(self.name) or event.json() is None:
            return event
        ex.state[self.name] = True
        return event.with_data(corrupt(event.data, self.attrs.mode))
