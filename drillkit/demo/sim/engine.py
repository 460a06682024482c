"""What both sim API modules share: turning a request into a `Completion` (`SimEngine.complete`)
and pacing it by the model's latency profile, scaled by `DRILLKIT_SIM_LATENCY_SCALE`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from drillkit.demo.sim.brain import (
    answer,
    content_text,
    count_tokens,
    split_chunks,
    truncate_tokens,
)
from drillkit.demo.sim.models import SimModel

LATENCY_SCALE_ENV = "DRILLKIT_SIM_LATENCY_SCALE"
TOKENS_PER_CHUNK = 3

Finish = Literal["stop", "length", "stop_sequence"]


@dataclass(frozen=True)
class Completion:
    """A finished generation: text after stop/length cuts, why it ended, and token usage."""

    model: SimModel
    text: str
    finish: Finish
    stop_sequence: str | None
    prompt_tokens: int
    completion_tokens: int

    def chunks(self) -> list[tuple[str, int]]:
        """Stream deltas of a few tokens each, as (text, n_tokens); they join to `text`."""
        return split_chunks(self.text, TOKENS_PER_CHUNK)


class SimEngine:
    """Shared by the API modules: generation and latency pacing for one app instance.

    `latency_scale` multiplies every sleep; 0 means no sleeping at all.
    """

    def __init__(self, name: str, latency_scale: float) -> None:
        self.name = name
        self.latency_scale = max(0.0, latency_scale)

    def complete(
        self,
        model: SimModel,
        system_text: str,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Completion:
        """Answer `messages`; prompt tokens count `system_text` plus every non-system message."""
        text = answer(model, system_text, messages)
        finish: Finish = "stop"
        hit: str | None = None
        hits = [(text.find(s), s) for s in stop if s and s in text]
        if hits:
            index, hit = min(hits)
            text, finish = text[:index], "stop_sequence"
        text, was_cut = truncate_tokens(text, max_tokens)
        if was_cut:
            hit, finish = None, "length"
        prompt = count_tokens(system_text) + sum(
            count_tokens(content_text(m.get("content")))
            for m in messages
            if m.get("role") not in ("system", "developer")
        )
        return Completion(model, text, finish, hit, prompt, count_tokens(text))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def wait_first_token(self, model: SimModel) -> float:
        """Sleep the model's time to first token; returns the seconds slept."""
        seconds = model.ttft_s(self.latency_scale)
        await self._sleep(seconds)
        return seconds

    async def wait_tokens(self, model: SimModel, tokens: int) -> None:
        """Sleep the time `model` takes to produce `tokens` more output tokens."""
        await self._sleep(model.generation_s(tokens, self.latency_scale))

    async def wait_whole(self, completion: Completion) -> float:
        """Sleep a whole non-streaming response's time; returns the seconds slept."""
        seconds = completion.model.total_s(completion.completion_tokens, self.latency_scale)
        await self._sleep(seconds)
        return seconds


def latency_scale_from_env(default: float = 1.0) -> float:
    """The latency scale from `DRILLKIT_SIM_LATENCY_SCALE` (unset or empty: `default`)."""
    raw = os.environ.get(LATENCY_SCALE_ENV, "").strip()
    if not raw:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"{LATENCY_SCALE_ENV} must be a number, got {raw!r}") from None


__all__ = ["LATENCY_SCALE_ENV", "TOKENS_PER_CHUNK", "Completion", "Finish", "SimEngine", "latency_scale_from_env"]
