"""The load generator in several processes: each worker sends a share of one open-loop schedule.

`LoadGenerator(..., workers=n)` with n > 1 starts n worker processes (`drillkit.traffic.worker`)
and keeps none of the sending itself. Contract:

- **One schedule.** Request i of the whole run is due at `anchor_t + (i - anchor_i) / rate`;
  worker k sends the requests with i % n == k, so the merged arrivals are the scenario's rate,
  evenly interleaved. Each worker keeps the single-process timing contract for its share (open
  loop, latency from the scheduled time, drops delivered as samples). Clocks are `time.monotonic`,
  which all processes on the machine share. `set_rate` re-anchors the whole schedule at the last
  request due by now (as in one process; `RATE_LEAD_S` later, so every worker follows the change
  before its next request, whatever the pipe's latency below that).
- **One merged set of samples.** Workers judge answers (live evals, streamed answers) where they
  arrive and report every `FLUSH_S` the times they scheduled and the samples that finished. The
  parent calls `on_schedule(t)` in time order, and `on_sample(s)` only after `on_schedule` for
  its request, up to the earliest point every worker has reported (`Batch.next_due`): so the
  windows never see the schedule move past a window's end while another worker's requests in
  it are still unreported. Callbacks run on the parent's event loop, 20–40 ms after the fact.
- **Counters** (`LoadStats`) are the workers' sums; `max_in_flight` is the sum of each worker's
  maximum (an upper bound). `concurrency` is split among the workers (each at least 1, so no
  more workers than `concurrency`).
- **Inputs.** The parent's `InputCycle` order is dealt out so request i gets the body it would get
  in one process; `inputs.shift(...)`/`unshift()` on the parent reach every worker (each draws
  its share with its own seed).
- **Shutdown.** `stop(timeout)` asks every worker to stop as one process would, waits
  `timeout + STOP_GRACE_S` for their last samples, then kills stragglers and reaps every process.
  Workers run in a session of their own (a terminal's Ctrl-C reaches the parent only, which
  stops them) and exit by themselves when the parent's pipe ends or the parent process is gone
  (killed, crashed), so no worker outlives its parent. A worker that fails raises `WorkerFailed`
  from `stop()`, after the others have stopped; its share of the traffic stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from drillkit.errors import DrillkitError
from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire
from drillkit.traffic.fleet_merge import Merge
from drillkit.traffic.inputs import InputCycle
from drillkit.traffic.samples import Counters, LoadStats, Sample
from drillkit.traffic.worker_protocol import (
    Batch,
    Done,
    Failed,
    Go,
    Rate,
    Ready,
    Shift,
    Stop,
    Unshift,
    WorkerConfig,
    frame,
    read_frame,
)

#: Requests/s one process sends with a p99 schedule slip of a few ms (`drillkit bench load`): above
#: it, `workers` left unset means one process per core.
ONE_PROCESS_RPS = 2000.0
START_TIMEOUT_S = 30.0
#: A rate change re-anchors at the last request due this soon, so no worker can have sent a later
#: one at the old rate before the change reaches it through its pipe (well under a millisecond).
RATE_LEAD_S = 0.005
#: Beyond a stop's own timeout: for the workers' last reports and their exit.
STOP_GRACE_S = 3.0
_STDERR_TAIL = 4000


class WorkerFailed(DrillkitError):
    """A load worker process failed or exited before it was stopped."""


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int | None, rate: float, concurrency: int) -> int:
    """Processes to send `rate` requests/s: `workers`, or (None) one per core above `ONE_PROCESS_RPS`."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be ≥ 1 (got {workers})")
    count = workers if workers is not None else (cores() if rate > ONE_PROCESS_RPS else 1)
    return max(1, min(count, concurrency))


