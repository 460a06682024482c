"""`traffic.profile` during a game-day: the load's rate changed on schedule, the judge kept in step.

    ctx.background(apply_profile(ctx), "traffic profile")     # once the load has started

Contract (the file format is `drillkit.config.traffic_profile`'s):

- Change times count from the end of the warmup: `timeline.warmup` after the load's first request
  was due (`LoadGenerator.t0`), when the inject phase starts, so a change and a fault with the same
  `at` begin together. The warmup runs at `traffic.rate`.
- The rate is set through `LoadGenerator.set_rate` (which tells every worker process): a step
  once, at its time; a ramp every `RAMP_TICK_S` along its line, and its end rate at its end.
- The SLO evaluator's `rate` (which sizes a window's minimum sample count, `SloEvaluator.
  min_samples`) follows, but as the *lowest* rate sent during the last `window + grace` seconds:
  a window is judged only once it has closed and waited for its answers, so the rate it was sent
  at may be below the current one, and judging a window sent at 20 req/s by the minimum of 60
  would call it insufficient. A window is never held to more samples than it was sent.
- Before the first change, an SLO that windows at the profile's lowest rate cannot judge (but
  `traffic.rate` can) is journaled as a `preflight.warning`.
- Returns once the last change has ended and the evaluator's rate has caught up; like every
  background task it is cancelled at cleanup. Without a profile, or without traffic of drillkit's
  own (`traffic.rate` 0), it returns at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from drillkit.config.traffic_profile import RateChange, rate_at
from drillkit.gameday.context import RunContext
from drillkit.gameday.judgeable import unjudgeable
from drillkit.journal.events import PreflightWarning
from drillkit.traffic.slo import effective_slos

#: How often a ramp's rate is set (seconds).
RAMP_TICK_S = 0.1
#: How late after a change's `window + grace` the evaluator is updated: the change itself was
#: applied a little after its time (seconds).
SETTLE_S = 0.02


@dataclass
class SentRates:
    """The rates sent lately, to tell the lowest one of the last `span` seconds."""

    span: float
    rate: float  # in effect before the first entry
    changes: list[tuple[float, float]] = field(default_factory=list)  # (when, rate) in time order

    def sent(self, now: float, rate: float) -> None:
        self.changes.append((now, rate))

    def lowest(self, now: float) -> float:
        """The lowest rate in effect at any time in [now - span, now]."""
        since = now - self.span
        while self.changes and self.changes[0][0] <= since:
            self.rate = self.changes.pop(0)[1]  # it was in effect at `since`
        return min([self.rate, *(rate for _, rate in self.changes)])


async def apply_profile(ctx: RunContext) -> None:
    """Apply `traffic.profile` to the run's load and SLO evaluator (module doc)."""
    traffic, load, windows = ctx.scenario.traffic, ctx.load, ctx.windows
    if not traffic.profile or load is None or windows is None or load.t0 is None:
        return
    warn_unjudgeable(ctx)
    changes = traffic.profile
    origin = load.t0 + ctx.scenario.timeline.warmup
    evaluator = windows.evaluator
    recent = SentRates(windows.window_s + windows.grace_s, load.rate)
    last = changes[-1]
    while True:
        now = time.monotonic()
        rate = rate_at(changes, traffic.rate, now - origin)
        if rate != load.rate:
            load.set_rate(rate)
            recent.sent(now, rate)
        evaluator.rate = recent.lowest(now)
        if now - origin >= last.at + last.ramp and evaluator.rate == load.rate:
            return  # the last change is over and the evaluator has caught up
        await asyncio.sleep(max(0.0, next_tick(changes, now - origin, recent.span) - (now - origin)))


def next_tick(changes: list[RateChange], t: float, span: float) -> float:
    """When (seconds after the warmup) the load's rate or the evaluator's may next need setting:
    a change's start, a ramp's next tick or end, or `span` after a change ended (the evaluator
    catches up); at least once a second."""
    upcoming = [t + 1.0]
    for change in changes:
        end = change.at + change.ramp
        if t < change.at:
            upcoming.append(change.at)
        elif t < end:
            upcoming.append(min(t + RAMP_TICK_S, end))
        if t < end + span + SETTLE_S:
            upcoming.append(end + span + SETTLE_S)
    return min(upcoming)


def warn_unjudgeable(ctx: RunContext) -> None:
    """Journal the SLOs the profile's lowest rate leaves windows too few answers to judge."""
    s = ctx.scenario
    lowest = min(change.rate for change in s.traffic.profile)
    if lowest >= s.traffic.rate:
        return
    slos = effective_slos(ctx.system.slos, s.slos)
    slower = s.model_copy(update={"traffic": s.traffic.model_copy(update={"rate": lowest})})
    at_base = unjudgeable(s, slos)
    for name, why in unjudgeable(slower, slos).items():
        if name not in at_base:
            ctx.emit(
                PreflightWarning(message=f"{name} cannot be judged while traffic.profile sends {lowest:g} req/s: {why}")
            )


__all__ = ["RAMP_TICK_S", "SentRates", "apply_profile", "next_tick", "warn_unjudgeable"]
