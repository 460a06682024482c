"""Run an eval suite against a service: post each case, judge the response, weigh the pass rate.

`run_suite` never raises for what the service does: a transport error, a timeout, a non-2xx
status or a body that is not JSON makes that case fail with the reason in `CaseResult.error`.
Whether the service was reachable at all is `SuiteResult.unreachable`; callers decide what that
means (the CLI turns it into a `ServiceError`).

A service on a loopback address is always called directly: `HTTP(S)_PROXY` in the environment
applies to other hosts only (a corporate proxy cannot reach the laptop's 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from drillkit.errors import InputError
from drillkit.evals.assertions import AssertionResult, check
from drillkit.evals.suite import Assertion, Case, EvalSuite
from drillkit.evals.wire import Wire

#: Called after each case finishes with (that case's result, cases done, cases selected).
ProgressCallback = Callable[["CaseResult", int, int], None]
ErrorKind = Literal["connect", "timeout", "transport", "http", "body"]

DEFAULT_THRESHOLD = 0.9
_EPSILON = 1e-9  # weighted sums of floats must not fall out of the envelope by rounding


@dataclass(frozen=True)
class Check:
    """One assertion and its verdict on a case's response."""

    assertion: Assertion
    result: AssertionResult

    def to_dict(self) -> dict[str, Any]:
        a = self.assertion
        return {
            "type": a.type,
            "value": a.value,
            "path": a.target,
            "weight": a.weight,
            "passed": self.result.passed,
            "detail": self.result.detail,
        }


@dataclass
class CaseResult:
    """The outcome of one case. `error` is set (and `checks` empty) when no JSON response came back."""

    case: Case
    checks: list[Check] = field(default_factory=list)
    status: int | None = None
    latency_ms: float | None = None
    #: USD, as the response says or as priced from its token usage; None when unknown.
    cost_usd: float | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    answer: Any = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.result.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.result.passed]

    @property
    def score(self) -> float:
        """Weighted share of the case's assertions that passed (0 when the request failed)."""
        total = sum(c.assertion.weight for c in self.checks)
        if self.error is not None or not total:
            return 0.0
        return sum(c.assertion.weight for c in self.checks if c.result.passed) / total

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.case.id,
            "tags": list(self.case.tags),
            "weight": self.case.weight,
            "passed": self.passed,
            "score": round(self.score, 4),
            "status": self.status,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "cost_usd": self.cost_usd,
            "error": self.error,
            "assertions": [c.to_dict() for c in self.checks],
        }
        if not self.passed and self.answer is not None:
            data["answer"] = self.answer
        return data


@dataclass
class SuiteResult:
    """A finished run. `pass_rate` is the weighted share of passing cases; inside ⇔ ≥ `threshold`."""

    suite: str
    service_url: str
    cases: list[CaseResult]
    threshold: float
    duration_s: float
    tags: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        """Cases that failed, including those that errored."""
        return self.total - self.passed

    @property
    def errored(self) -> int:
        """Cases that got no judgeable response (transport error, non-2xx, body not JSON)."""
        return sum(1 for c in self.cases if c.error is not None)

    @property
    def pass_rate(self) -> float:
        weight = sum(c.case.weight for c in self.cases)
        return sum(c.case.weight for c in self.cases if c.passed) / weight if weight else 0.0

    @property
    def inside_envelope(self) -> bool:
        return self.total > 0 and self.pass_rate >= self.threshold - _EPSILON

    def by_tag(self) -> dict[str, TagSummary]:
        """Per tag (untagged cases under `UNTAGGED`), in order of first appearance."""
        groups: dict[str, list[CaseResult]] = {}
        for c in self.cases:
            for tag in c.case.tags or [UNTAGGED]:
                groups.setdefault(tag, []).append(c)
        return {tag: TagSummary.of(cases) for tag, cases in groups.items()}

    @property
    def unreachable(self) -> bool:
        """True when no case could even connect to the service."""
        return self.total > 0 and all(c.error_kind == "connect" for c in self.cases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "service_url": self.service_url,
            "pass_rate": round(self.pass_rate, 4),
            "threshold": self.threshold,
            "inside_envelope": self.inside_envelope,
            "counts": {"total": self.total, "passed": self.passed, "failed": self.failed, "errored": self.errored},
            "duration_s": round(self.duration_s, 3),
            "tags": list(self.tags),
            "by_tag": {tag: t.to_dict() for tag, t in self.by_tag().items()},
            "cases": [c.to_dict() for c in self.cases],
        }

    def journal_record(self) -> dict[str, Any]:
        """What a journal keeps of this run: rate, envelope, case counts, failing case ids (the
        `eval` entry of an incident, the `evals` of a game-day's `verify`)."""
        return {
            "pass_rate": round(self.pass_rate, 4),
            "threshold": self.threshold,
            "inside_envelope": self.inside_envelope,
            "total": self.total,
            "failed": self.failed,
            "by_tag": {tag: t.to_dict() for tag, t in self.by_tag().items()},
            "suite": self.suite,
            "duration_s": round(self.duration_s, 3),
            "failing": [c.case.id for c in self.cases if not c.passed],
        }


