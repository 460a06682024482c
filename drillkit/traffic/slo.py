"""SLO windows: what a window of traffic measured, whether it meets the SLOs, and guardrails.

    evaluator = SloEvaluator.for_scenario(scenario, system)
    window = evaluator.judge(index, start, end, samples, pending=0)
    window.state          # "healthy" | "breaching" | "insufficient"
    window.breached       # e.g. ["eval_pass_rate"]; window.tripped: guardrails (abort_if) hit

Definitions (per window; samples belong to the window of their *scheduled* time):

- `count` = samples + `pending` (requests still unanswered when the window closed; they count as
  errors: a user has waited the whole window and its grace). `errors` = count − ok, so dropped,
  timed-out, non-2xx and pending requests are all errors; `error_rate` = errors / count.
- Latency percentiles (ms, nearest-rank) are over successful samples only: a fast 503 must not
  flatter the latency SLO, and failures are the error rate's to judge.
- `eval_pass_rate` = passed / judged over samples where an eval applied (`Sample.eval_passed`).
- `cost_per_request_usd` = total `cost_usd` / samples that got an HTTP response;
  `cost_per_success_usd` = total cost / ok samples (what one successful action costs).

Judgement: a window with fewer than `min_samples` (default max(3, ⌈rate × window / 4⌉)) is
`insufficient`, neither healthy nor breaching. Otherwise each configured SLO is judged when it has
enough data — a percentile q needs ⌈0.5 / (1 − q)⌉ successful samples (p95: 10, p99: 50, so on
average half a sample lies beyond it) and the eval pass rate `MIN_EVAL_SAMPLES` — else it is
listed in `unjudged`. An SLO is breached when strictly worse than its objective (latency, error
rate, cost above; eval pass rate below). Guardrails (`abort_if`) trip when a value is *at or
beyond* the threshold (so `error_rate: 1.0` can trip), on sufficient windows only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from drillkit.config.system import Slos
from drillkit.traffic.load import Sample

if TYPE_CHECKING:
    from drillkit.config.scenario import Scenario
    from drillkit.config.system import System

WindowState = Literal["healthy", "breaching", "insufficient"]

#: Fewest judged samples for the eval pass rate to be judged in a window.
MIN_EVAL_SAMPLES = 3
#: SLOs where a lower value is worse (all others: higher is worse).
LOWER_IS_WORSE = frozenset({"eval_pass_rate"})
_PERCENTILES = {"latency_p95_ms": 0.95, "latency_p99_ms": 0.99, "ttft_p95_ms": 0.95, "ttft_p99_ms": 0.99}
#: Which sample count a percentile SLO is judged on.
_PERCENTILE_SAMPLES = {"latency_p95_ms": "latency_samples", "latency_p99_ms": "latency_samples",
                       "ttft_p95_ms": "ttft_samples", "ttft_p99_ms": "ttft_samples"}  # fmt: skip


def samples_needed(name: str) -> int | None:
    """Successful samples a window needs to judge a percentile SLO (None: not a percentile)."""
    q = _PERCENTILES.get(name)
    return min_samples_for_percentile(q) if q is not None else None


class SloWindow(BaseModel):
    """One judged window. Times are seconds on the load clock; `end` is exclusive."""

    index: int
    start: float
    end: float
    count: int
    ok: int
    errors: int
    dropped: int
    pending: int = Field(
        description="unanswered when the window closed; counted as errors (as OK in an `early` window)"
    )
    early: bool = Field(default=False, description="closed before its answers were in: its breach was already certain")
    error_rate: float | None
    latency_samples: int = Field(description="successful samples the percentiles are over")
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    ttft_samples: int = Field(default=0, description="streamed successful samples with a first token")
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    eval_count: int
    eval_passed: int
    eval_pass_rate: float | None
    cost_usd: float
    cost_per_request_usd: float | None
    cost_per_success_usd: float | None
    by_provider: dict[str, int]
    by_model: dict[str, int]
    state: WindowState
    breached: list[str] = Field(description="SLO names strictly worse than their objective")
    unjudged: list[str] = Field(description="configured SLOs this window had too little data to judge")
    tripped: list[str] = Field(default=[], description="guardrails (abort_if) at or beyond their threshold")
    sources: dict[str, str] = Field(
        default={}, description="SLOs judged on a signal other than this window's samples: `promql`, `probe`"
    )

    def value(self, slo: str) -> float | None:
        """The window's measured value for an SLO name (`latency_p95_ms`, `error_rate`, ...)."""
        return getattr(self, slo)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in (0, 1]) of ascending values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def min_samples_for_percentile(q: float) -> int:
    """Successful samples needed before percentile q is judged (half a sample expected beyond it)."""
    return math.ceil(0.5 / (1 - q) - 1e-9)


