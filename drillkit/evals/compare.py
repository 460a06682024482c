"""`eval compare`: is a candidate worse than its baseline by more than the manifest's `gate` allows?

Both sides answer the same eval cases (paired by case id; sampled inputs by their hash), so each
metric is compared on the cases both have. For each of the gate's three metrics a **regression**
is a change that is beyond its tolerance *and* statistically real at 95 %: a change within the
noise of 46 cases must not block a pull request (one flaky case is 2.2 points, more than the
default 2-point tolerance), and a real but tolerated change must not either.

- **Pass rate** (`pass_rate_drop`, absolute). The same cases ran on both sides, so the outcomes are
  paired: only the cases that flipped carry information. The interval is Newcombe's square-and-add
  interval for the difference of paired proportions (method 10, 1998): built from each side's Wilson
  score interval, it keeps its coverage with a few dozen cases and with rates at 0 or 100 %, where
  the textbook Wald interval collapses to a point. The test printed next to it is the exact
  McNemar test on the flipped cases. Regression: the drop exceeds the tolerance and the interval
  lies below 0. Case weights enter as weighted rates over Kish's effective number of cases
  ((Σw)²/Σw², n itself when the weights are equal).
- **Latency p95** (`latency_p95_increase`, relative). The p95 of a few dozen requests rests on two or
  three of them, so whether the candidate is slower at all is decided on every latency with the
  Mann-Whitney U test (rank-based: no normality, not moved by one outlier; exact for small samples
  without ties). Regression: p95 up by more than the tolerance and Mann-Whitney's one-sided
  p < 0.05. Printed: the p95 change with a seeded percentile-bootstrap interval (each side
  resampled on its own: the two runs are not paired in time), and the Hodges-Lehmann median shift
  with its distribution-free interval. Fewer than 10 latencies a side (half a request expected
  beyond p95, as the SLO windows require) is not judged.
- **Cost per request** (`cost_increase`, relative): the mean cost over cases priced on both sides;
  interval by a paired bootstrap over cases (the same questions: pairing removes the spread between
  short and long answers). Regression: increase beyond the tolerance and the interval above 0.
  Responses without a cost (no `cost_usd`, no pricing for their model) leave it unjudged.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from drillkit.config.gate import Gate
from drillkit.errors import InputError
from drillkit.evals.record import CaseRecord, RunRecord
from drillkit.evals.stats import (
    CONFIDENCE,
    Interval,
    PairedTable,
    bootstrap,
    hodges_lehmann,
    mann_whitney,
    mcnemar_exact,
    paired_difference,
    percentile,
)

Metric = Literal["pass_rate", "latency_p95", "cost_per_request"]
ALPHA = 1 - CONFIDENCE
#: Latencies a side needs before its p95 is judged (`traffic.slo.min_samples_for_percentile(0.95)`).
MIN_LATENCIES = 10
LABELS: dict[Metric, str] = {"pass_rate": "pass rate", "latency_p95": "latency p95", "cost_per_request": "cost/request"}


@dataclass(frozen=True)
class Difference:
    """One metric on both sides. `change` is candidate − baseline for the pass rate, relative
    (candidate / baseline − 1) for the others; None (with `note`) when it could not be judged."""

    metric: Metric
    tolerance: float
    baseline: float | None = None
    candidate: float | None = None
    change: float | None = None
    interval: Interval | None = None
    significant: bool = False
    test: str = ""
    p_value: float | None = None
    samples: tuple[int, int] = (0, 0)
    detail: str = ""
    note: str | None = None

    @property
    def beyond_tolerance(self) -> bool:
        if self.change is None:
            return False
        # 1e-12: a change of exactly the tolerance, computed in floats, is within it
        if self.metric == "pass_rate":
            return self.change < -self.tolerance - 1e-12
        return self.change > self.tolerance + 1e-12

    @property
    def regression(self) -> bool:
        return self.beyond_tolerance and self.significant

    @property
    def verdict(self) -> str:
        if self.change is None:
            return "not judged"
        if self.regression:
            return "REGRESSION"
        return "within noise" if self.beyond_tolerance else "ok"

    @property
    def label(self) -> str:
        return LABELS[self.metric]

    def value_text(self, value: float | None) -> str:
        return _value(self.metric, value)

    def change_text(self) -> str:
        """`−78.3 pts [95 % CI −87.7, −62.4]`, `+3.1 % [−20.0 %, +25.2 %]`, or why it is missing."""
        if self.change is None:
            return self.note or "not judged"
        text = _change(self.metric, self.change)
        if self.interval is not None:
            text += f" [95 % CI {_change(self.metric, self.interval.low)}, {_change(self.metric, self.interval.high)}]"
        return text

    def tolerance_text(self) -> str:
        return f"≥ -{self.tolerance * 100:g} pts" if self.metric == "pass_rate" else f"≤ +{self.tolerance * 100:g} %"

    def describe(self) -> str:
        """One line: both values, the change with its interval, the test, the tolerance, the verdict."""
        if self.change is None:
            return f"{self.label}: {self.note or 'not judged'}"
        values = f"{self.value_text(self.baseline)} → {self.value_text(self.candidate)}"
        test = f"; {self.test}" if self.test else ""
        detail = f"; {self.detail}" if self.detail else ""
        return (
            f"{self.label}: {values}, {self.change_text()}{test}{detail}; gate {self.tolerance_text()}: {self.verdict}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "change": self.change,
            "interval": None if self.interval is None else [self.interval.low, self.interval.high],
            "confidence": CONFIDENCE,
            "tolerance": self.tolerance,
            "beyond_tolerance": self.beyond_tolerance,
            "significant": self.significant,
            "regression": self.regression,
            "test": self.test or None,
            "p_value": self.p_value,
            "samples": list(self.samples),
            "detail": self.detail or None,
            "note": self.note,
        }


@dataclass(frozen=True)
class Comparison:
    """The candidate against the baseline on the cases both ran, metric by metric."""

    baseline: str
    candidate: str
    suite: str
    gate: Gate
    paired: int
    differences: list[Difference]
    regressed: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)
    redefined: list[str] = field(default_factory=list)
    #: `--tag`: only the suite's cases carrying any of these were compared (empty: all of them).
    tags: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Difference]:
        return [d for d in self.differences if d.regression]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def scope(self) -> str:
        """` tagged policy, refunds`: which of the suite's cases were compared, for headings."""
        return f" tagged {', '.join(self.tags)}" if self.tags else ""

    def summary(self) -> str:
        if self.passed:
            return f"no regression beyond the gate ({self.paired} paired cases{self.scope()})"
        names = ", ".join(f"{d.label} {d.change_text()}" for d in self.regressions)
        return f"regression beyond the gate: {names}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "suite": self.suite,
            "tags": self.tags,
            "passed": self.passed,
            "gate": self.gate.model_dump(),
            "paired_cases": self.paired,
            "differences": {d.metric: d.to_dict() for d in self.differences},
            "cases": {
                "regressed": self.regressed,
                "fixed": self.fixed,
                "only_baseline": self.only_baseline,
                "only_candidate": self.only_candidate,
                "assertions_changed": self.redefined,
            },
        }


