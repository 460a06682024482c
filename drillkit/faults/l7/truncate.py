"""`truncate`: the answer stops early, as if it ran out of tokens.

The text content is cut after `max_chars` characters (counted across the answer; per choice for
OpenAI's `n > 1`); when anything was cut, openai's `finish_reason` becomes `length` and
anthropic's `stop_reason` becomes `max_tokens`.  Answers no longer than `max_chars` pass
unchanged.  Streaming: deltas beyond the budget carry "" and the final reason is rewritten.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from drillkit.faults.l7.base import Attributes, EditsCompletion, Exchange, Fault


class TruncateAttributes(Attributes):
    max_chars: int = Field(default=100, ge=0)


class TruncateFault(Fault, EditsCompletion):
    type = "truncate"
    attributes_model = TruncateAttributes

    def _take(self, ex: Exchange, key: int, text: str) -> str:
        """`text` cut to what is left of the budget for `key` (a choice index, or 0)."""
        used: dict[int, int] = ex.state.setdefault(self.name, {})
        cut: set[int] = ex.state.setdefault(self.name + ".cut", set())
        left = max(0, self.attrs.max_chars - used.get(key, 0))
        if len(text) > left:
            cut.add(key)
        used[key] = used.get(key, 0) + min(len(text), left)
        return text[:left]

    def _was_cut(self, ex: Exchange, key: int) -> bool:
        return key in ex.state.get(self.name + ".cut", set())

    def _openai(self, ex: Exchange, body: dict[str, Any], *, stream: bool) -> None:
        for i, choice in enumerate(body.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            key = choice.get("index", i)
            part = choice.get("delta" if stream else "message")
            if isinstance(part, dict) and isinstance(part.get("content"), str):
                part["content"] = self._take(ex, key, part["content"])
            if choice.get("finish_reason") is not None and self._was_cut(ex, key):
                choice["finish_reason"] = "length"

    def _anthropic(self, ex: Exchange, body: dict[str, Any]) -> None:
        if body.get("type") == "message":
            for block in body.get("content") or []:
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    block["text"] = self._take(ex, 0, block["text"])
            if self._was_cut(ex, 0):
                body["stop_reason"], body["stop_sequence"] = "max_tokens", None
        delta = body.get("delta")
        if isinstance(delta, dict):
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                delta["text"] = self._take(ex, 0, delta["text"])
            if delta.get("stop_reason") is not None and self._was_cut(ex, 0):
                delta["stop_reason"], delta["stop_sequence"] = "max_tokens", None

    def edit(self, ex: Exchange, body: Any, *, stream: bool) -> bool:
        if not isinstance(body, dict):
            return False
        if ex.api == "anthropic":
            self._anthropic(ex, body)
        else:
            self._openai(ex, body, stream=stream)
        return True
