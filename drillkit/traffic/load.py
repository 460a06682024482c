"""An open-loop, constant-arrival-rate load generator with live quality checks.

    load = LoadGenerator(url, InputCycle(bodies), rate=20, concurrency=64, evals=by_question,
                         on_sample=windows.add, on_schedule=windows.scheduled)
    await load.start()
    ...                                  # load.set_rate(50) at any time
    stats = await load.stop(timeout=2)

Contract:

- **Open loop.** Request i is scheduled at `t0 + i / rate` (re-anchored at the last scheduled
  request when the rate changes), whatever the responses do: a slow service never lowers the
  sent rate. If the event loop falls behind, overdue requests are sent at once, keeping their
  scheduled times.
- **No coordinated omission.** Every time is on `clock` (seconds, `time.monotonic` by default),
  and `Sample.latency_ms` runs from the *scheduled* time, so time spent waiting for a slot or for
  the loop counts. A request that cannot start because `concurrency` requests are in flight is
  queued (`on_full="queue"`) or dropped at once (`on_full="drop"`); one still queued
  `max_queue_s` after its scheduled time is dropped. Dropped requests are delivered as samples
  (`dropped=True`, `ok=False`), never silently skipped.
- **Deadlines.** A sent request gets its full `timeout` (seconds from the send: a request that
  waited for a slot is not sent with a sliver of budget only to be abandoned, which would pile
  work the client no longer wants onto a struggling service). So every request has produced
  exactly one sample by `scheduled + max_queue_s + timeout`.
- **The service's wire format** (`wire`, `drillkit.evals.wire`): each input record
  (`{question}` or `{messages}`) becomes the request body of the service's api, its headers go
  with every request, and the answer, served model, provider and cost are read from where the
  api (or `service.response`) keeps them; a cost that cannot be read is None, never 0.
- **Live quality.** When a record's question (`question`, or its last user message) equals a key
  of `evals`, a successful response is judged with `drillkit.evals.check` on those assertions:
  `eval_passed` is True/False. It is None when no eval applies, and for failed requests (those
  count against the error rate instead, so the two SLOs measure different things).
- `on_schedule(scheduled)` is called as each request is scheduled and `on_sample(sample)` as each
  finishes, both on the event loop. An exception from either is re-raised by `stop()`.
- Requests still unanswered when `stop()`'s timeout ends are cancelled and only counted
  (`LoadStats.cancelled`): a run's last window is not judged on requests cut short by cleanup.

Transport (`drillkit.traffic.transport`): an `http://` URL is served by `Http11Transport`, a
keep-alive HTTP/1.1 client that costs a fraction of httpx per request (it is what lets one process
send 2,000 requests/s: `drillkit bench load`). `https://` URLs, URLs with credentials, URLs an
HTTP proxy from the environment applies to, and a `client` passed in go through httpx
(`HttpxTransport`); for a loopback URL no proxy is used either way. Connections are kept alive
and reused, and a failed request is a sample with its `error` ("timeout: …", "connect: …", or
"ConnectionLost: …" when the connection broke or the answer was not HTTP).

Several processes (`workers`): one process holds about 2,000 requests/s with a p99 schedule slip
of a few ms; above that `workers` processes (default: one per core when `rate` is above
`ONE_PROCESS_RPS`, else one) each send a share of the one schedule — worker k of n the requests
i with i % n == k — and stream their samples back, so `on_schedule`, `on_sample`, `stats`,
`set_rate` and `inputs.shift` behave as in one process (`drillkit.traffic.fleet` has the contract).

Samples and counters (`Sample`, `LoadStats`, re-exported here) are built in
`drillkit.traffic.samples`; the transport for a URL is chosen by `transport.transport_for`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import httpx

from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire
from drillkit.traffic.fleet import ONE_PROCESS_RPS, Fleet, SharedInputs, resolve_workers
from drillkit.traffic.inputs import InputCycle
from drillkit.traffic.samples import Counters, LoadStats, Sample, answered, dropped, failed, streamed
from drillkit.traffic.transport import (
    ConnectFailed,
    HttpxTransport,
    JsonTransport,
    RequestTimeout,
    TransportError,
    split_url,
    transport_for,
)

OnFull = Literal["queue", "drop"]
#: Overdue requests launched back to back before the scheduler yields to the event loop.
_BURST = 64


class LoadGenerator:
    """POST bodies from `inputs` to `url` at `rate` requests/s, at most `concurrency` at a time.

    See the module doc for the timing contract. `timeout` is seconds per request from its send;
    `max_queue_s` (default: `timeout`) how long a request may wait for a slot. `client`, when
    given, is used as is (through `HttpxTransport`) and left open; otherwise the transport is
    chosen from the URL (module doc) and closed by `stop()`.

    `workers` is how many processes send (None: decided from `rate`, module doc); more than one
    needs the default `clock` and no `client`. `share=(k, n)` sends only the requests i with
    i % n == k (what one worker process does), each at its place in the whole schedule.
    """

    def __init__(
        self,
        url: str,
        inputs: InputCycle | Sequence[dict[str, Any]],
        *,
        rate: float,
        concurrency: int = 64,
        timeout: float = 30.0,
        on_full: OnFull = "queue",
        max_queue_s: float | None = None,
        evals: Mapping[str, Sequence[Assertion]] | None = None,
        on_sample: Callable[[Sample], None] | None = None,
        on_schedule: Callable[[float], None] | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wire: Wire | None = None,
        stream: bool = False,
        workers: int | None = 1,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be ≥ 1 (got {concurrency})")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s (got {timeout})")
        self.url = url
        self.inputs = inputs if isinstance(inputs, InputCycle) else InputCycle(inputs, seed=None)
        self.concurrency = concurrency
        self.timeout = timeout
        self.on_full = on_full
        self.max_queue_s = timeout if max_queue_s is None else max_queue_s
        self.evals = evals or {}
        self.on_sample = on_sample
        self.on_schedule = on_schedule
        self.wire = wire or Wire()
        self.stream = stream
        if stream and self.wire.api == "json":
            raise ValueError("streamed traffic needs a service api that streams: openai-chat or anthropic-messages")
        self._clock = clock
        self._rate = _positive_rate(rate)
        self._client = client
        self._transport: JsonTransport | None = None
        self._target = split_url(url)[1]
        self._slots = asyncio.Semaphore(concurrency)
        self._stats = Counters()
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler: asyncio.Task[None] | None = None
        self._waker: asyncio.Future[None] | None = None
        self._stopping = False
        self._callback_error: BaseException | None = None
        self.t0: float | None = None
        self._i, self._stride = share  # the next request's index in the whole schedule; the step
        self._anchor_t = 0.0
        self._anchor_i = 0
        self._last_scheduled: float | None = None
        self._fleet: Fleet | None = None
        self.workers = self._processes(workers, share)

    def _processes(self, workers: int | None, share: tuple[int, int]) -> int:
        """How many processes send (module doc); in several, `inputs` tell the workers of a shift."""
        if not 0 <= share[0] < share[1]:
            raise ValueError(f"share must be (k, n) with 0 ≤ k < n (got {share})")
        in_process = self._client is not None or self._clock is not time.monotonic
        if in_process and workers not in (None, 1):
            raise ValueError("workers > 1 needs the default clock and no client (neither crosses processes)")
        count = 1 if in_process or share[1] > 1 else resolve_workers(workers, self._rate, self.concurrency)
        if count > 1:
            self.inputs = SharedInputs.of(self.inputs)
        return count

    # -- control -----------------------------------------------------------------------------

    @property
    def rate(self) -> float:
        """Requests per second currently scheduled."""
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Change the arrival rate now: the next request comes 1/rate after the last scheduled one."""
        self._rate = _positive_rate(rate)
        if self._fleet is not None:
            self._fleet.set_rate(self._rate)
        elif self._last_scheduled is not None:
            self._anchor_t, self._anchor_i = self._last_scheduled, self._i - self._stride
        self._wake()

    def follow(self, rate: float, anchor_t: float, anchor_i: int) -> None:
        """From now on send request i at `anchor_t + (i - anchor_i) / rate` (a worker's rate change)."""
        self._rate = _positive_rate(rate)
        self._anchor_t, self._anchor_i = anchor_t, anchor_i
        self._wake()

    @property
    def next_due(self) -> float:
        """When this generator's next request is due: every one due earlier has been scheduled."""
        return self._anchor_t + (self._i - self._anchor_i) / self._rate

    @property
    def stats(self) -> LoadStats:
        return self._fleet.stats() if self._fleet is not None else self._stats.stats()

    @property
    def running(self) -> bool:
        started = self._scheduler is not None or self._fleet is not None
        return started and not self._stopping

    @property
    def worker_cpu_s(self) -> list[float]:
        """CPU seconds each worker process has used, as last reported ([] in one process)."""
        return self._fleet.cpu_s() if self._fleet is not None else []

    async def start(self, at: float | None = None) -> None:
        """Begin scheduling; the first request is due at `at` (clock seconds; default: now)."""
        if self._scheduler is not None or self._fleet is not None:
            raise RuntimeError("this load generator was already started")
        if self.workers > 1:
            await self._start_fleet(at)
            return
        self._transport = transport_for(
            self.url,
            timeout=self.timeout,
            concurrency=self.concurrency,
            client=self._client,
            headers=self.wire.request_headers(),
            stream=self.stream,
        )
        self.t0 = self._clock() if at is None else at
        self._anchor_t, self._anchor_i = self.t0, 0
        self._scheduler = asyncio.create_task(self._schedule(), name="drillkit-load-scheduler")

    async def stop(self, timeout: float = 5.0) -> LoadStats:
        """Stop scheduling, wait up to `timeout` s for requests in flight, cancel the rest.

        Idempotent. Returns the final counters; re-raises an exception a callback raised.
        """
        self._stopping = True
        self._wake()
        if self._fleet is not None:
            await self._fleet.stop(timeout)
        if self._scheduler is not None:
            await self._scheduler
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None
        if self._callback_error is not None:
            error, self._callback_error = self._callback_error, None
            raise error
        return self.stats

    async def _start_fleet(self, at: float | None) -> None:
        assert isinstance(self.inputs, SharedInputs)
        names = ("concurrency", "timeout", "on_full", "max_queue_s", "evals", "wire", "stream")
        fleet = Fleet(self.url, self.inputs, workers=self.workers, **{name: getattr(self, name) for name in names},
                      on_schedule=lambda t: self._call(self.on_schedule, t),
                      on_sample=lambda sample: self._call(self.on_sample, sample))  # fmt: skip
        self.t0 = await fleet.start(self._rate, at)
        self._fleet = fleet  # only once started: a failed start leaves nothing to stop

    async def __aenter__(self) -> LoadGenerator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- scheduling --------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waker is not None and not self._waker.done():
            self._waker.set_result(None)

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        burst = 0
        while not self._stopping:
            due = self._anchor_t + (self._i - self._anchor_i) / self._rate
            delay = due - self._clock()
            if delay > 0:
                burst = 0
                # A future rather than sleep(): set_rate() and stop() must take effect at once,
                # not after up to 1/rate seconds.
                self._waker = loop.create_future()
                handle = loop.call_later(delay, _resolve, self._waker)
                await self._waker
                handle.cancel()
                continue
            self._launch(due)
            burst += 1
            if burst % _BURST == 0:
                await asyncio.sleep(0)  # catching up after a stall: let the requests run too

    def _launch(self, due: float) -> None:
        index, body = self._i, self.inputs.next()
        self._i += self._stride
        self._last_scheduled = due
        self._stats.scheduled += 1
        self._call(self.on_schedule, due)
        task = asyncio.create_task(self._request(index, due, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one request -------------------------------------------------------------------------

    async def _request(self, index: int, scheduled: float, body: dict[str, Any]) -> None:
        try:
            if self.on_full == "drop" and self._slots.locked():
                self._deliver(self._dropped(index, scheduled, f"concurrency cap {self.concurrency} full"))
                return
            try:
                if self._slots.locked():  # a free slot is taken at once, without arming a timer
                    async with asyncio.timeout(max(0.0, scheduled + self.max_queue_s - self._clock())):
                        await self._slots.acquire()
                else:
                    await self._slots.acquire()
            except TimeoutError:
                queued = self._clock() - scheduled
                reason = f"queued {queued:.2f} s, concurrency cap {self.concurrency} full"
                self._deliver(self._dropped(index, scheduled, reason))
                return
            try:
                self._stats.in_flight += 1
                self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)
                self._stats.sent += 1
                sample = await self._send(index, scheduled, body)
            finally:
                self._stats.in_flight -= 1
                self._slots.release()
            self._deliver(sample)
        except asyncio.CancelledError:
            self._stats.cancelled += 1
            raise

    async def _send(self, index: int, scheduled: float, body: dict[str, Any]) -> Sample:
        assert self._transport is not None
        base: dict[str, Any] = {"index": index, "scheduled": scheduled, "started": self._clock()}
        try:
            if self.stream:
                return await self._send_streamed(base, body)
            response = await self._transport.post_json(self._target, self.wire.body(body))
        except RequestTimeout:  # the transport bounds the whole request by `timeout`
            return failed(base, self._clock(), f"timeout: no response within {self.timeout:g} s")
        except ConnectFailed as exc:
            return failed(base, self._clock(), f"connect: {exc or type(exc).__name__}")
        except TransportError as exc:
            return failed(base, self._clock(), f"{type(exc).__name__}: {exc or 'request failed'}")
        return answered(base, self._clock(), response, body, self.evals, self.wire)

    async def _send_streamed(self, base: dict[str, Any], record: dict[str, Any]) -> Sample:
        """One streamed request (`stream=True`): time to first token, then the assembled answer."""
        assert isinstance(self._transport, HttpxTransport)
        body = self.wire.body(record, stream=True)
        response = await self._transport.post_stream(self._target, body, self.wire.is_token, self._clock)
        return streamed(base, self._clock(), response, record, self.evals, self.wire)

    def _dropped(self, index: int, scheduled: float, reason: str) -> Sample:
        self._stats.dropped += 1
        return dropped(index, scheduled, self._clock(), reason)

    def _deliver(self, sample: Sample) -> None:
        self._stats.completed += 1
        self._call(self.on_sample, sample)

    def _call(self, callback: Callable[[Any], None] | None, arg: Any) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception as exc:  # surfaced by stop(); traffic keeps flowing meanwhile
            if self._callback_error is None:
                self._callback_error = exc


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _positive_rate(rate: float) -> float:
    if not rate > 0:
        raise ValueError(f"rate must be > 0 requests/s (got {rate})")
    return float(rate)


__all__ = ["ONE_PROCESS_RPS", "LoadGenerator", "LoadStats", "OnFull", "Sample"]
