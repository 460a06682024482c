"""Which SLOs a scenario can judge at all (DESIGN §9.3: judgeability depends on the signal source).

An SLO judged on drillkit's own traffic needs answers in each window: a percentile needs enough of
them (p95: 10, p99: 50), time to first token needs streamed traffic, and an observe-only run has
none. A `promql` SLO can always be judged; the eval probe judges `eval_pass_rate` once a batch.
An SLO no window can judge would read as silence, never as healthy: `gameday validate` warns, and
both it and `gameday run` refuse (exit 2) a scenario that expects such an SLO to breach.
"""

from __future__ import annotations

import math

from drillkit.config.scenario import Scenario
from drillkit.config.slos import Slos
from drillkit.traffic.slo import MIN_EVAL_SAMPLES, samples_needed


def unjudgeable(scenario: Scenario, slos: Slos) -> dict[str, str]:
    """SLO name → why no window of this scenario can judge it (only the SLOs that are set)."""
    traffic, window = scenario.traffic, scenario.timeline.window
    queries = slos.queries()
    # With a traffic.profile the rate moves: an SLO some window can judge is one the run's highest
    # rate can judge (windows at lower rates are recorded as unjudged, run by run).
    rate = max([traffic.rate, *(change.rate for change in traffic.profile)])
    at = f"{rate:g} req/s" if rate == traffic.rate else f"{rate:g} req/s (the profile's highest rate)"
    per_window = rate * window
    out: dict[str, str] = {}
    for name in slos.objectives():
        if name in queries:
            continue
        if name == "eval_pass_rate" and traffic.eval_probe is not None:
            if traffic.eval_probe.cases < MIN_EVAL_SAMPLES:
                out[name] = f"the eval probe runs {traffic.eval_probe.cases} case(s) a batch; {MIN_EVAL_SAMPLES} needed"
            continue
        if traffic.rate == 0:
            out[name] = "traffic.rate 0 sends no traffic, and it has no promql"
        elif name.startswith("ttft_") and not traffic.stream:
            out[name] = "time to first token is measured on streamed traffic only (traffic.stream: true)"
        elif (need := samples_needed(name)) is not None and math.floor(per_window + 1e-9) < need:
            out[name] = (
                f"{at} in {window:g}s windows is at most {math.floor(per_window + 1e-9)} answers a "
                f"window; {name} needs {need} (raise the rate or the window)"
            )
        elif per_window < 3:
            out[name] = f"{at} in {window:g}s windows is under 3 answers a window"
    return out


def refused(scenario: Scenario, slos: Slos) -> list[str]:
    """Reasons to refuse the scenario: an SLO it expects to breach that no window can judge."""
    never = unjudgeable(scenario, slos)
    return [
        f"expect.breach: {name} can never be judged: {never[name]}" for name in scenario.expect.breach if name in never
    ]