def measure(index: int, start: float, end: float, samples: Sequence[Sample], pending: int = 0) -> dict[str, Any]:
    """The window's metrics (every `SloWindow` field but the judgement), from its samples."""
    ok = [s for s in samples if s.ok]
    count = len(samples) + pending
    answered = sum(1 for s in samples if s.status is not None)
    latencies = sorted(s.latency_ms for s in ok)
    ttfts = sorted(s.ttft_ms for s in ok if s.ttft_ms is not None)
    judged = [s.eval_passed for s in samples if s.eval_passed is not None]
    # Cost is judged only over answers whose cost is known (read, or priced from usage); an
    # answer of unknown cost is left out, never counted as free. Error answers cost nothing.
    priced = [s for s in ok if s.cost_usd is not None]
    cost = sum(s.cost_usd for s in priced if s.cost_usd is not None)
    failed_answers = answered - len(ok)
    return {
        "index": index,
        "start": start,
        "end": end,
        "count": count,
        "ok": len(ok),
        "errors": count - len(ok),
        "dropped": sum(1 for s in samples if s.dropped),
        "pending": pending,
        "error_rate": (count - len(ok)) / count if count else None,
        "latency_samples": len(latencies),
        "latency_p95_ms": percentile(latencies, 0.95),
        "latency_p99_ms": percentile(latencies, 0.99),
        "ttft_samples": len(ttfts),
        "ttft_p95_ms": percentile(ttfts, 0.95),
        "ttft_p99_ms": percentile(ttfts, 0.99),
        "eval_count": len(judged),
        "eval_passed": sum(judged),
        "eval_pass_rate": sum(judged) / len(judged) if judged else None,
        "cost_usd": cost,
        "cost_per_request_usd": cost / (len(priced) + failed_answers) if priced else None,
        "cost_per_success_usd": cost / len(priced) if priced else None,
        "by_provider": dict(Counter(s.provider for s in samples if s.provider is not None)),
        "by_model": dict(Counter(s.model for s in samples if s.model is not None)),
    }


def effective_slos(system: Slos, scenario: Slos) -> Slos:
    """The system's SLOs overridden by the scenario's; a scenario's explicit `null` switches one off."""
    merged = system.model_dump()
    merged.update({name: getattr(scenario, name) for name in scenario.model_fields_set})
    return Slos(**merged)


def configured(slos: Slos) -> dict[str, float]:
    """SLO name → objective, for the SLOs that are set (a `promql` SLO's too)."""
    return slos.objectives()


class SloEvaluator:
    """Judges windows against `slos`; `rate` (requests/s) and `window_s` size the sample minimum.

    `rate` may be reassigned when the load's rate changes. `min_samples` overrides the default
    minimum of max(3, ⌈rate × window_s / 4⌉) samples per window.
    """

    def __init__(
        self,
        slos: Slos,
        *,
        rate: float,
        window_s: float,
        abort_if: Slos | None = None,
        min_samples: int | None = None,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 (got {window_s})")
        self.slos = slos
        self.objectives = configured(slos)
        self.guardrails = configured(abort_if) if abort_if is not None else {}
        self.rate = rate
        self.window_s = window_s
        self._min_samples = min_samples

    @classmethod
    def for_scenario(cls, scenario: Scenario, system: System) -> SloEvaluator:
        """Effective SLOs, rate, window and guardrails from a scenario and its system."""
        return cls(
            effective_slos(system.slos, scenario.slos),
            rate=scenario.traffic.rate,
            window_s=scenario.timeline.window,
            abort_if=scenario.guardrails.abort_if,
        )

    @property
    def min_samples(self) -> int:
        if self._min_samples is not None:
            return self._min_samples
        return max(3, math.ceil(self.rate * self.window_s / 4 - 1e-9))

    def judge(self, index: int, start: float, end: float, samples: Sequence[Sample], pending: int = 0) -> SloWindow:
        """Measure and judge one window (see the module doc for the rules)."""
        metrics = measure(index, start, end, samples, pending)
        if metrics["count"] < self.min_samples:
            return SloWindow(**metrics, state="insufficient", breached=[], unjudged=list(self.objectives))
        breached, unjudged = [], []
        for name, objective in self.objectives.items():
            value = self.judgeable(name, metrics)
            if value is None:
                unjudged.append(name)
            elif name == "eval_pass_rate":
                # Quality is a proportion over a handful of judged answers per window: breach only
                # when the pass rate is below the objective with ~95 % confidence (one-sided
                # Wilson bound), so a fallback model sitting just above the envelope does not
                # flap while a real regression is still caught within a window or two.
                if wilson_upper(metrics["eval_passed"], metrics["eval_count"]) < objective:
                    breached.append(name)
            elif worse(name, value, objective):
                breached.append(name)
        tripped = []
        for name, threshold in self.guardrails.items():
            value = self.judgeable(name, metrics)
            if value is not None and (value == threshold or worse(name, value, threshold)):
                tripped.append(name)
        state: WindowState = "breaching" if breached else "healthy"
        return SloWindow(**metrics, state=state, breached=breached, unjudged=unjudged, tripped=tripped)

    def judgeable(self, name: str, metrics: dict[str, Any]) -> float | None:
        """The metric's value if this window has enough data to judge it, else None."""
        value = metrics.get(name)
        if value is None:
            return None
        if name in _PERCENTILES and metrics[_PERCENTILE_SAMPLES[name]] < min_samples_for_percentile(_PERCENTILES[name]):
            return None
        if name == "eval_pass_rate" and metrics["eval_count"] < MIN_EVAL_SAMPLES:
            return None
        return value


def wilson_upper(passed: int, n: int, z: float = 1.645) -> float:
    """Upper bound of the Wilson score interval for `passed` of `n` (one-sided, z=1.645 ≈ 95 %)."""
    if n <= 0:
        return 1.0
    p = passed / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def worse(name: str, value: float, objective: float) -> bool:
    """Whether `value` is worse than `objective` for SLO `name` (lower is worse for quality)."""
    return value < objective if name in LOWER_IS_WORSE else value > objective


__all__ = [
    "LOWER_IS_WORSE",
    "MIN_EVAL_SAMPLES",
    "SloEvaluator",
    "SloWindow",
    "WindowState",
    "configured",
    "effective_slos",
    "measure",
    "min_samples_for_percentile",
    "percentile",
    "wilson_upper",
    "worse",
]
