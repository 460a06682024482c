"""The load generator's results: one `Sample` per scheduled request, and the counters (`LoadStats`).

`LoadGenerator` (`drillkit.traffic.load`) schedules and sends; this module turns what came back
into samples: `answered` (a response, judged by its evals), `failed` (no response) and
`dropped` (never sent). Every time is seconds on the generator's clock and `latency_ms` runs
from the *scheduled* time, so queueing counts (no coordinated omission).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drillkit.evals.assertions import check
from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire, question_of
from drillkit.traffic.transport import StreamedResponse


class Sample(BaseModel):
    """One scheduled request and what came of it. Times are seconds on the generator's clock."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="0-based position in the schedule")
    scheduled: float = Field(description="s: when the request was due")
    started: float | None = Field(description="s: when it was sent; None if dropped")
    finished: float = Field(description="s: when the response (or the failure) came")
    latency_ms: float = Field(description="ms from scheduled to finished: includes queueing")
    ttft_ms: float | None = Field(
        default=None, description="streamed requests: ms from scheduled to the first token (None: no token came)"
    )
    status: int | None = None
    ok: bool = Field(description="a 2xx response with a JSON object body")
    dropped: bool = False
    provider: str | None = None
    model: str | None = None
    cost_usd: float | None = None
    error: str | None = None
    eval_passed: bool | None = Field(default=None, description="None when no eval applies or the request failed")
    eval_failed: list[str] = Field(default=[], description="labels of the assertions that failed")
    trace_id: str | None = None

    @property
    def queued_ms(self) -> float | None:
        """ms between the scheduled time and the send (schedule slip plus waiting for a slot)."""
        return None if self.started is None else (self.started - self.scheduled) * 1000


class LoadStats(BaseModel):
    """Counters since `start()`."""

    scheduled: int = 0
    sent: int = 0
    completed: int = Field(default=0, description="samples delivered, dropped ones included")
    dropped: int = 0
    cancelled: int = Field(default=0, description="cut short by stop(); not delivered as samples")
    in_flight: int = 0
    max_in_flight: int = 0


@dataclasses.dataclass(slots=True)
class Counters:
    """LoadStats' mutable twin: counting on a pydantic model costs ~3 µs per attribute set."""

    scheduled: int = 0
    sent: int = 0
    completed: int = 0
    dropped: int = 0
    cancelled: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def stats(self) -> LoadStats:
        return LoadStats(**dataclasses.asdict(self))


def answered(
    base: dict[str, Any],
    finished: float,
    response: tuple[int, Mapping[str, str], Any],
    record: Mapping[str, Any],
    evals: Mapping[str, Sequence[Assertion]],
    wire: Wire,
) -> Sample:
    """The sample of a request that got `response` (status, headers, JSON or None).

    `base` holds index, scheduled and started; `record` is the input record the request was
    built from. The response is read through the service's `wire` (answer, served model,
    provider, cost: None when unknown). A successful response to a record whose question (its
    `question`, or its last user message) has assertions in `evals` is judged on them.
    """
    status, headers, data = response
    latency_ms = (finished - base["scheduled"]) * 1000
    info = data if isinstance(data, dict) else {}
    ok = 200 <= status < 300 and isinstance(data, dict)
    reply = wire.read(data, headers) if ok else None
    eval_passed, eval_failed = None, []
    question = question_of(record)
    assertions = evals.get(question) if reply is not None and question is not None else None
    if assertions and reply is not None:
        failed_labels = [a.label for a in assertions if not check(a, reply.judged, latency_ms).passed]
        eval_passed, eval_failed = not failed_labels, failed_labels
    return Sample(
        **base,
        finished=finished,
        latency_ms=latency_ms,
        status=status,
        ok=ok,
        provider=reply.provider if reply else None,
        model=reply.served_model if reply else None,
        cost_usd=reply.cost_usd if reply else None,
        error=None if ok else _error_of(status, info),
        eval_passed=eval_passed,
        eval_failed=eval_failed,
        trace_id=_text(info.get("trace_id")) or headers.get("x-trace-id"),
    )


def streamed(
    base: dict[str, Any],
    finished: float,
    response: StreamedResponse,
    record: Mapping[str, Any],
    evals: Mapping[str, Sequence[Assertion]],
    wire: Wire,
) -> Sample:
    """The sample of a streamed request: judged on the assembled answer, with its time to first
    token. A stream that ended early (cut, stalled, an error event) is a failed request."""
    ttft_ms = None if response.first_token is None else (response.first_token - base["scheduled"]) * 1000
    if not 200 <= response.status < 300:
        sample = answered(base, finished, (response.status, response.headers, response.data), record, evals, wire)
        return sample.model_copy(update={"ttft_ms": ttft_ms})
    stream = wire.assemble(response.events, response.done)
    if stream.error or response.broken or not stream.complete:
        why = stream.error or response.broken or "cut: the stream ended before its end"
        latency_ms = (finished - base["scheduled"]) * 1000
        return Sample(**base, finished=finished, latency_ms=latency_ms, ttft_ms=ttft_ms, status=response.status,
                      ok=False, error=why)  # fmt: skip
    sample = answered(base, finished, (response.status, response.headers, stream.body), record, evals, wire)
    return sample.model_copy(update={"ttft_ms": ttft_ms})


def failed(base: dict[str, Any], finished: float, error: str) -> Sample:
    """The sample of a request sent that got no response."""
    latency_ms = (finished - base["scheduled"]) * 1000
    return Sample(**base, finished=finished, latency_ms=latency_ms, status=None, ok=False, error=error)


def dropped(index: int, scheduled: float, finished: float, reason: str) -> Sample:
    """The sample of a request never sent (no slot in time)."""
    return Sample(
        index=index,
        scheduled=scheduled,
        started=None,
        finished=finished,
        latency_ms=(finished - scheduled) * 1000,
        ok=False,
        dropped=True,
        error=f"dropped: {reason}",
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _error_of(status: int, info: dict[str, Any]) -> str:
    """`HTTP 503 all_providers_failed`, or what was wrong with a 2xx body."""
    if 200 <= status < 300:
        return "body is not a JSON object"
    error = info.get("error")
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return f"HTTP {status}" + (f" {code}" if isinstance(code, str) else "")


__all__ = ["Counters", "LoadStats", "Sample", "answered", "dropped", "failed"]
