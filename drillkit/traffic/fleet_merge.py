"""Merging the load workers' reports into one stream of `on_schedule` and `on_sample` calls.

Each worker reports, in batches, the times it scheduled (in order) and the samples that finished,
with `next_due`: every request of that worker due earlier is in this batch or an earlier one.
`Merge` releases scheduled times below the smallest `next_due` of all workers in time order, and a
sample only once its scheduled time is released — so a consumer (`SloWindows`) sees exactly the
calls one process would have made, in the same causal order: a window's end is passed only after
every request in it has been announced, and a sample never comes before its request.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from drillkit.traffic.samples import Sample
from drillkit.traffic.worker_protocol import Batch


class Merge:
    """Holds reports back until every worker has reported past them (module doc)."""

    def __init__(self, workers: int, on_schedule: Callable[[float], None], on_sample: Callable[[Sample], None]) -> None:
        self.on_schedule = on_schedule
        self.on_sample = on_sample
        self.next_due = [-math.inf] * workers
        self._due: list[float] = []  # heap of scheduled times not yet released
        self._samples: list[tuple[float, int, Sample]] = []  # heap by scheduled time (then arrival)
        self._seq = 0

    @property
    def held(self) -> int:
        """Scheduled times and samples not yet released."""
        return len(self._due) + len(self._samples)

    def add(self, worker: int, batch: Batch) -> None:
        for t in batch.scheduled:
            heapq.heappush(self._due, t)
        for sample in batch.samples:
            self._seq += 1
            heapq.heappush(self._samples, (sample.scheduled, self._seq, sample))
        self.next_due[worker] = batch.next_due
        self.release()

    def finish(self, worker: int) -> None:
        """`worker` reports nothing more: it no longer holds the others back."""
        self.next_due[worker] = math.inf
        self.release()

    def finish_all(self) -> None:
        self.next_due = [math.inf] * len(self.next_due)
        self.release()

    def release(self) -> None:
        mark = min(self.next_due)
        due, samples = self._due, self._samples
        while due and due[0] < mark:
            self.on_schedule(heapq.heappop(due))
        while samples and samples[0][0] < mark:
            self.on_sample(heapq.heappop(samples)[2])


__all__ = ["Merge"]
