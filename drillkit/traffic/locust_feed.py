"""The Locust master's reports, turned into the load generator's `on_schedule` and `on_sample` calls.

`drillkit.traffic.locustfile` runs in Locust; its master writes JSON lines to drillkit's sample
sink (`drillkit.traffic.locust_engine` owns the socket). `Feed` reads them:

    hello {token, port, pid}        the master is up; its workers connect to `port`
    go {t0}                          every worker has its users; the schedule starts at t0
    batch {w, scheduled, samples, next_due, counters, cpu_s}   one worker's report
    done {w, counters} | lost {w}    a worker stopped as asked, or Locust lost it
    bye {missing}                    the master stops; `missing`: workers that never said done

Times in the lines are epoch seconds (`time.time()` on the Locust hosts); `Feed` converts them
to the load clock (`time.monotonic`) with the offset measured when the run started, so a window
holds what drillkit's own generator would have put in it. Each worker's batches go through
`fleet_merge.Merge`, as the load generator's own worker processes do: `on_schedule(t)` in time
order, `on_sample(s)` after the call for its request, released only up to the point every
worker has reported past.

Samples are judged here, not in Locust: a worker sends the raw answer (status, body text, the
response headers the wire reads) and `samples.answered` reads it through the service's `Wire`
and runs the live evals on it, exactly as for drillkit's own requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire
from drillkit.net.jsonio import loads_or_none
from drillkit.traffic.fleet_merge import Merge
from drillkit.traffic.samples import Counters, LoadStats, Sample, answered, dropped, failed
from drillkit.traffic.worker_protocol import Batch


class Feed:
    """One Locust run's reports (module doc). `records[rid]` is the input record a sample names."""

    def __init__(
        self,
        workers: int,
        records: Sequence[dict[str, Any]],
        *,
        offset: float,
        evals: Mapping[str, Sequence[Assertion]],
        wire: Wire,
        on_schedule: Callable[[float], None],
        on_sample: Callable[[Sample], None],
    ) -> None:
        self.workers = workers
        self.records = records
        self.offset = offset  # epoch seconds minus load-clock seconds
        self.evals, self.wire = evals, wire
        self.merge = Merge(workers, on_schedule, on_sample)
        self.counters: dict[int, dict[str, int]] = {}
        self.cpu_s: dict[int, float] = {}
        self.done: set[int] = set()
        self.lost: set[int] = set()
        loop = asyncio.get_running_loop()
        self.hello: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.go: asyncio.Future[float] = loop.create_future()
        self.bye: asyncio.Future[dict[str, Any]] = loop.create_future()

    def handle(self, message: dict[str, Any]) -> None:
        """One line from the master (already checked to come from it)."""
        kind = message.get("t")
        if kind == "batch":
            self._batch(message)
        elif kind == "hello":
            _resolve(self.hello, message)
        elif kind == "go":
            _resolve(self.go, float(message["t0"]) - self.offset)
        elif kind in ("done", "lost"):
            worker = self._worker(message)
            if worker is not None:
                (self.done if kind == "done" else self.lost).add(worker)
                if isinstance(message.get("counters"), dict):
                    self.counters[worker] = message["counters"]
                self.merge.finish(worker)
        elif kind == "bye":
            _resolve(self.bye, message)

    def _worker(self, message: dict[str, Any]) -> int | None:
        worker = message.get("w")
        return worker if isinstance(worker, int) and 0 <= worker < self.workers else None

    def _batch(self, message: dict[str, Any]) -> None:
        worker = self._worker(message)
        if worker is None or worker in self.done:
            return
        self.counters[worker] = message["counters"]
        self.cpu_s[worker] = float(message.get("cpu_s") or 0.0)
        scheduled = [t - self.offset for t in message["scheduled"]]
        samples = [self.sample(raw) for raw in message["samples"]]
        self.merge.add(worker, Batch(scheduled, samples, float(message["next_due"]) - self.offset, (), 0.0))

    def sample(self, raw: dict[str, Any]) -> Sample:
        """One request's outcome as drillkit's own generator would have recorded it."""
        scheduled, finished = raw["s"] - self.offset, raw["f"] - self.offset
        if raw.get("d"):
            return dropped(raw["i"], scheduled, finished, raw["e"])
        base = {"index": raw["i"], "scheduled": scheduled, "started": raw["st"] - self.offset}
        status = raw.get("c")
        if not isinstance(status, int):
            return failed(base, finished, str(raw.get("e") or "request failed"))
        data = loads_or_none(raw.get("b") or "")
        headers = raw.get("h") if isinstance(raw.get("h"), dict) else {}
        return answered(base, finished, (status, headers, data), self.records[raw["r"]], self.evals, self.wire)

    def finish_all(self) -> None:
        """Nothing more will come: release whatever the merge still holds."""
        self.merge.finish_all()

    def stats(self) -> LoadStats:
        total = Counters()
        for counts in self.counters.values():
            for name in Counters.__dataclass_fields__:
                value = counts.get(name, 0)
                setattr(total, name, getattr(total, name) + (value if isinstance(value, int) else 0))
        return total.stats()

    @property
    def started(self) -> bool:
        return self.go.done() and not self.go.cancelled()


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


__all__ = ["Feed"]
