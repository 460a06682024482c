"""`empty_completion`: the model answers with nothing, and says it finished normally.

openai: every choice's content is "" and `finish_reason` is `stop`; anthropic: one empty text
block and `stop_reason: end_turn`.  Output token counts become 0.  Streaming: content deltas
carry "" (events are kept, so positions stay the same for other faults) and the final
finish/stop reason is rewritten the same way.  Error bodies pass unchanged.
"""

from __future__ import annotations

from typing import Any

from drillkit.faults.l7.base import Attributes, EditsCompletion, Exchange, Fault


class EmptyCompletionAttributes(Attributes):
    pass


def _empty_openai(body: dict[str, Any], *, stream: bool) -> None:
    for choice in body.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        part = choice.get("delta" if stream else "message")
        if isinstance(part, dict) and isinstance(part.get("content"), str):
            part["content"] = ""
        if choice.get("finish_reason") is not None:
            choice["finish_reason"] = "stop"
    usage = body.get("usage")
    if isinstance(usage, dict) and "completion_tokens" in usage:
        usage["completion_tokens"] = 0
        usage["total_tokens"] = usage.get("prompt_tokens", 0)


def _empty_anthropic(body: dict[str, Any]) -> None:
    if body.get("type") == "message":
        body["content"] = [{"type": "text", "text": ""}]
        body["stop_reason"], body["stop_sequence"] = "end_turn", None
    delta = body.get("delta")
    if isinstance(delta, dict):
        if delta.get("type") == "text_delta":
            delta["text"] = ""
        if delta.get("stop_reason") is not None:
            delta["stop_reason"], delta["stop_sequence"] = "end_turn", None
    usage = body.get("usage")
    if isinstance(usage, dict) and body.get("type") in ("message", "message_delta"):
        usage["output_tokens"] = 0


class EmptyCompletionFault(Fault, EditsCompletion):
    type = "empty_completion"
    attributes_model = EmptyCompletionAttributes

    def edit(self, ex: Exchange, body: Any, *, stream: bool) -> bool:
        if not isinstance(body, dict):
            return False
        if ex.api == "anthropic":
            _empty_anthropic(body)
        else:
            _empty_openai(body, stream=stream)
        return True
