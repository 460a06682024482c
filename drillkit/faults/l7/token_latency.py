"""`token_latency`: a slow model — time to first token and time between streamed chunks.

Streaming: `ttft_ms` before the first event is forwarded, `per_chunk_ms` before each later one.
Non-streaming: `ttft_ms` before the body.  Each wait varies by ±`jitter_ms` (uniform, never
below 0).
"""

from __future__ import annotations

import random

from pydantic import Field

from drillkit.faults.l7.base import Attributes, Exchange, Fault, FiltersEvents, Reply, RewritesBody, SseEvent


class TokenLatencyAttributes(Attributes):
    ttft_ms: float = Field(default=0.0, ge=0)
    per_chunk_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)


class TokenLatencyFault(Fault, RewritesBody, FiltersEvents):
    type = "token_latency"
    attributes_model = TokenLatencyAttributes

    def _seconds(self, ms: float) -> float:
        jitter = self.attrs.jitter_ms
        return max(0.0, ms + (random.uniform(-jitter, jitter) if jitter else 0.0)) / 1000.0

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        await self.sleep(self._seconds(self.attrs.ttft_ms))
        return reply

    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent:
        a: TokenLatencyAttributes = self.attrs
        await self.sleep(self._seconds(a.ttft_ms if event.index == 0 else a.per_chunk_ms))
        return event
