"""The demo service's provider router: ordered fallback with LiteLLM-like cooldowns.

Wire formats (docs/demo.md, "Service → provider request"), non-streaming (`Router.complete`):
- `api: openai`    → `POST {base_url}/chat/completions`, answer in `choices[0].message.content`,
  usage `prompt_tokens` / `completion_tokens`;
- `api: anthropic` → `POST {base_url}/messages`, answer = the text blocks of `content`, usage
  `input_tokens` / `output_tokens`.

Streaming (`Router.stream`): the same requests with `"stream": true` (OpenAI also
`"stream_options": {"include_usage": true}`); the server-sent events are read as they arrive
(OpenAI `choices[0].delta.content` chunks up to `data: [DONE]`; Anthropic `text_delta`s of
`content_block_delta` events up to `message_stop`).  `Router.stream` returns an `AnswerStream`
once a provider has sent its first token (or ended its answer without one): every failure before
that falls back exactly as below, the wait for the first token counting against the provider's
`timeout`.  After the first token there is no fallback (the client already has part of an
answer): a broken stream (connection cut, no event for `timeout` seconds, an `error` event, an
unparsable event, the end of the body before the stream's end) raises `StreamInterrupted` from
`AnswerStream.deltas()` and counts as a failure of that provider (attempt reason `connection`,
`timeout`, `server_error` or `bad_response`).

Per attempt: the provider's `timeout` from the manifest (default 10 s; `Router(timeout=...)`
overrides it for every provider), connect timeout at most 2 s.  Providers are tried in the order
given (the service passes route first, then the others in manifest order).

Outcomes of one attempt (`Attempt.reason`), whether the router falls back, and the effect on the
provider's health:

- `ok`: a 2xx with a usable body; resets the failure count.
- `quota`: 429 `insufficient_quota` (OpenAI) or `enforced_spend_limit_reached` (Anthropic);
  falls back; cooldown 60 s.
- `rate_limited`: any other 429; falls back; cooldown `retry-after` seconds (`retry-after-ms`
  first; capped at 60 s; 5 s when absent).
- `server_error` (5xx, whatever its body: JSON of any shape, not JSON, not even decodable),
  `timeout` (408, connect/read timeout), `connection` (refused, reset, any other request error),
  `bad_response` (a 2xx whose body is unusable or cannot be decoded): fall back; count as a
  failure.
- `rejected`: any other 4xx (bad request, unknown model, auth): the request itself is wrong, so
  another provider would not help: no fallback, `ProviderRejected` (the service answers 502).

Three consecutive failures cool a provider for 5 s (LiteLLM's defaults).  A cooling provider is
skipped (attempt reason `cooldown`); when every provider fails or is cooling the router raises
`AllProvidersFailed` (the service answers 503), like LiteLLM's "no deployments available".
Health is in memory, per Router; `reset_health()` clears it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from drillkit.config.system import Provider
from drillkit.demo.provider_stream import AnswerStream, open_stream
from drillkit.demo.provider_wire import (
    COOLDOWN_S,
    AllProvidersFailed,
    Attempt,
    AttemptFailed,
    Completion,
    ProviderRejected,
    RouterError,
    StreamInterrupted,
    Unreadable,
    build_request,
    classify,
    parse_completion,
    post,
    retry_after_seconds,
)

ALLOWED_FAILS = 3

T = TypeVar("T")


@dataclass
class _Health:
    cooldown_until: float = 0.0
    consecutive_failures: int = 0
    last_reason: str | None = None


@dataclass
class Router:
    """Routes one completion over `providers` (manifest order) through a shared httpx client.

    The client is owned by the caller (the service's lifespan), which closes it.  `timeout`
    (seconds per attempt) overrides every provider's own `timeout`.
    """

    providers: Mapping[str, Provider]
    client: httpx.AsyncClient
    clock: Callable[[], float] = time.monotonic
    timeout: float | None = None
    _health: dict[str, _Health] = field(default_factory=dict, init=False)

    async def complete(
        self,
        system_prompt: str,
        question: str,
        *,
        order: Sequence[str],
        models: Mapping[str, str] | None = None,
        trace_id: str | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        """Ask the providers named in `order`, first success wins; `models` overrides a
        provider's manifest model (the pin lever), `max_tokens` the answer's cap (the degrade
        lever).  Raises `RouterError` subclasses."""

        async def call(name: str, provider: Provider, model: str) -> Completion:
            return await self._call(name, provider, model, system_prompt, question, trace_id, max_tokens)

        completion, attempts = await self._route(order, models, call)
        return Completion(
            completion.text,
            completion.model,
            completion.provider,
            completion.input_tokens,
            completion.output_tokens,
            attempts,
            completion.finish_reason,
        )

    async def stream(
        self,
        system_prompt: str,
        question: str,
        *,
        order: Sequence[str],
        models: Mapping[str, str] | None = None,
        trace_id: str | None = None,
        max_tokens: int | None = None,
    ) -> AnswerStream:
        """Like `complete`, streaming: returns once a provider has sent its first token (the
        module doc says what falls back and what interrupts).  The caller reads
        `AnswerStream.deltas()` and must `aclose()` the stream."""

        async def call(name: str, provider: Provider, model: str) -> AnswerStream:
            return await self._open_stream(name, provider, model, system_prompt, question, trace_id, max_tokens)

        opened, attempts = await self._route(order, models, call)
        opened.attempts = list(attempts)
        return opened

    async def _route(
        self,
        order: Sequence[str],
        models: Mapping[str, str] | None,
        call: Callable[[str, Provider, str], Awaitable[T]],
    ) -> tuple[T, tuple[Attempt, ...]]:
        """The fallback loop: `call` each provider of `order` not cooling down until one answers."""
        attempts: list[Attempt] = []
        for name in order:
            provider = self.providers[name]
            health = self._health.setdefault(name, _Health())
            wait = health.cooldown_until - self.clock()
            if wait > 0:
                attempts.append(Attempt(name, "cooldown", None, f"cooling down for {wait:.1f} s more"))
                continue
            model = (models or {}).get(name) or provider.model
            try:
                answer = await call(name, provider, model)
            except AttemptFailed as f:
                attempts.append(Attempt(name, f.reason, f.status, f.detail))
                health.last_reason = f.reason
                if f.reason == "rejected":
                    raise ProviderRejected(f"{name} rejected the request: {f.detail}", attempts) from None
                self._record_failure(health, f.cooldown)
                continue
            health.consecutive_failures = 0
            health.last_reason = "ok"
            attempts.append(Attempt(name, "ok", 200))
            return answer, tuple(attempts)
        summary = "; ".join(f"{a.provider}: {a.reason}" + (f" ({a.detail})" if a.detail else "") for a in attempts)
        raise AllProvidersFailed(f"all providers failed: {summary or 'none configured'}", attempts)

    def health(self) -> dict[str, dict[str, Any]]:
        """Per provider: seconds of cooldown left, consecutive failures, last outcome."""
        now = self.clock()
        out = {}
        for name in self.providers:
            h = self._health.get(name, _Health())
            out[name] = {
                "cooldown_s": round(max(0.0, h.cooldown_until - now), 3),
                "consecutive_failures": h.consecutive_failures,
                "last_outcome": h.last_reason,
            }
        return out

    def reset_health(self) -> None:
        """Forget cooldowns and failure counts (used by the service's reset lever)."""
        self._health.clear()

    # -- internals -----------------------------------------------------------------------------

    def _record_failure(self, health: _Health, cooldown: float | None) -> None:
        now = self.clock()
        if cooldown is not None:
            health.cooldown_until = max(health.cooldown_until, now + cooldown)
            health.consecutive_failures = 0
            return
        health.consecutive_failures += 1
        if health.consecutive_failures >= ALLOWED_FAILS:
            health.cooldown_until = max(health.cooldown_until, now + COOLDOWN_S)
            health.consecutive_failures = 0

    async def _call(
        self,
        name: str,
        provider: Provider,
        model: str,
        system_prompt: str,
        question: str,
        trace_id: str | None,
        max_tokens: int | None = None,
    ) -> Completion:
        request, _ = build_request(
            self.client, provider, model, system_prompt, question, trace_id, timeout=self.timeout, max_tokens=max_tokens
        )
        status, reply_headers, data = await post(self.client, request)
        if status >= 300:
            raise classify(status, reply_headers, data)
        if isinstance(data, Unreadable):
            raise AttemptFailed("bad_response", data.detail, status)
        try:
            return parse_completion(name, provider.api, model, data.json())
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise AttemptFailed("bad_response", f"unusable response body: {exc!r}"[:300], status) from None

    async def _open_stream(
        self,
        name: str,
        provider: Provider,
        model: str,
        system_prompt: str,
        question: str,
        trace_id: str | None,
        max_tokens: int | None = None,
    ) -> AnswerStream:
        request, seconds = build_request(
            self.client,
            provider,
            model,
            system_prompt,
            question,
            trace_id,
            timeout=self.timeout,
            stream=True,
            max_tokens=max_tokens,
        )
        return await open_stream(
            self.client, request, seconds, name, model, provider.api, lambda f: self._stream_failed(name, f)
        )

    def _stream_failed(self, name: str, failure: AttemptFailed) -> None:
        """A stream broke after its first token: a failure of `name` like any other."""
        health = self._health.setdefault(name, _Health())
        health.last_reason = failure.reason
        self._record_failure(health, failure.cooldown)


__all__ = [
    "AllProvidersFailed",
    "AnswerStream",
    "Attempt",
    "Completion",
    "ProviderRejected",
    "Router",
    "RouterError",
    "StreamInterrupted",
    "retry_after_seconds",
]
