"""`traffic.engine: locust`: a game-day's traffic sent by a Locust master and its workers.

    load = LocustLoad(url, InputCycle(bodies), rate=20, concurrency=32, evals=by_question, wire=wire,
                      on_schedule=windows.scheduled, on_sample=windows.add, workers=2)
    await load.start()                   # master + 2 local workers, ready, users spawned
    ...                                  # load.inputs.shift(...), load.set_rate(...), load.stats
    stats = await load.stop(timeout=3)   # master and workers stopped, no process left

It has `LoadGenerator`'s interface as the game-day uses it, and feeds the same windows: every
request's outcome becomes one `Sample` (judged by drillkit with the same evals and wire, see
`drillkit.traffic.locust_feed`), announced by `on_schedule` before its sample, as one process would.

**Processes.** `locust` is run from `DRILLKIT_LOCUST_BIN`, else the `locust` on PATH, else the one
beside this Python (`pip install locust`; missing: `LocustMissing`, exit 2). The master runs
headless (`--master --headless`), bound to 127.0.0.1 on an ephemeral port (`--master-bind-port 0`:
its locustfile tells drillkit the port), and `workers` local processes (`--worker`, default one
per core, at most `concurrency`) connect to it. Each runs in a session of its own, in a private
temporary folder (no `locust.conf` or `pyproject.toml` of the caller's folder applies; `LOCUST_*`
variables are dropped), and quits when drillkit is gone. `stop()` asks the master to stop (the
workers give requests in flight the stop's timeout), waits for its last reports and the exit of
every process, then SIGTERMs and SIGKILLs the process groups of stragglers. A process that dies,
or a worker Locust loses, raises `LocustFailed` from `stop()`.

**Secrets.** What the locustfile needs is in a JSON file, mode 0600 in a 0700 temporary folder,
named to the processes by `DRILLKIT_LOCUST_CONFIG`: inputs (as the wire sends them) and the
service's headers (`Wire.request_headers()`, `${VAR}` already expanded). Nothing is on a command
line. The file is deleted as soon as every local process has read it (when traffic starts), and
in any case by `stop()` or a failed `start()`; only a drillkit killed during start-up leaves it.
Headers never cross Locust's master–worker channel (it is neither encrypted nor authenticated).

**Timing, and where it differs from drillkit's own generator.** The schedule is the same open
loop: request i is due at `t0 + i / rate` (re-anchored on `set_rate`), whatever the answers do;
worker k of n sends the requests with i % n == k. Each worker puts a request on its queue when it
is due and its Locust users (`concurrency` split among the workers) take them; latency runs from
the *scheduled* time, so waiting for a free user counts (no coordinated omission in what is
measured), and a request that waited longer than `max_queue_s` is dropped and reported. But:
- the queue is per worker: a request waits for a user of *its* worker even when another worker
  has idle users (drillkit's generator has one pool);
- pacing runs on gevent timers in epoch time (`time.time()`): a few ms of slip under load, and
  the Locust hosts' clocks must agree (NTP) for samples to land in the right windows;
- a request's timeout is per socket operation and for the whole request (both `timeout`);
- samples reach the windows in batches every 20 ms through the master: 30–60 ms after the fact;
- Locust's own statistics (printed by the master at exit, in its output) time each request from
  its send, not from its schedule: they show no queueing, as any closed-loop tool would.
Streamed traffic (`traffic.stream`) is not supported (the scenario refuses it).

**Workers on other hosts.** Set `DRILLKIT_LOCUST_MASTER_BIND=HOST:PORT` (an interface the workers
reach, a fixed port) and `DRILLKIT_LOCUST_REMOTE_WORKERS=N`; the master then waits for the local
workers plus N more. On each worker host (Locust of the same version, the service reachable):

    DRILLKIT_LOCUST_HEADERS='{"authorization": "Bearer ..."}' \\
        locust --worker -f - --master-host HOST --master-port PORT

(`-f -` fetches this locustfile from the master; the headers come from that host's own secret
store). Start them within a few minutes of the game-day; each exits when the run ends. The
channel carries the inputs in clear: bind it to a private network.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from drillkit.evals.suite import Assertion
from drillkit.evals.wire import Wire
from drillkit.net.jsonio import dumps
from drillkit.traffic.fleet import SharedInputs, cores
from drillkit.traffic.inputs import InputCycle
from drillkit.traffic.locust_feed import Feed
from drillkit.traffic.locust_processes import LocustFailed, LocustMissing, Processes, RunFiles, locust_bin, master_bind
from drillkit.traffic.samples import LoadStats, Sample
from drillkit.traffic.worker_protocol import Shift, Unshift

START_TIMEOUT_S = 60.0
#: Beyond a stop's own timeout: for the last reports and every process's exit.
STOP_GRACE_S = 5.0
#: A rate change re-anchors at the last request due this soon: the change reaches every worker first.
RATE_LEAD_S = 0.05
_LINE_LIMIT = 1 << 28


class LocustLoad:
    """`LoadGenerator`'s game-day interface, sent by Locust (module doc)."""

    def __init__(
        self,
        url: str,
        inputs: InputCycle | Sequence[dict[str, Any]],
        *,
        rate: float,
        concurrency: int = 64,
        timeout: float = 30.0,
        max_queue_s: float | None = None,
        evals: Mapping[str, Sequence[Assertion]] | None = None,
        on_sample: Callable[[Sample], None] | None = None,
        on_schedule: Callable[[float], None] | None = None,
        wire: Wire | None = None,
        stream: bool = False,
        workers: int | None = None,
    ) -> None:
        if stream:
            raise ValueError("traffic.engine locust does not send streamed requests")
        if not rate > 0 or timeout <= 0 or concurrency < 1:
            raise ValueError(f"rate > 0, timeout > 0 and concurrency ≥ 1 expected ({rate}, {timeout}, {concurrency})")
        cycle = inputs if isinstance(inputs, InputCycle) else InputCycle(inputs, seed=None)
        self.url, self.concurrency, self.timeout = url, concurrency, timeout
        self.max_queue_s = timeout if max_queue_s is None else max_queue_s
        self.evals, self.wire = evals or {}, wire or Wire()
        self.on_sample, self.on_schedule = on_sample, on_schedule
        self.inputs = SharedInputs.of(cycle)
        self._records: list[dict[str, Any]] = list(self.inputs.order)
        self._rate = float(rate)
        self.bind_host, self.bind_port, self.remote_workers = master_bind()
        self.workers = max(1, min(workers if workers is not None else cores(), concurrency))
        if self.workers + self.remote_workers > concurrency:
            raise ValueError(f"{self.workers + self.remote_workers} Locust workers need concurrency ≥ that many")
        self.t0: float | None = None
        self._offset = 0.0  # epoch seconds minus load-clock seconds, measured at the start
        self._schedule = (self._rate, 0.0, 0)  # rate, anchor_t (epoch), anchor_i
        self._feed: Feed | None = None
        self._procs: Processes | None = None
        self._files: RunFiles | None = None
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._sink_closed = asyncio.Event()
        self._token = secrets.token_hex(16)
        self._began = self._stopping = False
        self._errors: list[str] = []
        self._callback_error: BaseException | None = None

    # -- the interface -------------------------------------------------------------------------

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def stats(self) -> LoadStats:
        return self._feed.stats() if self._feed is not None else LoadStats()

    @property
    def running(self) -> bool:
        return self.t0 is not None and not self._stopping

    @property
    def worker_cpu_s(self) -> list[float]:
        """CPU seconds each Locust worker has used, as last reported."""
        return [self._feed.cpu_s[k] for k in sorted(self._feed.cpu_s)] if self._feed is not None else []

    def set_rate(self, rate: float) -> None:
        """Re-anchor the schedule at the last request due by now (+ `RATE_LEAD_S`), then `rate`."""
        if not rate > 0:
            raise ValueError(f"rate must be > 0 requests/s (got {rate})")
        old, anchor_t, anchor_i = self._schedule
        self._rate = float(rate)
        if self.t0 is None:
            self._schedule = (self._rate, 0.0, 0)
            return
        last = anchor_i + max(0, math.floor((time.time() + RATE_LEAD_S - anchor_t) * old))
        self._schedule = (self._rate, anchor_t + (last - anchor_i) / old, last)
        self._send({"t": "rate", "rate": self._rate, "anchor_t": self._schedule[1], "anchor_i": last})

    async def start(self, at: float | None = None) -> None:
        """Start the master and the workers; return once the schedule has begun (Locust picks `t0`)."""
        if at is not None:
            raise ValueError("a Locust run starts when its workers are ready: `at` is not supported")
        if self._began:
            raise RuntimeError("this load generator was already started")
        self._began = True
        binary = locust_bin()
        self._files = RunFiles()
        self._procs = Processes(binary, self._files)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                self.t0 = await self._launch(self._procs)
        except BaseException as exc:
            self._stopping = True
            await self._shutdown(grace=0.0)  # nobody asked them to stop: signal at once
            if isinstance(exc, TimeoutError):
                why = f"Locust did not start within {START_TIMEOUT_S:g} s ({self._procs.describe()})"
                raise LocustFailed(why) from None
            raise
        finally:
            self._files.forget()  # every local process has read it
        self._schedule = (self._rate, self.t0 + self._offset, 0)
        self.inputs.listener = self._shifted
        if self.inputs.current is not None:
            self._shifted(self.inputs.current)

    async def stop(self, timeout: float = 5.0) -> LoadStats:
        """Stop the run (module doc). Idempotent; raises what a callback raised, then `LocustFailed`."""
        if not self._stopping:
            self._stopping = True
            self.inputs.listener = None
            try:
                if self._procs is not None:  # a process gone before its stop failed
                    self._errors += [p.describe() for p in self._procs.all if p.proc.returncode is not None]
                if self._feed is not None and self._writer is not None and not self._sink_closed.is_set():
                    self._send({"t": "stop", "timeout": timeout})
                    await _first(self._feed.bye, self._sink_closed.wait(), timeout=timeout + STOP_GRACE_S)
                    if self._feed.bye.done():
                        self._said_bye(self._feed.bye.result())
            finally:
                await self._shutdown(grace=STOP_GRACE_S)
        if self._callback_error is not None:
            error, self._callback_error = self._callback_error, None
            raise error
        if self._errors:
            errors, self._errors = self._errors, []
            raise LocustFailed("; ".join(errors))
        return self.stats

    async def __aenter__(self) -> LocustLoad:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- start ---------------------------------------------------------------------------------

    async def _launch(self, procs: Processes) -> float:
        total = self.workers + self.remote_workers
        self._offset = time.time() - time.monotonic()
        self._feed = Feed(total, self._records, offset=self._offset, evals=self.evals, wire=self.wire,
                          on_schedule=lambda t: self._call(self.on_schedule, t),
                          on_sample=lambda s: self._call(self.on_sample, s))  # fmt: skip
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_LINE_LIMIT)
        self._write_config(self._server.sockets[0].getsockname()[1])
        users, spawn = str(self.concurrency), str(min(self.concurrency * 4, 100 * total))
        await procs.spawn("master", "--master", "--headless", "--master-bind-host", self.bind_host,
                          "--master-bind-port", str(self.bind_port), "--expect-workers", str(total),
                          "--expect-workers-max-wait", f"{START_TIMEOUT_S:g}", "-u", users, "-r", spawn,
                          "--only-summary")  # fmt: skip
        port = str((await procs.until(self._feed.hello))["port"])
        near = "127.0.0.1" if self.bind_host in ("*", "0.0.0.0", "127.0.0.1") else self.bind_host
        for k in range(self.workers):
            await procs.spawn(f"worker {k}", "--worker", "--master-host", near, "--master-port", port)
        return await procs.until(self._feed.go)

    def _write_config(self, sink_port: int) -> None:
        """The run's config file, 0600 in a 0700 folder (module doc)."""
        assert self._files is not None
        names = {"x-trace-id"} | {v[7:].lower() for v in self.wire.response.values() if v.startswith("header:")}
        config = {"token": self._token, "sink": ["127.0.0.1", sink_port], "url": self.url, "rate": self._rate,
                  "timeout": self.timeout, "max_queue_s": self.max_queue_s, "users": self.concurrency,
                  "workers": self.workers + self.remote_workers, "return_headers": sorted(names),
                  "order": [[rid, self._text(r)] for rid, r in enumerate(self._records)],
                  "headers": self.wire.request_headers()}  # fmt: skip
        self._files.write(config)

    # -- the sink: the master's lines in, control lines out ---------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The master's connection (its first line holds the run's token); anyone else is turned away."""
        try:
            first = json.loads(await asyncio.wait_for(reader.readline(), 10.0))
            token = first.get("token") if isinstance(first, dict) else None
        except (ValueError, TimeoutError, ConnectionError):
            token = None
        if self._writer is not None or not isinstance(token, str) or not hmac.compare_digest(token, self._token):
            writer.close()
            return
        assert self._feed is not None
        self._writer = writer
        self._feed.handle(first)
        try:
            while line := await reader.readline():
                self._feed.handle(json.loads(line))
        except Exception as exc:  # a corrupt stream: the run goes on without the master's reports
            self._errors.append(f"unreadable report from the Locust master: {type(exc).__name__}: {exc}")
        finally:
            self._sink_closed.set()
            if not self._stopping and self._feed.started:
                self._errors.append("the Locust master stopped reporting before the run asked it to stop")
            self._feed.finish_all()
            writer.close()

    def _send(self, message: dict[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(dumps(message) + b"\n")

    def _text(self, record: dict[str, Any]) -> str:
        return dumps(self.wire.body(record)).decode()

    def _shifted(self, message: Shift | Unshift) -> None:
        """An input shift on `inputs` (module doc of `fleet`): the workers draw from these bodies too."""
        if isinstance(message, Unshift):
            self._send({"t": "unshift"})
            return
        cycle = InputCycle(message.bodies, seed=message.seed)  # the order one process would draw them in
        bodies = []
        for record in (cycle.next() for _ in range(len(cycle))):
            self._records.append(record)
            bodies.append([len(self._records) - 1, self._text(record)])
        self._send({"t": "shift", "bodies": bodies, "share": message.share, "seed": message.seed})

    def _call(self, callback: Callable[[Any], None] | None, arg: Any) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception as exc:  # surfaced by stop(); traffic keeps flowing meanwhile
            if self._callback_error is None:
                self._callback_error = exc

    def _said_bye(self, bye: dict[str, Any]) -> None:
        assert self._feed is not None
        lost = sorted(set(bye.get("missing") or []) | self._feed.lost)
        if lost:
            self._errors.append(f"Locust workers {', '.join(map(str, lost))} stopped before the run asked them to")

    # -- shutdown ------------------------------------------------------------------------------

    async def _shutdown(self, grace: float) -> None:
        """Every process exited (within `grace` s, then SIGTERM, then SIGKILL), the sink closed, the config gone."""
        try:
            if self._procs is not None:
                self._errors += await self._procs.shutdown(grace)
        finally:
            if self._files is not None:
                self._files.forget()
            if self._writer is not None:
                self._writer.close()
            if self._server is not None:
                self._server.close()
            if self._feed is not None:
                self._feed.finish_all()


async def _first(future: asyncio.Future[Any], other: Any, *, timeout: float) -> None:
    """Wait until `future` is done or `other` (an awaitable) finishes, at most `timeout` seconds."""
    waiter = asyncio.ensure_future(other)
    try:
        await asyncio.wait([future, waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


__all__ = [
    "LocustFailed",
    "LocustLoad",
    "LocustMissing",
]
