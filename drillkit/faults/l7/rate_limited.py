"""`rate_limited`: 429 rate-limit errors with the provider's rate-limit headers.

Two modes.  Without a budget, every request the fault is drawn for gets a 429 with
`retry-after: <retry_after>` (toxicity sets the share).  With `requests_per_window` and/or
`tokens_per_window`, the fault keeps a fixed window of `window` seconds (started by the first
request): requests pass until the window's budget is spent, then get a 429 whose `retry-after`
is the time left in the window (whole seconds, rounded up).  A request's tokens are estimated as
OpenAI counts them against a tokens-per-minute limit: prompt size (body bytes / 4) plus
`max_tokens`.  Rejected requests do not spend budget.

openai: `{"error": {"type": "requests"|"tokens", "code": "rate_limit_exceeded"}}` with
`x-ratelimit-limit|remaining|reset-requests|tokens` (reset as a duration like `1s`, `250ms`);
anthropic: `rate_limit_error` with `anthropic-ratelimit-requests|tokens-limit|remaining|reset`
(reset as an RFC 3339 time); json: `{"error": {"code": "rate_limit_exceeded"}}`.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from pydantic import Field

from drillkit.config.types import Duration
from drillkit.faults.l7.base import Attributes, Exchange, Fault, Reply, ShortCircuit, error_reply
from drillkit.faults.l7.http_error import format_seconds

#: The clock budget windows are measured on (seconds, monotonic). A module attribute so that unit
#: tests can move time on without waiting (tests/faults/test_l7_unit.py).
clock = time.monotonic


class RateLimitedAttributes(Attributes):
    retry_after: float = Field(default=1.0, ge=0, description="seconds; the wait advertised without a budget")
    requests_per_window: int | None = Field(default=None, ge=0)
    tokens_per_window: int | None = Field(default=None, ge=0)
    window: Duration = 60.0


def estimate_tokens(ex: Exchange) -> int:
    body = ex.json() or {}
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    completion = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    return len(ex.body) // 4 + completion


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `6ms`, `1s`, `1m30s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if minutes else f"{rest:.3g}s"


class RateLimitedFault(Fault, ShortCircuit):
    type = "rate_limited"
    attributes_model = RateLimitedAttributes

    def __init__(self, spec: object) -> None:
        super().__init__(spec)
        self._window_start: float | None = None
        self._requests = 0
        self._tokens = 0

    async def before(self, ex: Exchange) -> Reply | None:
        a: RateLimitedAttributes = self.attrs
        if a.requests_per_window is None and a.tokens_per_window is None:
            return self._reply(ex, "requests", a.retry_after, {"requests": (None, 0)})
        now = clock()
        if self._window_start is None or now - self._window_start >= a.window:
            self._window_start, self._requests, self._tokens = now, 0, 0
        cost = estimate_tokens(ex) if a.tokens_per_window is not None else 0
        over_requests = a.requests_per_window is not None and self._requests + 1 > a.requests_per_window
        over_tokens = a.tokens_per_window is not None and self._tokens + cost > a.tokens_per_window
        if not (over_requests or over_tokens):
            self._requests += 1
            self._tokens += cost
            return None
        left = max(0.001, self._window_start + a.window - now)
        budgets: dict[str, tuple[int | None, int]] = {}
        if a.requests_per_window is not None:
            budgets["requests"] = (a.requests_per_window, max(0, a.requests_per_window - self._requests))
        if a.tokens_per_window is not None:
            budgets["tokens"] = (a.tokens_per_window, max(0, a.tokens_per_window - self._tokens))
        return self._reply(ex, "requests" if over_requests else "tokens", float(math.ceil(left)), budgets)

    def _reply(self, ex: Exchange, kind: str, wait: float, budgets: dict[str, tuple[int | None, int]]) -> Reply:
        headers = {"retry-after": format_seconds(wait)}
        reset_at = datetime.now(UTC) + timedelta(seconds=wait)
        for family, (limit, remaining) in budgets.items():
            if ex.api == "anthropic":
                prefix = f"anthropic-ratelimit-{family}"
                if limit is not None:
                    headers[f"{prefix}-limit"] = str(limit)
                headers[f"{prefix}-remaining"] = str(remaining)
                headers[f"{prefix}-reset"] = reset_at.isoformat(timespec="seconds").replace("+00:00", "Z")
            else:
                if limit is not None:
                    headers[f"x-ratelimit-limit-{family}"] = str(limit)
                headers[f"x-ratelimit-remaining-{family}"] = str(remaining)
                headers[f"x-ratelimit-reset-{family}"] = _duration(wait)
        model = ex.requested_model or "this model"
        if ex.api == "anthropic":
            message = (
                f"This request would exceed the rate limit for your organization of {kind} per window for {model}. "
                "Please try again later."
            )
            return error_reply("anthropic", 429, message, kind="rate_limit_error", headers=headers)
        message = f"Rate limit reached for {model} on {kind}. Please try again in {_duration(wait)}."
        return error_reply(ex.api, 429, message, kind=kind, code="rate_limit_exceeded", headers=headers)
