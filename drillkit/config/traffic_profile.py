"""`traffic.profile` (contract): how the rate of a game-day's traffic changes during the run.

A profile is a list of rate changes in time order. Each begins `at` a time counted from the end of
the warmup (the clock of a fault's `at`: a surge and a fault given the same `at` start together);
the warmup itself runs at `traffic.rate`. A change with no `ramp` is a step: the new rate at once.
One with a `ramp` moves the rate in a straight line from the rate before it to its own, over
`ramp` seconds; ramps may not overlap the next change. After the last change its rate holds to
the end of the run; a change the run never reaches does nothing.

    traffic:
      rate: 20                            # the warmup, and until the first change
      profile:
        - {at: 0s, rate: 60, ramp: 5s}    # a launch: 20 → 60 req/s over the first 5 s
        - {at: 30s, rate: 20}             # and back down at once

`drillkit.gameday.profile` applies it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

from pydantic import AfterValidator, Field

from drillkit.config.types import MAX_RATE, Duration, Strict


class RateChange(Strict):
    """One change of the traffic's rate during the run: a step, or a ramp."""

    at: Duration = Field(
        description="When the change begins, counted from the end of the warmup (like a fault's `at`)."
    )
    rate: float = Field(gt=0, le=MAX_RATE, description="Requests per second from the end of the change on (> 0).")
    ramp: Duration = Field(
        default=0.0,
        description="0: a step (the new rate at once). Else how long the rate takes to move, in a straight line, "
        "from the rate before to `rate`.",
    )


def _in_time_order(changes: list[RateChange]) -> list[RateChange]:
    for before, after in pairwise(changes):
        if after.at < before.at + before.ramp:
            raise ValueError(
                f"a change at {after.at:g}s begins before the one at {before.at:g}s has ended "
                f"({before.at + before.ramp:g}s): list changes in time order, ramps not overlapping"
            )
    return changes


#: `traffic.profile`: rate changes in time order (module doc).
Profile = Annotated[list[RateChange], AfterValidator(_in_time_order)]


def rate_at(changes: list[RateChange], base: float, t: float) -> float:
    """The profile's rate `t` seconds after the warmup (`base` before the first change)."""
    rate = base
    for change in changes:
        if t < change.at:
            break
        if change.ramp > 0 and t < change.at + change.ramp:
            return rate + (change.rate - rate) * (t - change.at) / change.ramp
        rate = change.rate
    return rate


__all__ = ["Profile", "RateChange", "rate_at"]
