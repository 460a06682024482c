"""Is the system healthy enough to be the last known good? The eval suite decides.

A baseline is what triage compares an incident against and what a revert returns to, so
`drillkit snapshot` runs the manifest's eval suite (`evals`) next to the fingerprints and
records the verdict in the snapshot (`healthy`, `evals`):

- `healthy: true`: the weighted pass rate is inside the envelope (`slos.eval_pass_rate`, else 0.9);
- `healthy: false`: outside it, or the service could not be reached (a state nobody can vouch for);
  `snapshot` refuses to record it unless forced (`--force`);
- `healthy: null`: the manifest names no eval suite, so nothing judged it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from drillkit.config.system import System
from drillkit.evals.runner import DEFAULT_THRESHOLD, run_suite
from drillkit.evals.suite import load_suite
from drillkit.evals.wire import Wire

#: Longest any one eval request may take while judging a baseline.
EVAL_TIMEOUT_S = 30.0


class Health(BaseModel):
    """The eval suite's verdict on the live system (see the module doc)."""

    healthy: bool | None
    suite: str | None = None
    pass_rate: float | None = None
    threshold: float | None = None
    passed: int | None = None
    total: int | None = None
    error: str | None = None

    def record(self) -> dict[str, Any] | None:
        """What a snapshot keeps (`Snapshot.evals`), None when nothing was judged."""
        if self.healthy is None:
            return None
        return self.model_dump(exclude={"healthy"}, exclude_none=True)

    def describe(self) -> str:
        """`pass rate 65.2% (30/46) < envelope 90%`, or why it could not be judged."""
        if self.error is not None:
            return self.error
        if self.pass_rate is None or self.threshold is None:
            return "no eval suite (the manifest's `evals`): health not judged"
        sign = "≥" if self.healthy else "<"
        return f"pass rate {self.pass_rate:.1%} ({self.passed}/{self.total}) {sign} envelope {self.threshold:.0%}"


def envelope_of(system: System) -> float:
    """The pass rate that counts as inside the envelope: `slos.eval_pass_rate`, else the default."""
    envelope = system.slos.objective("eval_pass_rate")
    return envelope if envelope is not None else DEFAULT_THRESHOLD


async def judge_health(system: System, *, sample: int | None = None) -> Health:
    """Run the manifest's eval suite against the live service (never raises for what it answers);
    `sample` runs only that many of its cases, the same ones each time, spread over the file."""
    if system.evals is None:
        return Health(healthy=None)
    suite = load_suite(system.resolve(system.evals))  # type: ignore[arg-type]  # bad file: exit 2
    if sample is not None and 0 < sample < len(suite.cases):
        step = len(suite.cases) / sample
        suite = suite.model_copy(update={"cases": [suite.cases[int(i * step)] for i in range(sample)]})
    threshold = envelope_of(system)
    url = str(system.service.url)
    result = await run_suite(
        suite, url, timeout=min(system.service.timeout, EVAL_TIMEOUT_S), threshold=threshold, wire=Wire.of(system)
    )
    if result.unreachable:
        why = result.cases[0].error if result.cases else "no answer"
        return Health(healthy=False, suite=suite.name, threshold=threshold, error=f"cannot reach {url} ({why})")
    return Health(
        healthy=result.inside_envelope,
        suite=suite.name,
        pass_rate=round(result.pass_rate, 4),
        threshold=threshold,
        passed=result.passed,
        total=result.total,
    )


__all__ = ["Health", "envelope_of", "judge_health"]
