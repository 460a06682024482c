"""One attempt at one provider: the request it sends, and what its answer means.

`drillkit.demo.router` (its module doc lists the outcomes) loops over providers with these;
`drillkit.demo.provider_stream` reads a streamed answer.  Wire formats: docs/demo.md,
"Service → provider request".
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from drillkit.config.system import Provider
from drillkit.errors import ServiceError

CONNECT_TIMEOUT_S = 2.0
COOLDOWN_S = 5.0
MAX_RETRY_AFTER_S = 60.0
QUOTA_COOLDOWN_S = 60.0
MAX_TOKENS = 512
ANTHROPIC_VERSION = "2023-06-01"
#: Anthropic's stop reasons as OpenAI finish reasons (what `Completion.finish_reason` holds)
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


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
    """An answer: text, the model the provider REPORTED, which provider, token usage, and why
    the answer ended (an OpenAI `finish_reason`: stop, length, ...)."""

    text: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    attempts: tuple[Attempt, ...] = ()
    finish_reason: str = "stop"


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


class StreamInterrupted(RouterError):
    """A provider's stream broke after its first token: no fallback, the answer is cut short."""

    status = 502
    code = "stream_interrupted"


class AttemptFailed(Exception):
    """Why one attempt did not answer: an `Attempt.reason`, a detail, the status, a cooldown."""

    def __init__(self, reason: str, detail: str, status: int | None = None, cooldown: float | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status, self.cooldown = reason, detail, status, cooldown


@dataclass(frozen=True)
class Unreadable:
    """A response body that could not be decoded (e.g. `content-encoding: gzip` over plain bytes)."""

    detail: str


def build_request(
    client: httpx.AsyncClient,
    provider: Provider,
    model: str,
    system_prompt: str,
    question: str,
    trace_id: str | None,
    *,
    timeout: float | None = None,
    stream: bool = False,
    max_tokens: int | None = None,
) -> tuple[httpx.Request, float]:
    """The request one attempt sends, and its timeout in seconds (`timeout` overrides the provider's;
    `max_tokens`, the answer's cap, defaults to `MAX_TOKENS`)."""
    base = str(provider.base_url).rstrip("/")
    key = os.environ.get(provider.api_key_env, "") if provider.api_key_env else ""
    headers = {"x-drillkit-trace-id": trace_id} if trace_id else {}
    user = [{"role": "user", "content": question}]
    if provider.api == "anthropic":
        url = f"{base}/messages"
        headers |= {"x-api-key": key or "drillkit-demo", "anthropic-version": ANTHROPIC_VERSION}
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens or MAX_TOKENS,
            "temperature": 0,
            "system": system_prompt,
            "messages": user,
        }
        if stream:
            body["stream"] = True
    else:
        url = f"{base}/chat/completions"
        headers["authorization"] = f"Bearer {key or 'drillkit-demo'}"
        body = {
            "model": model,
            "temperature": 0,
            "max_tokens": max_tokens or MAX_TOKENS,
            "messages": [{"role": "system", "content": system_prompt}, *user],
        }
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
    if stream:
        headers["accept"] = "text/event-stream"
    seconds = provider.timeout if timeout is None else timeout
    limits = httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_S, seconds))
    return client.build_request("POST", url, json=body, headers=headers, timeout=limits), seconds


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send and return the response with its body unread; `AttemptFailed` when there is none."""
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise AttemptFailed("timeout", timeout_kind(exc)) from None
    except httpx.RequestError as exc:
        raise AttemptFailed("connection", f"{type(exc).__name__}: {exc}") from None


async def post(
    client: httpx.AsyncClient, request: httpx.Request
) -> tuple[int, httpx.Headers, httpx.Response | Unreadable]:
    """POST and read the whole body: (status, headers, the read response or why it is unreadable).

    The body is read apart from the status line, so a 5xx whose body cannot be decoded is
    still a server error, not a connection error.
    """
    response = await send(client, request)
    try:
        data = await read_body(response)
    finally:
        await response.aclose()
    return response.status_code, response.headers, data


async def read_body(response: httpx.Response) -> httpx.Response | Unreadable:
    """Read the body of `response` (opened with `stream=True`); `AttemptFailed` when it breaks."""
    try:
        await response.aread()
    except httpx.TimeoutException as exc:
        raise AttemptFailed("timeout", timeout_kind(exc), response.status_code) from None
    except httpx.DecodingError as exc:
        return Unreadable(f"undecodable body: {exc}"[:300])
    except httpx.RequestError as exc:
        raise AttemptFailed("connection", f"{type(exc).__name__}: {exc}", response.status_code) from None
    return response


def timeout_kind(exc: httpx.TimeoutException) -> str:
    return "connect timeout" if isinstance(exc, httpx.ConnectTimeout) else "read/write timeout"


def parse_completion(name: str, api: str, requested_model: str, data: Any) -> Completion:
    usage = data.get("usage") or {}
    if api == "anthropic":
        text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
        tokens_in, tokens_out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
        stop = data.get("stop_reason")
        finish = FINISH_REASONS.get(stop, str(stop)) if stop else "stop"
    else:
        choice = data["choices"][0]
        text = choice["message"]["content"]
        tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        finish = str(choice.get("finish_reason") or "stop")
    if not isinstance(text, str):
        raise TypeError(f"answer text is {type(text).__name__}, not str")
    model = str(data.get("model") or requested_model)
    return Completion(text, model, name, int(tokens_in), int(tokens_out), finish_reason=finish)


def classify(status: int, headers: httpx.Headers, data: httpx.Response | Unreadable) -> AttemptFailed:
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
            return AttemptFailed("quota", detail, status, QUOTA_COOLDOWN_S)
        wait = retry_after_seconds(headers)
        wait = COOLDOWN_S if wait is None else wait
        return AttemptFailed("rate_limited", detail, status, min(wait, MAX_RETRY_AFTER_S))
    if status == 408:
        return AttemptFailed("timeout", detail, status)
    if status >= 500:
        return AttemptFailed("server_error", detail, status)
    return AttemptFailed("rejected", detail, status)


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
    "AttemptFailed",
    "Completion",
    "ProviderRejected",
    "RouterError",
    "StreamInterrupted",
    "Unreadable",
    "build_request",
    "classify",
    "parse_completion",
    "post",
    "read_body",
    "retry_after_seconds",
    "send",
]
