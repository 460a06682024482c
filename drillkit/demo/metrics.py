"""The demo service's Prometheus metrics, in a registry of its own (several apps share a process).

Series (label values below):

- `drillkit_demo_requests_total{provider, model, outcome}`: answers;
- `drillkit_demo_request_duration_seconds{provider, model, outcome}`: time to answer (histogram,
  `LATENCY_BUCKETS`), so p95/p99 can be read per provider and model;
- `drillkit_demo_provider_errors_total{provider, reason}`: failed provider attempts;
- `drillkit_demo_cost_usd_total{provider, model}`, `drillkit_demo_tokens_total{direction}`;
- `drillkit_demo_tool_calls_total{tool, status}`;
- `drillkit_demo_lever_on{lever}`: 1 while a lever that changes answers is on, else 0 (`lever` is
  degrade | kill_switch; read from the lever state at each scrape).

`outcome` is ok | bad_request | rejected | unavailable | error | kill_switch (the kill switch's
static answer: no provider called; a degraded answer is `ok`, its provider and model say who
answered); `provider` and `model` are "none" when no provider answered; `reason` is a router
`Attempt.reason`; `direction` is input | output; the tool counter's `status` is the HTTP status,
`timeout` or `error`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from drillkit.demo.router import Attempt, Completion

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 7.5, 10.0)
REQUEST_LABELS = ["provider", "model", "outcome"]


class ServiceMetrics:
    """The service's metrics (see the module doc)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("drillkit_demo_requests", "Answers by outcome", REQUEST_LABELS, registry=r)
        self.duration = Histogram(
            "drillkit_demo_request_duration_seconds",
            "Time to answer",
            REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_errors = Counter(
            "drillkit_demo_provider_errors", "Failed provider attempts", ["provider", "reason"], registry=r
        )
        self.cost = Counter("drillkit_demo_cost_usd", "Provider cost in USD", ["provider", "model"], registry=r)
        self.tokens = Counter("drillkit_demo_tokens", "Tokens by direction", ["direction"], registry=r)
        self.tool_calls = Counter("drillkit_demo_tool_calls", "Tool calls by status", ["tool", "status"], registry=r)
        self.levers = Gauge("drillkit_demo_lever_on", "Levers that change answers: 1 while on", ["lever"], registry=r)

    def observe_request(self, outcome: str, provider: str | None, model: str | None, seconds: float) -> None:
        labels = (provider or "none", model or "none", outcome)
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def observe_attempts(self, attempts: Iterable[Attempt]) -> None:
        for a in attempts:
            if a.is_error:
                self.provider_errors.labels(a.provider, a.reason).inc()

    def observe_success(self, completion: Completion, cost_usd: float) -> None:
        self.cost.labels(completion.provider, completion.model).inc(cost_usd)
        self.tokens.labels("input").inc(completion.input_tokens)
        self.tokens.labels("output").inc(completion.output_tokens)

    def show_levers(self, *, degrade: bool, kill_switch: bool) -> None:
        self.levers.labels("degrade").set(int(degrade))
        self.levers.labels("kill_switch").set(int(kill_switch))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["LATENCY_BUCKETS", "ServiceMetrics"]