class SharedInputs(InputCycle):
    """The parent's inputs when workers send: an input shift here reaches each worker (`listener`)."""

    def __init__(self, bodies: Sequence[dict[str, Any]]) -> None:
        super().__init__(bodies, seed=None)
        self.order = list(bodies)
        self.listener: Callable[[Shift | Unshift], None] | None = None
        self.current: Shift | None = None

    @classmethod
    def of(cls, cycle: InputCycle) -> SharedInputs:
        """The bodies `cycle` would give next, in its order (one pass)."""
        if cycle.shifted:
            raise ValueError("shift the inputs after the load generator has started, not before")
        return cls([cycle.next() for _ in range(len(cycle))])

    def dealt(self, offset: int, stride: int) -> list[dict[str, Any]]:
        """Worker `offset`'s bodies, in order: request i gets `order[i % len(order)]`, as in one process."""
        n = len(self.order)
        return [self.order[(offset + j * stride) % n] for j in range(n // math.gcd(n, stride))]

    def shift(self, bodies: Sequence[dict[str, Any]], share: float = 1.0, seed: int = 1) -> None:
        super().shift(bodies, share, seed)
        self.current = Shift(list(bodies), share, seed)
        if self.listener is not None:
            self.listener(self.current)

    def unshift(self) -> None:
        super().unshift()
        self.current = None
        if self.listener is not None:
            self.listener(Unshift())


@dataclass
class _Worker:
    index: int
    proc: asyncio.subprocess.Process
    reader: asyncio.Task[None] | None = None
    stderr: asyncio.Task[None] | None = None
    tail: bytearray = field(default_factory=bytearray)
    counters: tuple[int, ...] = ()
    cpu_s: float = 0.0
    done: bool = False
    error: str | None = None

    def send(self, message: object) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(frame(message))

    def describe(self) -> str:
        why = self.error or f"exited with code {self.proc.returncode} before it was stopped"
        text = self.tail.decode("utf-8", "replace").strip().splitlines()
        return f"load worker {self.index} (pid {self.proc.pid}): {why}" + (f": {text[-1]}" if text else "")


class Fleet:
    """`workers` processes sending one schedule (module doc); `LoadGenerator` drives it."""

    def __init__(
        self,
        url: str,
        inputs: SharedInputs,
        *,
        workers: int,
        concurrency: int,
        timeout: float,
        on_full: str,
        max_queue_s: float,
        evals: Mapping[str, Sequence[Assertion]],
        wire: Wire,
        stream: bool,
        on_schedule: Callable[[float], None],
        on_sample: Callable[[Sample], None],
    ) -> None:
        self.inputs = inputs
        self.size = workers
        self._config = dict(url=url, concurrency=concurrency, timeout=timeout, on_full=on_full,
                            max_queue_s=max_queue_s, evals=evals, wire=wire, stream=stream)  # fmt: skip
        self._merge = Merge(workers, on_schedule, on_sample)
        self._workers: list[_Worker] = []
        self._schedule: tuple[float, float, int] = (1.0, 0.0, 0)  # rate, anchor_t, anchor_i
        self._stopped = False

    def _worker_config(self, k: int, rate: float) -> WorkerConfig:
        c = self._config
        share = c["concurrency"] // self.size + (1 if k < c["concurrency"] % self.size else 0)
        return WorkerConfig(bodies=self.inputs.dealt(k, self.size), rate=rate, offset=k, stride=self.size,
                            **{**c, "concurrency": share}, shift=self.inputs.current)  # fmt: skip

    async def start(self, rate: float, at: float | None) -> float:
        """Start the workers and, once every one is ready, the schedule; its start time (`at` or now)."""
        spawns = [asyncio.create_task(self._spawn(k, rate)) for k in range(self.size)]
        try:
            done, late = await asyncio.wait(spawns, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_EXCEPTION)
            failure = next((t.exception() for t in done if t.exception() is not None), None)
            if late or failure is not None:
                why = str(failure) if failure is not None else f"not ready within {START_TIMEOUT_S:g} s"
                raise WorkerFailed(f"the load workers did not start: {why}")
        except BaseException:
            for task in spawns:
                task.cancel()
            await asyncio.gather(*spawns, return_exceptions=True)
            await self._reap()
            raise
        t0 = time.monotonic() if at is None else at
        self._schedule = (rate, t0, 0)
        self.inputs.listener = self._broadcast
        for worker in self._workers:
            worker.send(Go(rate, t0, 0))
            worker.reader = asyncio.create_task(self._read(worker), name=f"drillkit-load-worker-{worker.index}")
        return t0

    async def _spawn(self, k: int, rate: float) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "drillkit.traffic.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, env=_worker_env(),
        )  # fmt: skip
        worker = _Worker(k, proc)
        self._workers.append(worker)
        worker.stderr = asyncio.create_task(_keep_tail(proc.stderr, worker.tail))
        worker.send(self._worker_config(k, rate))
        assert proc.stdout is not None
        try:
            ready = await read_frame(proc.stdout)
        except Exception as exc:  # anything but a frame: not a worker we can run
            ready = Failed(f"unreadable start: {exc}")
        if not isinstance(ready, Ready):
            worker.error = ready.error if isinstance(ready, Failed) else "no ready message"
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            await worker.stderr
            raise WorkerFailed(worker.describe())

    def set_rate(self, rate: float) -> None:
        """Re-anchor the whole schedule at the last request due by now (+ `RATE_LEAD_S`), then `rate`."""
        old, anchor_t, anchor_i = self._schedule
        last = anchor_i + max(0, math.floor((time.monotonic() + RATE_LEAD_S - anchor_t) * old))
        self._schedule = (rate, anchor_t + (last - anchor_i) / old, last)
        self._broadcast(Rate(*self._schedule))

    def _broadcast(self, message: object) -> None:
        for worker in self._workers:
            worker.send(message)

    async def _read(self, worker: _Worker) -> None:
        """Take one worker's reports until it is done (or gone); then it no longer holds the merge back."""
        assert worker.proc.stdout is not None
        try:
            while (message := await read_frame(worker.proc.stdout)) is not None:
                if isinstance(message, Batch):
                    worker.counters, worker.cpu_s = message.counters, message.cpu_s
                    self._merge.add(worker.index, message)
                elif isinstance(message, Done):
                    worker.counters, worker.cpu_s, worker.done = message.counters, message.cpu_s, True
                    if not self._stopped:  # its share of the traffic ended early: say so at stop()
                        worker.error = "stopped before the run asked it to (a SIGTERM?)"
                    break
                elif isinstance(message, Failed):
                    worker.error = message.error
                    break
        except Exception as exc:  # a corrupt stream: this worker is lost, the others go on
            worker.error = f"unreadable report: {exc}"
        finally:
            self._merge.finish(worker.index)

    def stats(self) -> LoadStats:
        total = Counters()
        names = list(Counters.__dataclass_fields__)
        for worker in self._workers:
            for name, value in zip(names, worker.counters, strict=False):
                setattr(total, name, getattr(total, name) + value)
        return total.stats()

    def cpu_s(self) -> list[float]:
        return [w.cpu_s for w in self._workers]

    async def stop(self, timeout: float) -> None:
        """Stop every worker (module doc); raises `WorkerFailed` after all are reaped if one failed."""
        if self._stopped:
            return
        self._stopped = True
        self.inputs.listener = None
        try:
            self._broadcast(Stop(timeout))
            readers = [w.reader for w in self._workers if w.reader is not None]
            if readers:
                await asyncio.wait(readers, timeout=timeout + STOP_GRACE_S)
        finally:
            await self._reap()
        # A worker that exited 0 stopped as asked, even if its Done went unread (our reader was
        # cancelled with the rest of the event loop's tasks, e.g. on Ctrl-C).
        failed = [w.describe() for w in self._workers if w.error or not (w.done or w.proc.returncode == 0)]
        if failed:
            raise WorkerFailed("; ".join(failed))

    async def _reap(self) -> None:
        """End every worker's pipe and process; kill what does not exit in time. Safe to cancel."""
        for worker in self._workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()  # a worker still running takes the end of its pipe as a stop
        tasks = [t for w in self._workers for t in (w.reader, w.stderr) if t is not None]
        try:
            exits = [asyncio.ensure_future(w.proc.wait()) for w in self._workers]
            if exits:
                await asyncio.wait(exits, timeout=STOP_GRACE_S)
            for worker in self._workers:
                if worker.proc.returncode is None:
                    worker.error = worker.error or f"still running {STOP_GRACE_S:g} s after its stop: killed"
            self._kill()
            await asyncio.gather(*exits, return_exceptions=True)
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)  # the pipes have ended: their last reports
        finally:
            self._kill()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._merge.finish_all()

    def _kill(self) -> None:
        for worker in self._workers:
            if worker.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
                    worker.proc.kill()


async def _keep_tail(stream: asyncio.StreamReader | None, tail: bytearray) -> None:
    """Read a worker's stderr to its end, keeping the last bytes (for the error message)."""
    if stream is None:
        return
    while chunk := await stream.read(4096):
        tail += chunk
        del tail[:-_STDERR_TAIL]


def _worker_env() -> dict[str, str]:
    """The environment, with this drillkit first on the path (a checkout not installed works too)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


__all__ = ["ONE_PROCESS_RPS", "Fleet", "SharedInputs", "WorkerFailed", "cores", "resolve_workers"]
