"""`stream_stall`: the stream stops for a while, then carries on.

Streaming: after `after_chunks` events have been forwarded, wait `stall_ms` once before the next
one.  Non-streaming: wait `stall_ms` before the body.
"""

from __future__ import annotations

from pydantic import Field

from drillkit.faults.l7.base import Attributes, Exchange, Fault, FiltersEvents, Reply, RewritesBody, SseEvent


class StreamStallAttributes(Attributes):
    after_chunks: int = Field(default=1, ge=0)
    stall_ms: float = Field(default=10_000.0, ge=0)


class StreamStallFault(Fault, RewritesBody, FiltersEvents):
    type = "stream_stall"
    attributes_model = StreamStallAttributes

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        await self.sleep(self.attrs.stall_ms / 1000.0)
        return reply

    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent:
        if event.index == self.attrs.after_chunks:
            await self.sleep(self.attrs.stall_ms / 1000.0)
        return event
