"""The change gate's tolerances (contract: DESIGN §9.6 `gate`), read by `drillkit eval compare`.

A candidate fails the gate when it is worse than the baseline by more than a tolerance *and* the
difference is statistically real (`drillkit.evals.compare` says how that is decided).
"""

from __future__ import annotations

from pydantic import Field

from drillkit.config.types import Strict


class Gate(Strict):
    """How much worse than the baseline a candidate may be (`drillkit eval compare`)."""

    pass_rate_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Largest drop of the eval pass rate, absolute (0.02: two percentage points).",
    )
    latency_p95_increase: float = Field(
        default=0.2,
        ge=0,
        description="Largest increase of the p95 latency, relative to the baseline's (0.2: +20 %).",
    )
    cost_increase: float = Field(
        default=0.1,
        ge=0,
        description="Largest increase of the mean cost per request, relative to the baseline's (0.1: +10 %).",
    )


__all__ = ["Gate"]
