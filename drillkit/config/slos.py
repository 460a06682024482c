"""SLOs and where their signal comes from (contract: DESIGN §5 and §9.3).

An SLO is a number, judged on drillkit's own traffic (`latency_p95_ms: 800`), or an object naming a
PromQL query whose result is the SLO's value in each window (`error_rate: {objective: 0.02,
promql: '...'}`), evaluated at the window's end against the manifest's `prometheus`. A query that
returns no samples leaves the SLO unjudged in that window, never healthy.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, HttpUrl, Tag

from drillkit.config.types import Duration, Headers, Strict


class SloSource(Strict):
    """An SLO whose value comes from the team's own monitoring instead of drillkit's traffic."""

    objective: float = Field(ge=0, description="The objective, in the SLO's unit (as the plain-number form).")
    promql: str = Field(
        min_length=1,
        description="PromQL whose result is the SLO's value, evaluated at each window's end against the manifest's "
        "`prometheus` (an instant query: one series; several: the worst counts; none: unjudged).",
    )


def _source(value: Any) -> str:
    """Which form an SLO takes: a mapping is `{objective, promql}`, anything else a number.
    (The tags are in parentheses so error messages name the field, not the form.)"""
    return "(promql)" if isinstance(value, dict | SloSource) else "(number)"


def _number_or_query(number: Any) -> Any:
    return Annotated[Annotated[number, Tag("(number)")] | Annotated[SloSource, Tag("(promql)")], Discriminator(_source)]


Positive = _number_or_query(Annotated[float, Field(gt=0)])
NonNegative = _number_or_query(Annotated[float, Field(ge=0)])
Share = _number_or_query(Annotated[float, Field(ge=0, le=1)])


class Slos(Strict):
    """SLO objectives, judged per window; an SLO left unset is not judged.

    Each is a number (judged on drillkit's own traffic) or `{objective, promql}` (judged on the
    query's value). Under a scenario's `guardrails.abort_if` the same keys are abort thresholds
    instead."""

    latency_p95_ms: Positive | None = Field(
        default=None,
        description="Highest 95th-percentile end-to-end latency of successful requests, in milliseconds.",
    )
    latency_p99_ms: Positive | None = Field(
        default=None,
        description="Highest 99th-percentile end-to-end latency of successful requests, in milliseconds.",
    )
    ttft_p95_ms: Positive | None = Field(
        default=None,
        description="Highest 95th-percentile time to first token of streamed answers, in ms (needs `traffic.stream`).",
    )
    ttft_p99_ms: Positive | None = Field(
        default=None,
        description="Highest 99th-percentile time to first token of streamed answers, in ms (needs `traffic.stream`).",
    )
    error_rate: Share | None = Field(
        default=None,
        description="Highest share (0–1) of failed requests: non-2xx, timeouts, dropped and unanswered all count.",
    )
    eval_pass_rate: Share | None = Field(
        default=None,
        description="Lowest share (0–1) of judged answers passing their eval assertions; also the default envelope of "
        "eval checks.",
    )
    cost_per_request_usd: NonNegative | None = Field(
        default=None,
        description="Highest mean cost in USD per request that got an HTTP answer.",
    )
    cost_per_success_usd: NonNegative | None = Field(
        default=None,
        description="Highest cost in USD per successful request (total cost / successful requests).",
    )

    def objectives(self) -> dict[str, float]:
        """SLO name → objective, for the SLOs that are set (whatever their source)."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                out[name] = value.objective if isinstance(value, SloSource) else float(value)
        return out

    def objective(self, name: str) -> float | None:
        return self.objectives().get(name)

    def queries(self) -> dict[str, str]:
        """SLO name → PromQL, for the SLOs whose signal is a query."""
        return {
            name: value.promql
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SloSource)
        }


class Prometheus(Strict):
    """The team's Prometheus: where `promql` SLOs (and guardrails) are evaluated during a game-day."""

    url: HttpUrl = Field(description="Base URL of the Prometheus HTTP API, e.g. `http://127.0.0.1:9090`.")
    headers: Headers = Field(
        default={},
        description="Headers sent with each query (e.g. `Authorization: Bearer ${PROM_TOKEN}`); `${VAR}` is read from "
        "the environment when used. Values are never stored.",
    )
    timeout: Duration = Field(
        default=2.0, description="How long one query may take; a slower one leaves its SLOs unjudged."
    )


__all__ = ["Prometheus", "SloSource", "Slos"]
