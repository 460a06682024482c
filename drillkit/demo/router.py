"""The demo service's provider router: ordered fallback with LiteLLM-like cooldowns.

Wire formats (docs/demo.md, "Service → provider request"), non-streaming:
- `api: openai`    → `POST {base_url}/chat/completions`, answer in `choices[0].message.content`,
  usage `prompt_tokens` / `completion_tokens`;
- `api: anthropic` → `POST {base_url}/messages`, answer = the text blocks of `content`, usage
  `input_tokens` / `output_tokens`.

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

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from drillkit.config.system import Provider
from drillkit.errors import ServiceError

CONNECT_TIMEOUT_S = 2.0
COOLDOWN_S = 5.0
ALLOWED_FAILS = 3
MAX_RETRY_AFTER_S = 60.0
QUOTA_COOLDOWN_S = 60.0
MAX_TOKENS = 512
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class Attempt:
    """One provider considered for one request; `reason` is `ok` or why it did not answer."""

    provider: str
    reason: str
    status: int | None = None
    detail: str = ""

    @property
    def is_error(self) -> bool:
        """A real provider error (a skip because of cooldown is not one)."""
        return self.reason not in ("ok", "cooldown")


@dataclass(frozen=True)
class Completion:
    """An answer: text, the model the provider REPORTED, which provider, token usage."""

    text: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    attempts: tuple[Attempt, ...] = ()


class RouterError(ServiceError):
    """No answer; `status` is what the service answers, `attempts` what was tried."""

    status = 503
    code = "providers_unavailable"

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class AllProvidersFailed(RouterError):
    """Every provider failed or is cooling down (HTTP 503)."""


class ProviderRejected(RouterError):
    """A provider rejected the request itself (a non-retryable 4xx): no fallback (HTTP 502)."""

    status = 502
    code = "provider_rejected"


class _Failure(Exception):
    def __init__(self, reason: str, detail: str, status: int | None = None, cooldown: float | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status, self.cooldown = reason, detail, status, cooldown


@dataclass(frozen=True)
class _Unreadable:
    """A response body that could not be decoded (e.g. `content-encoding: gzip` over plain bytes)."""

    detail: str


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
    ) -> Completion:
        """Ask the providers named in `order`, first success wins; `models` overrides a
        provider's manifest model (the pin lever).  Raises `RouterError` subclasses."""
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
                completion = await self._call(name, provider, model, system_prompt, question, trace_id)
            except _Failure as f:
                attempts.append(Attempt(name, f.reason, f.status, f.detail))
                health.last_reason = f.reason
                if f.reason == "rejected":
                    raise ProviderRejected(f"{name} rejected the request: {f.detail}", attempts) from None
                self._record_failure(health, f.cooldown)
                continue
            health.consecutive_failures = 0
            health.last_reason = "ok"
            attempts.append(Attempt(name, "ok", 200))
            return Completion(
                completion.text,
                completion.model,
                name,
                completion.input_tokens,
                completion.output_tokens,
                tuple(attempts),
            )
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
        self, name: str, provider: Provider, model: str, system_prompt: str, question: str, trace_id: str | None
    ) -> Completion:
        base = str(provider.base_url).rstrip("/")
        key = os.environ.get(provider.api_key_env, "") if provider.api_key_env else ""
        headers = {"x-drillkit-trace-id": trace_id} if trace_id else {}
        user = [{"role": "user", "content": question}]
        if provider.api == "anthropic":
            url = f"{base}/messages"
            headers |= {"x-api-key": key or "drillkit-demo", "anthropic-version": ANTHROPIC_VERSION}
            body: dict[str, Any] = {
                "model": model,
                "max_tokens": MAX_TOKENS,
                "temperature": 0,
                "system": system_prompt,
                "messages": user,
            }
        else:
            url = f"{base}/chat/completions"
            headers["authorization"] = f"Bearer {key or 'drillkit-demo'}"
            body = {
                "model": model,
                "temperature": 0,
                "max_tokens": MAX_TOKENS,
                "messages": [{"role": "system", "content": system_prompt}, *user],
            }
        seconds = provider.timeout if self.timeout is None else self.timeout
        timeout = httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_S, seconds))
        status, reply_headers, data = await self._post(url, body, headers, timeout)
        if status >= 300:
            raise _classify(status, reply_headers, data)
        if isinstance(data, _Unreadable):
            raise _Failure("bad_response", data.detail, status)
        try:
            return _parse(name, provider.api, model, data.json())
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _Failure("bad_response", f"unusable response body: {exc!r}"[:300], status) from None

    async def _post(
        self, url: str, body: dict[str, Any], headers: dict[str, str], timeout: httpx.Timeout
    ) -> tuple[int, httpx.Headers, httpx.Response | _Unreadable]:
        """POST and read the whole body: (status, headers, the read response or why it is unreadable).

        The body is read apart from the status line, so a 5xx whose body cannot be decoded is
        still a server error, not a connection error.
        """
        request = self.client.build_request("POST", url, json=body, headers=headers, timeout=timeout)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _Failure("timeout", _timeout_kind(exc)) from None
        except httpx.RequestError as exc:
            raise _Failure("connection", f"{type(exc).__name__}: {exc}") from None
        try:
            await response.aread()
        except httpx.TimeoutException as exc:
            raise _Failure("timeout", _timeout_kind(exc), response.status_code) from None
        except httpx.DecodingError as exc:
            return response.status_code, response.headers, _Unreadable(f"undecodable body: {exc}"[:300])
        except httpx.RequestError as exc:
            raise _Failure("connection", f"{type(exc).__name__}: {exc}", response.status_code) from None
        finally:
            await response.aclose()
        return response.status_code, response.headers, response


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    return "connect timeout" if isinstance(exc, httpx.ConnectTimeout) else "read/write timeout"


def _parse(name: str, api: str, requested_model: str, data: Any) -> Completion:
    usage = data.get("usage") or {}
    if api == "anthropic":
        text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
        tokens_in, tokens_out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    else:
        text = data["choices"][0]["message"]["content"]
        tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    if not isinstance(text, str):
        raise TypeError(f"answer text is {type(text).__name__}, not str")
    return Completion(text, str(data.get("model") or requested_model), name, int(tokens_in), int(tokens_out))


def _classify(status: int, headers: httpx.Headers, data: httpx.Response | _Unreadable) -> _Failure:
    """The failure a non-2xx answer means; its body may be any JSON, not JSON, or unreadable."""
    body: Any = None
    text = ""
    if isinstance(data, httpx.Response):
        text = data.text
        try:
            body = data.json()
        except ValueError:
            body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"message": str(error)} if error else {}
    code = str(error.get("code") or error.get("type") or "")
    message = str(error.get("message") or text[:200]).strip()
    detail = f"{status} {code}: {message}".strip().rstrip(":")
    if status == 429:
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
        if code == "insufficient_quota" or details.get("error_code") == "enforced_spend_limit_reached":
            return _Failure("quota", detail, status, QUOTA_COOLDOWN_S)
        wait = retry_after_seconds(headers)
        wait = COOLDOWN_S if wait is None else wait
        return _Failure("rate_limited", detail, status, min(wait, MAX_RETRY_AFTER_S))
    if status == 408:
        return _Failure("timeout", detail, status)
    if status >= 500:
        return _Failure("server_error", detail, status)
    return _Failure("rejected", detail, status)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


__all__ = [
    "AllProvidersFailed",
    "Attempt",
    "Completion",
    "ProviderRejected",
    "Router",
    "RouterError",
    "retry_after_seconds",
]
