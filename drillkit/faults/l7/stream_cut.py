"""`stream_cut`: the connection ends abruptly mid-response.

Streaming: after `after_chunks` server-sent events have been forwarded, the connection is dropped
without the stream's end (no `[DONE]`, no `message_stop`, no terminating chunk).
Non-streaming: the head announces the full length, `after_bytes` of the body (default: half) are
sent, then the connection is dropped.
"""

from __future__ import annotations

from pydantic import Field

from drillkit.faults.l7.base import Attributes, Exchange, Fault, FiltersEvents, Reply, RewritesBody, SseEvent, StreamCut


class StreamCutAttributes(Attributes):
    after_chunks: int = Field(default=1, ge=0)
    after_bytes: int | None = Field(default=None, ge=0)


class StreamCutFault(Fault, RewritesBody, FiltersEvents):
    type = "stream_cut"
    attributes_model = StreamCutAttributes

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        after = self.attrs.after_bytes
        reply.cut_at = min(len(reply.body), len(reply.body) // 2 if after is None else after)
        return reply

    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent:
        if event.index >= self.attrs.after_chunks:
            raise StreamCut(f"stream_cut after {self.attrs.after_chunks} events")
        return event
