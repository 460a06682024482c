"""What the LLM fault proxy's routes report: the `RouteMetrics` interface the data plane
(`drillkit.proxy.http`) calls, the `Answer` that times one request, and `PrometheusMetrics`, the
implementation the control plane (`drillkit.proxy.llm_server`) passes and exposes on the admin
API's ``GET /metrics``.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class RouteMetrics:
    """What a route reports; the control plane passes a Prometheus-backed one."""

    OUTCOMES = ("ok", "client_error", "server_error", "aborted")  # of a request (see `Answer`)

    def track(self, route: str) -> None:
        """A route was created: its duration series start at zero, one per outcome."""

    def request(self, route: str, status: int) -> None: ...

    def fault(self, route: str, fault_type: str) -> None: ...

    def duration(self, route: str, outcome: str, seconds: float) -> None: ...


class Answer:
    """One request as the metrics see it: `sent` counts the status as the head goes out; `report`
    observes once the seconds from its head read to its last byte written, with the outcome:
    ``aborted`` unless ``complete`` (the upstream or a fault broke the response, the client left,
    the route stopped), else ``ok`` (status < 400), ``client_error`` (4xx) or ``server_error``."""

    __slots__ = ("complete", "metrics", "route", "started", "status")

    def __init__(self, metrics: RouteMetrics, route: str) -> None:
        self.metrics, self.route = metrics, route
        self.status, self.complete, self.started = 0, False, time.perf_counter()

    def sent(self, status: int) -> None:
        self.status = status
        self.metrics.request(self.route, status)

    def report(self) -> None:
        if self.started:  # 0.0 once reported
            code, seconds = self.status, time.perf_counter() - self.started
            outcome = "ok" if code < 400 else "client_error" if code < 500 else "server_error"
            self.metrics.duration(self.route, outcome if self.complete else "aborted", seconds)
            self.started = 0.0


class PrometheusMetrics(RouteMetrics):
    """The data plane's metrics; label children are cached (the hot path only calls inc/observe).
    ``drillkit_llm_proxy_request_duration_seconds{route, outcome}`` (`RouteMetrics.OUTCOMES`)
    starts at zero for every outcome of a route when the route is created."""

    def __init__(self, registry: CollectorRegistry) -> None:
        pre, by_status, by_type = "drillkit_llm_proxy", ["route", "status"], ["route", "type"]
        self.requests = Counter(f"{pre}_requests", "Responses by route and status", by_status, registry=registry)
        self.applied = Counter(f"{pre}_faults_applied", "Faults drawn for a request", by_type, registry=registry)
        self.active = Gauge(f"{pre}_active_faults", "Faults on a route", by_type, registry=registry)
        self.durations = Histogram(
            f"{pre}_request_duration_seconds", "Time from a request's head read to its answer's last byte written",
            ["route", "outcome"], buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self._children: dict[tuple[str, str, str], Any] = {}

    def _child(self, metric: Counter | Histogram, kind: str, route: str, label: str) -> Any:
        key = (kind, route, label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(route, label)
        return child

    def request(self, route: str, status: int) -> None:
        self._child(self.requests, "r", route, str(status)).inc()

    def fault(self, route: str, fault_type: str) -> None:
        self._child(self.applied, "f", route, fault_type).inc()

    def track(self, route: str) -> None:
        for outcome in self.OUTCOMES:
            self._child(self.durations, "d", route, outcome)

    def duration(self, route: str, outcome: str, seconds: float) -> None:
        self._child(self.durations, "d", route, outcome).observe(seconds)


__all__ = ["DURATION_BUCKETS", "Answer", "PrometheusMetrics", "RouteMetrics"]
