"""`model_swap`: silently serve another model while (by default) reporting the pinned one.

The request's `model` is rewritten to `serve_model`.  In responses (whole bodies and every
streamed event, OpenAI and Anthropic) the reported `model` becomes the requested name
(`report_model: requested`, default) or stays the served one (`served`), and OpenAI's
`system_fingerprint` follows `system_fingerprint`:

- `keep` (default): the fingerprint upstream reports for the *requested* model, so nothing in
  the response gives the swap away.  It is learnt once per route and model by a tiny side request
  (`max_tokens: 1`) with the client's credentials, then cached; if that fails it is null, which
  clients must read as "unknown".
- `served`: what upstream sent for the served model (the swap shows in the fingerprint).
- `null`: null.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field

from drillkit.faults.l7.base import (
    Attributes,
    Exchange,
    Fault,
    FiltersEvents,
    Reply,
    RewritesBody,
    RewritesRequest,
    SseEvent,
)

_CACHE = "model_swap.fingerprints"
_LOCK = "model_swap.lock"


class ModelSwapAttributes(Attributes):
    serve_model: str = Field(min_length=1)
    report_model: Literal["requested", "served"] = "requested"
    system_fingerprint: Literal["keep", "served", "null"] = "keep"


class ModelSwapFault(Fault, RewritesRequest, RewritesBody, FiltersEvents):
    type = "model_swap"
    attributes_model = ModelSwapAttributes

    async def rewrite_request(self, ex: Exchange) -> None:
        body = ex.json()
        if body is None or ex.requested_model is None:
            return
        a: ModelSwapAttributes = self.attrs
        if ex.api == "openai" and a.system_fingerprint == "keep":
            ex.state[self.name] = await self._pinned_fingerprint(ex, ex.requested_model)
        ex.set_json({**body, "model": a.serve_model})

    async def _pinned_fingerprint(self, ex: Exchange, model: str) -> str | None:
        cache: dict[str, str | None] = ex.route_cache.setdefault(_CACHE, {})
        if model in cache:
            return cache[model]
        async with ex.route_cache.setdefault(_LOCK, asyncio.Lock()):
            if model not in cache and ex.side is not None:
                probe = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
                try:
                    status, reply = await ex.side.request_json(ex, "POST", ex.path, probe)
                except OSError:
                    return None  # not cached: the next request tries again
                if status == 200 and isinstance(reply, dict):
                    fingerprint = reply.get("system_fingerprint")
                    cache[model] = fingerprint if isinstance(fingerprint, str) else None
        return cache.get(model)

    def _report(self, ex: Exchange, obj: dict[str, Any]) -> None:
        a: ModelSwapAttributes = self.attrs
        if a.report_model == "requested" and ex.requested_model is not None:
            if isinstance(obj.get("model"), str):
                obj["model"] = ex.requested_model
            message = obj.get("message")  # anthropic message_start
            if isinstance(message, dict) and isinstance(message.get("model"), str):
                message["model"] = ex.requested_model
        if ex.api == "openai" and "system_fingerprint" in obj and a.system_fingerprint != "served":
            obj["system_fingerprint"] = ex.state.get(self.name) if a.system_fingerprint == "keep" else None

    async def rewrite_body(self, ex: Exchange, reply: Reply) -> Reply:
        body = reply.json()
        if isinstance(body, dict) and reply.status < 300:
            self._report(ex, body)
            reply.set_json(body)
        return reply

    async def on_event(self, ex: Exchange, event: SseEvent) -> SseEvent:
        data = event.json()
        if not isinstance(data, dict):
            return event
        self._report(ex, data)
        return event.with_json(data)