UNTAGGED = "(untagged)"


@dataclass(frozen=True)
class TagSummary:
    """The cases of one tag: how many, how many passed, their weighted pass rate."""

    total: int
    passed: int
    pass_rate: float

    @classmethod
    def of(cls, cases: Sequence[CaseResult]) -> TagSummary:
        weight = sum(c.case.weight for c in cases)
        passed_weight = sum(c.case.weight for c in cases if c.passed)
        rate = passed_weight / weight if weight else 0.0
        return cls(len(cases), sum(1 for c in cases if c.passed), rate)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "passed": self.passed, "pass_rate": round(self.pass_rate, 4)}


async def run_suite(
    suite: EvalSuite,
    service_url: str,
    *,
    concurrency: int = 8,
    timeout: float = 30.0,
    tags: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    client: httpx.AsyncClient | None = None,
    progress: ProgressCallback | None = None,
    wire: Wire | None = None,
) -> SuiteResult:
    """POST each selected case's input as JSON to `service_url`, at most `concurrency` at a time.

    `timeout` (seconds) bounds each request. `tags` selects cases carrying any of them (all cases
    when empty); no matching case is an `InputError`. A given `client` is used as is and left
    open; otherwise one is made and closed here. Results keep the suite's case order. `wire` is
    the service's wire format (`Wire.of(system)`: api, headers, where the answer and cost are);
    drillkit's own `json` shape when not given.
    """
    wire = wire or Wire()
    if concurrency < 1:
        raise InputError(f"concurrency must be ≥ 1 (got {concurrency})")
    cases = suite.select(tags)
    if not cases:
        raise InputError(f"no case in suite {suite.name!r} has any of the tags {', '.join(tags or [])}")
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(http: httpx.AsyncClient, case: Case) -> CaseResult:
        nonlocal done
        async with gate:
            result = await run_case(http, suite, case, service_url, timeout, wire)
        done += 1
        if progress is not None:
            progress(result, done, len(cases))
        return result

    started = time.perf_counter()
    if client is not None:
        results = await asyncio.gather(*(one(client, c) for c in cases))
    else:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        trust_env = not is_loopback_url(service_url)  # see the module doc
        async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=trust_env) as http:
            results = await asyncio.gather(*(one(http, c) for c in cases))
    return SuiteResult(
        suite=suite.name,
        service_url=service_url,
        cases=list(results),
        threshold=threshold,
        duration_s=time.perf_counter() - started,
        tags=list(tags or []),
    )


async def run_case(
    http: httpx.AsyncClient, suite: EvalSuite, case: Case, service_url: str, timeout: float, wire: Wire | None = None
) -> CaseResult:
    """Post one case and judge its response; failures to get a JSON response are recorded, not raised."""
    wire = wire or Wire()
    started = time.perf_counter()
    try:
        body, headers = wire.body(case.payload), wire.request_headers()
        response = await http.post(service_url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        kind: ErrorKind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "timeout"
        return CaseResult(case, error=f"no response within {timeout:g} s ({type(exc).__name__})", error_kind=kind)
    except httpx.ConnectError as exc:
        return CaseResult(case, error=f"connection failed: {exc or type(exc).__name__}", error_kind="connect")
    except httpx.RequestError as exc:  # protocol errors, a body that cannot be decoded, ...
        return CaseResult(case, error=f"{type(exc).__name__}: {exc or 'request failed'}", error_kind="transport")
    latency_ms = (time.perf_counter() - started) * 1000
    result = CaseResult(case, status=response.status_code, latency_ms=latency_ms)
    if not response.is_success:
        result.error, result.error_kind = f"HTTP {response.status_code}: {_brief(response.text)}", "http"
        return result
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        result.error, result.error_kind = f"response is not JSON: {_brief(response.text)}", "body"
        return result
    reply = wire.read(body, response.headers)
    result.answer, result.cost_usd = reply.judged.get("answer"), reply.cost_usd
    result.checks = [Check(a, check(a, reply.judged, latency_ms)) for a in suite.assertions_for(case)]
    return result


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host is `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _brief(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text if len(text) <= limit else text[: limit - 1] + "…"
