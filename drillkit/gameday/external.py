"""SLO signals drillkit does not measure itself (DESIGN §9.3): PromQL and the eval probe.

A `promql` SLO (or guardrail) is evaluated as an instant query at each window's end against the
manifest's `prometheus`; its value replaces the window's own measurement of that SLO, and it is
judged in every window whatever drillkit's traffic was (an observe-only game-day sends none). A
query that fails, times out or returns no samples leaves the SLO unjudged in that window (and
says why in the window's `sources`), never healthy. Several series: the worst counts.

The eval probe (`traffic.eval_probe`) runs `cases` cases of the suite every `every` seconds; a
batch's result is judged in the window it completed in, so quality is judged over a span at least
`every` long and the windows between batches leave it unjudged (an unjudged window neither breaks
nor extends a run of bad windows).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from drillkit.config.slos import Prometheus
from drillkit.config.traffic import EvalProbe
from drillkit.config.types import expand_headers
from drillkit.evals.runner import run_suite
from drillkit.evals.suite import EvalSuite
from drillkit.evals.wire import Wire
from drillkit.traffic.slo import LOWER_IS_WORSE, MIN_EVAL_SAMPLES, SloWindow, wilson_upper, worse


class PromClient:
    """Instant queries against one Prometheus; header values are sent, never kept elsewhere."""

    def __init__(self, prometheus: Prometheus) -> None:
        self.url = str(prometheus.url).rstrip("/") + "/api/v1/query"
        headers = expand_headers(prometheus.headers, "prometheus.headers")
        self._client = httpx.AsyncClient(timeout=prometheus.timeout, headers=headers, trust_env=False)

    async def value(self, query: str, at: float, worst: str) -> tuple[float | None, str]:
        """The query's value at wall time `at` (None: unjudged) and how it went, in words."""
        try:
            response = await self._client.get(self.url, params={"query": query, "time": f"{at:.3f}"})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return None, f"promql: {type(exc).__name__}"
        if response.status_code != 200 or body.get("status") != "success":
            return None, f"promql: HTTP {response.status_code} {str(body.get('error', ''))[:120]}".rstrip()
        values = _sample_values(body.get("data") or {})
        if not values:
            return None, "promql: no samples"
        return (min(values) if worst == "min" else max(values)), "promql"

    async def close(self) -> None:
        await self._client.aclose()


def _sample_values(data: dict[str, Any]) -> list[float]:
    result = data.get("result")
    if data.get("resultType") == "scalar" and isinstance(result, list) and len(result) == 2:
        points = [result]
    elif data.get("resultType") == "vector" and isinstance(result, list):
        points = [r.get("value") for r in result if isinstance(r, dict)]
    else:
        return []
    out = []
    for point in points:
        try:
            number = float(point[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(number):
            out.append(number)
    return out


@dataclass
class ProbeBatch:
    finished: float  # monotonic
    passed: int
    total: int


@dataclass
class ExternalSignals:
    """What judges a window beyond drillkit's own samples: queries per SLO/guardrail, probe batches."""

    objectives: dict[str, float]
    queries: dict[str, str]
    guardrails: dict[str, float] = field(default_factory=dict)
    guardrail_queries: dict[str, str] = field(default_factory=dict)
    prom: PromClient | None = None
    batches: list[ProbeBatch] = field(default_factory=list)
    probing: bool = False

    async def judge(self, window: SloWindow) -> SloWindow:
        """`window`, with its query-sourced and probe-sourced SLOs (and guardrails) judged."""
        if not (self.queries or self.guardrail_queries or self.probing):
            return window
        at = time.time() - (time.monotonic() - window.end)
        metrics, guards, sources = await self._measure(window, at)
        breached = [n for n in window.breached if n not in metrics]
        unjudged = [n for n in window.unjudged if n not in metrics]
        for name, value in metrics.items():
            if name not in self.objectives:
                continue
            if value is None:
                unjudged.append(name)
            elif self._breaches(name, value, self.objectives[name], metrics):
                breached.append(name)
        tripped = [n for n in window.tripped if n not in guards]
        for name, value in guards.items():
            threshold = self.guardrails[name]
            if value is not None and (value == threshold or worse(name, value, threshold)):
                tripped.append(name)
        judged = set(self.objectives) - set(unjudged)
        state = "breaching" if breached else ("healthy" if judged else "insufficient")
        fields = {k: v for k, v in metrics.items() if k in SloWindow.model_fields}
        return window.model_copy(update={**fields, "state": state, "breached": breached, "unjudged": unjudged,
                                         "tripped": tripped, "sources": sources})  # fmt: skip

    async def _measure(
        self, window: SloWindow, at: float
    ) -> tuple[dict[str, Any], dict[str, float | None], dict[str, str]]:
        """SLO values (with the probe's counts), guardrail values, and where each came from."""
        metrics: dict[str, Any] = {}
        sources: dict[str, str] = {}
        asked = [("slo", n, q) for n, q in self.queries.items()]
        asked += [("guard", n, q) for n, q in self.guardrail_queries.items()]
        guards: dict[str, float | None] = {}
        if asked and self.prom is not None:
            results = await asyncio.gather(
                *(self.prom.value(q, at, "min" if n in LOWER_IS_WORSE else "max") for _, n, q in asked)
            )
            for (kind, name, _), (value, how) in zip(asked, results, strict=True):
                if kind == "slo":
                    metrics[name], sources[name] = value, how
                else:
                    guards[name] = value
                    sources.setdefault(f"abort_if.{name}", how)
        if self.probing and "eval_pass_rate" not in self.queries:
            done = [b for b in self.batches if window.start < b.finished <= window.end]
            total, passed = sum(b.total for b in done), sum(b.passed for b in done)
            metrics["eval_pass_rate"] = passed / total if total >= MIN_EVAL_SAMPLES else None
            metrics["eval_count"], metrics["eval_passed"] = total, passed
            sources["eval_pass_rate"] = "probe" if done else "probe: no batch finished in this window"
        return metrics, guards, sources

    @staticmethod
    def _breaches(name: str, value: float, objective: float, metrics: dict[str, Any]) -> bool:
        if name == "eval_pass_rate" and "eval_count" in metrics:  # probe answers: the same confidence bound
            return wilson_upper(metrics["eval_passed"], metrics["eval_count"]) < objective
        return worse(name, value, objective)

    async def close(self) -> None:
        if self.prom is not None:
            await self.prom.close()


async def run_probe(signals: ExternalSignals, suite: EvalSuite, url: str, wire: Wire, probe: EvalProbe) -> None:
    """Every `probe.every` s, run the next `probe.cases` cases (in turn through the suite) and
    record the batch; runs until cancelled. A batch whose requests fail counts them as failed."""
    cases = suite.cases
    offset = 0
    while True:
        started = time.monotonic()
        batch = [cases[(offset + i) % len(cases)] for i in range(min(probe.cases, len(cases)))]
        offset = (offset + len(batch)) % len(cases)
        result = await run_suite(suite.model_copy(update={"cases": batch}), url, wire=wire,
                                 concurrency=min(8, len(batch)), timeout=min(probe.every * 2, 30.0))  # fmt: skip
        signals.batches.append(ProbeBatch(time.monotonic(), result.passed, result.total))
        await asyncio.sleep(max(0.0, probe.every - (time.monotonic() - started)))
