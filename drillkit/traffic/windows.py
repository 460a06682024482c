"""Assigning samples to windows as they arrive, and closing each window when it is complete.

    t0 = time.monotonic()
    windows = SloWindows(evaluator, origin=t0, window_s=1.0, grace_s=2.0)
    load = LoadGenerator(..., on_schedule=windows.scheduled, on_sample=windows.add)
    await load.start(at=t0)
    for window in windows.poll(clock()):      # call on a tick, e.g. every 100 ms
        detector.observe(window)

Window k covers scheduled times [origin + k·window_s, origin + (k+1)·window_s): a sample belongs
to the window its request was *scheduled* in, so a slow response counts against the window it was
meant for. Window k closes once its end has passed and either

- every request scheduled in it has produced a sample (and the schedule has moved past its end), or
- `grace_s` more seconds have passed: requests still unanswered are then counted as `pending`
  (errors, see `drillkit.traffic.slo`). Give a grace at least as long as the latency objectives:
  an answer that late would breach them anyway; or
- its breach is already certain (`early`): judged with every unanswered request counted in the
  window's favour — answered now, OK, passing its evals, as fast as it can still be (the time
  it has waited since it was due) — the window breaches an objective other than cost. Waiting for the
  stragglers could not change the verdict, only delay detection; so a breach is declared one
  window after the first breaching window closed, not one window plus the slowest answer.
  (Cost objectives never close early: an unanswered request's cost is unknown either way.)
  The window is recorded with those favourable stand-ins (`early: true`, `pending` = how many);
  answers that arrive afterwards count in `late`.

Windows close strictly in order, each exactly once. A sample arriving for a closed window is only
counted in `late`; one scheduled before `origin` in `ignored`. Times are seconds on the load clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from drillkit.traffic.load import Sample
from drillkit.traffic.slo import SloEvaluator, SloWindow

COST_SLOS = {"cost_per_request_usd", "cost_per_success_usd"}


@dataclass
class _Bucket:
    expected: int = 0
    samples: list[Sample] = field(default_factory=list)
    due: list[float] = field(default_factory=list)  # scheduled times, for the unanswered ones' wait


class SloWindows:
    """Collects samples into windows of `window_s` seconds from `origin` and judges them on close."""

    def __init__(
        self,
        evaluator: SloEvaluator,
        *,
        origin: float,
        window_s: float,
        grace_s: float = 2.0,
        certain: Callable[[SloWindow], SloWindow] | None = None,
    ) -> None:
        """`certain`, if given, re-judges a window the way its reader will (e.g. quality pooled over
        the last windows) when deciding whether a breach is already certain."""
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 (got {window_s})")
        if grace_s < 0:
            raise ValueError(f"grace_s must be ≥ 0 (got {grace_s})")
        self.evaluator = evaluator
        self.origin = origin
        self.window_s = window_s
        self.grace_s = grace_s
        self.certain = certain
        self.late = 0
        self.ignored = 0
        self._buckets: dict[int, _Bucket] = {}
        self._next = 0  # index of the next window to close
        self._max_scheduled = -math.inf

    @property
    def next_index(self) -> int:
        """Index of the oldest window not yet closed."""
        return self._next

    def bounds(self, index: int) -> tuple[float, float]:
        """(start, end) of window `index`, in clock seconds."""
        start = self.origin + index * self.window_s
        return start, start + self.window_s

    def index_of(self, t: float) -> int:
        return math.floor((t - self.origin) / self.window_s)

    def scheduled(self, t: float) -> None:
        """A request was scheduled at `t` (wire to `LoadGenerator.on_schedule`)."""
        self._max_scheduled = max(self._max_scheduled, t)
        bucket = self._bucket(t, count=False)
        if bucket is not None:
            bucket.expected += 1
            bucket.due.append(t)

    def add(self, sample: Sample) -> None:
        """A request finished (wire to `LoadGenerator.on_sample`)."""
        bucket = self._bucket(sample.scheduled)
        if bucket is not None:
            bucket.samples.append(sample)
            # Samples delivered without a `scheduled()` call (e.g. fed directly) still count.
            bucket.expected = max(bucket.expected, len(bucket.samples))

    def poll(self, now: float) -> list[SloWindow]:
        """Close and judge every window that is complete at `now`, oldest first."""
        closed: list[SloWindow] = []
        while True:
            start, end = self.bounds(self._next)
            if now < end:
                break
            bucket = self._buckets.get(self._next)
            answered = bucket is None or len(bucket.samples) >= bucket.expected
            complete = answered and self._max_scheduled >= end
            if not complete and now < end + self.grace_s:
                early = self._certain_breach(start, end, bucket, now) if bucket is not None else None
                if early is None:
                    break
                closed.append(early)
                continue
            closed.append(self._close(start, end, bucket))
        return closed

    def _certain_breach(self, start: float, end: float, bucket: _Bucket, now: float) -> SloWindow | None:
        """The window judged with its unanswered requests in its favour, if it breaches anyway."""
        if self._max_scheduled < end:
            return None  # more requests may still be scheduled into it
        missing = bucket.expected - len(bucket.samples)
        # Each unanswered request has waited since it was due: its latency is at least that.
        unanswered = Counter(bucket.due) - Counter(s.scheduled for s in bucket.samples)
        waits = sorted(unanswered.elements())
        waits += [end] * (missing - len(waits))  # fed without `scheduled()`: assume the least wait
        stand_ins = [
            Sample(
                index=-1,
                scheduled=due,
                started=due,
                finished=now,
                latency_ms=max(0.0, (now - due) * 1000),
                status=200,
                ok=True,
                eval_passed=True,
            )
            for due in waits[:missing]
        ]
        window = self.evaluator.judge(self._next, start, end, [*bucket.samples, *stand_ins], 0)
        view = self.certain(window) if self.certain is not None else window
        if not set(view.breached) - COST_SLOS:
            return None
        window = window.model_copy(update={"early": True, "pending": missing})
        self._buckets.pop(self._next, None)
        self._next += 1
        return window

    def close_all(self, now: float) -> list[SloWindow]:
        """At the end of traffic: close every window ending by `now`, waiting for nothing."""
        closed: list[SloWindow] = []
        while self.bounds(self._next)[1] <= now:
            start, end = self.bounds(self._next)
            closed.append(self._close(start, end, self._buckets.get(self._next)))
        return closed

    def _close(self, start: float, end: float, bucket: _Bucket | None) -> SloWindow:
        samples = bucket.samples if bucket is not None else []
        pending = bucket.expected - len(samples) if bucket is not None else 0
        window = self.evaluator.judge(self._next, start, end, samples, pending)
        self._buckets.pop(self._next, None)
        self._next += 1
        return window

    def _bucket(self, t: float, *, count: bool = True) -> _Bucket | None:
        """The open window for time `t`, or None (counted in `ignored`/`late` when `count`)."""
        index = self.index_of(t)
        if index < 0 or index < self._next:
            if count:
                if index < 0:
                    self.ignored += 1
                else:
                    self.late += 1
            return None
        return self._buckets.setdefault(index, _Bucket())