def compare(
    baseline: RunRecord,
    candidate: RunRecord,
    gate: Gate,
    *,
    baseline_label: str,
    candidate_label: str,
    tags: Sequence[str] = (),
) -> Comparison:
    """Judge the candidate against the baseline (module doc). `tags`: compare only the suite's
    cases carrying any of them on either side (a saved run keeps each case's tags; sampled inputs
    have none and are compared as they are). InputError when no case is shared."""
    before = {c.id: c for c in baseline.cases}
    after = {c.id: c for c in candidate.cases}
    if tags:
        wanted = set(tags)
        tagged = {i for side in (before, after) for i, c in side.items() if wanted.intersection(c.tags)}
        before = {i: c for i, c in before.items() if i in tagged}
        after = {i: c for i, c in after.items() if i in tagged}
    ids = [i for i in after if i in before]
    if not ids and tags:
        raise InputError(
            f"no case both runs share carries any of the tags {', '.join(tags)} "
            f"(baseline {len(before)}, candidate {len(after)} tagged case(s))"
        )
    if not ids:
        raise InputError(
            f"the baseline ({baseline.suite!r}) and the candidate ({candidate.suite!r}) share no case id: "
            "nothing to compare (were they run with the same suite?)"
        )
    pairs = [(before[i], after[i]) for i in ids]
    sampled_before = {c.id: c for c in baseline.sampled}
    timed = pairs + [(sampled_before[c.id], c) for c in candidate.sampled if c.id in sampled_before]
    return Comparison(
        baseline=baseline_label,
        candidate=candidate_label,
        suite=candidate.suite,
        gate=gate,
        paired=len(pairs),
        differences=[
            pass_rate(pairs, gate.pass_rate_drop),
            latency_p95(timed, gate.latency_p95_increase),
            cost_per_request(timed, gate.cost_increase),
        ],
        regressed=[b.id for b, c in pairs if b.passed and not c.passed],
        fixed=[b.id for b, c in pairs if c.passed and not b.passed],
        only_baseline=[i for i in before if i not in after],
        only_candidate=[i for i in after if i not in before],
        redefined=[b.id for b, c in pairs if b.assertions and c.assertions and b.definition() != c.definition()],
        tags=list(tags),
    )


Pairs = Sequence[tuple[CaseRecord, CaseRecord]]


def pass_rate(pairs: Pairs, tolerance: float) -> Difference:
    """Weighted pass rates over the paired cases, Newcombe's paired interval, exact McNemar."""
    weights = [c.weight for _, c in pairs]
    total = sum(weights)
    cells = [0.0, 0.0, 0.0, 0.0]  # both, only candidate, only baseline, neither
    for (b, c), w in zip(pairs, weights, strict=True):
        cells[(0 if c.passed else 2) + (0 if b.passed else 1)] += w / total
    both, only_candidate, only_baseline, _neither = cells
    effective = total**2 / sum(w * w for w in weights)
    table = PairedTable(*(share * effective for share in cells))
    interval = paired_difference(table)
    flips_up = sum(1 for b, c in pairs if c.passed and not b.passed)
    flips_down = sum(1 for b, c in pairs if b.passed and not c.passed)
    p = mcnemar_exact(flips_up, flips_down)
    return Difference(
        metric="pass_rate",
        tolerance=tolerance,
        baseline=both + only_baseline,
        candidate=both + only_candidate,
        change=only_candidate - only_baseline,
        interval=interval,
        significant=interval.high < 0,
        test=f"McNemar exact p {_p(p)} ({flips_down} pass→fail, {flips_up} fail→pass)",
        p_value=p,
        samples=(len(pairs), len(pairs)),
    )


def latency_p95(pairs: Pairs, tolerance: float) -> Difference:
    """p95 change with a bootstrap interval; Mann-Whitney decides whether the candidate is slower."""
    x = [b.latency_ms for b, _ in pairs if b.latency_ms is not None and b.error is None]
    y = [c.latency_ms for _, c in pairs if c.latency_ms is not None and c.error is None]
    base = Difference(metric="latency_p95", tolerance=tolerance, samples=(len(x), len(y)))
    if min(len(x), len(y)) < MIN_LATENCIES:
        return replace(base, note=f"not judged: {len(x)} vs {len(y)} latencies, p95 needs {MIN_LATENCIES} a side")
    p95_x, p95_y = percentile(x, 0.95), percentile(y, 0.95)
    assert p95_x is not None and p95_y is not None
    if p95_x <= 0:
        return replace(base, note="not judged: the baseline's p95 is 0 ms")

    def resampled(rng: random.Random) -> float | None:
        bx, by = percentile(rng.choices(x, k=len(x)), 0.95), percentile(rng.choices(y, k=len(y)), 0.95)
        return None if not bx else (by or 0.0) / bx - 1

    test = mann_whitney(x, y)
    shift, shift_ci = hodges_lehmann(x, y)
    kind = "exact" if test.exact else "normal approx."
    return replace(
        base,
        baseline=p95_x,
        candidate=p95_y,
        change=p95_y / p95_x - 1,
        interval=bootstrap(resampled),
        significant=test.p_greater < ALPHA,
        test=f"Mann-Whitney U = {test.u:g}, one-sided p {_p(test.p_greater)} ({kind}, {len(x)} vs {len(y)})",
        p_value=test.p_greater,
        detail=f"median shift {shift:+.1f} ms [{shift_ci.low:+.1f}, {shift_ci.high:+.1f}]",
    )


def cost_per_request(pairs: Pairs, tolerance: float) -> Difference:
    """Mean cost over the cases priced on both sides; paired bootstrap interval of the relative change."""
    priced = [
        (b.cost_usd, c.cost_usd)
        for b, c in pairs
        if b.cost_usd is not None and c.cost_usd is not None and b.error is None and c.error is None
    ]
    base = Difference(metric="cost_per_request", tolerance=tolerance, samples=(len(priced), len(priced)))
    if not priced:
        return replace(base, note="not judged: no request has a cost on both sides (cost_usd, or pricing)")
    mean_b, mean_c = (math.fsum(side) / len(priced) for side in zip(*priced, strict=True))
    if mean_b <= 0:
        return replace(base, baseline=mean_b, candidate=mean_c, note="not judged: the baseline's cost is 0")

    def resampled(rng: random.Random) -> float | None:
        drawn = rng.choices(priced, k=len(priced))
        before = math.fsum(b for b, _ in drawn)
        return None if before <= 0 else math.fsum(c for _, c in drawn) / before - 1

    interval = bootstrap(resampled)
    return replace(
        base,
        baseline=mean_b,
        candidate=mean_c,
        change=mean_c / mean_b - 1,
        interval=interval,
        significant=interval is not None and interval.low > 0,
        test=f"paired bootstrap over {len(priced)} cases",
    )


def _p(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"= {p:.4f}" if p < 0.01 else f"= {p:.3f}"


def _value(metric: Metric, value: float | None) -> str:
    if value is None:
        return "—"
    if metric == "pass_rate":
        return f"{value * 100:.1f} %"
    if metric == "latency_p95":
        return f"{value:.1f} ms"
    return f"${value:.6f}"


def _change(metric: Metric, change: float) -> str:
    if metric == "pass_rate":
        return f"{change * 100:+.1f} pts"
    return f"{change * 100:+.1f} %"


__all__ = ["Comparison", "Difference", "Metric", "compare"]
