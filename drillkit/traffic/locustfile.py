"""drillkit's locustfile: a Locust master and its workers sending a game-day's traffic.

Run by `drillkit.traffic.locust_engine` (`traffic.engine: locust`), never imported by drillkit
itself: Locust monkey-patches the process with gevent. It needs only the standard library and
Locust, so a worker on another host needs `pip install locust` and nothing of drillkit (it can
fetch this file from the master with `-f -`).

Roles and messages:

- **The master** reads the run's config (`DRILLKIT_LOCUST_CONFIG`, a 0600 JSON file), connects to
  drillkit's sample sink (loopback TCP, named in the config, first line a random token), says
  `hello` with its worker port (bound to an ephemeral port), and relays: drillkit's control lines
  (`shift`, `unshift`, `rate`, `stop`) to the workers as Locust custom messages, the workers'
  `drillkit:batch`/`drillkit:done` messages to drillkit as JSON lines. When every expected
  worker has connected Locust starts the test: the master sends `drillkit:config` (target,
  inputs, timeouts; never headers); once every worker has spawned its users, `drillkit:go` with
  the schedule, and `go` to drillkit.
- **A worker** (index k of n, Locust's `worker_index`) sends the slots i with i % n == k of one
  open-loop schedule: slot i is due at `anchor_t + (i - anchor_i) / rate` (epoch seconds,
  `time.time()`: all hosts must share a synchronised clock) and carries input `order[i % len]`.
  A pacing greenlet puts each slot on a queue at its due time; the worker's users (drillkit's
  `concurrency` split among the workers) take slots off it, so a request waits only when every
  user is busy, and one that waited longer than `max_queue_s` is dropped (reported, not sent).
  Every `FLUSH_S` the worker sends a batch: the slots scheduled, the samples finished (status,
  raw body, the headers drillkit reads, or the error), its counters, and `next_due` (every slot
  due earlier is in this batch or an earlier one). The answers are judged by drillkit.
- **Headers** (secrets) are read by each worker on its own host: from the config file named by
  `DRILLKIT_LOCUST_CONFIG` (local workers), else from `DRILLKIT_LOCUST_HEADERS` (a JSON object in
  the environment of a remote worker). They never cross Locust's master–worker channel.
- **Shutdown.** `stop`: workers stop scheduling, give requests in flight up to the stop's timeout,
  send a final batch (`next_due` infinite) and `drillkit:done`; the master says `bye` and quits,
  which makes Locust send `quit` to every worker. A process started by drillkit
  (`DRILLKIT_LOCUST_PARENT`) also quits when drillkit is gone, and the master when its sink
  connection ends. A remote worker whose master vanished quits after Locust's heartbeat timeout.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import socket
import time
from typing import Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from gevent.queue import Queue
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

CONFIG_ENV = "DRILLKIT_LOCUST_CONFIG"
HEADERS_ENV = "DRILLKIT_LOCUST_HEADERS"
PARENT_ENV = "DRILLKIT_LOCUST_PARENT"
FLUSH_S = 0.02
#: The first slot is due this long after the go is sent: the message reaches every worker first.
GO_LEAD_S = 0.05
STOP_GRACE_S = 2.0
COUNTERS = ("scheduled", "sent", "completed", "dropped", "cancelled", "in_flight", "max_in_flight")
logger = logging.getLogger("drillkit")


def read_config() -> dict[str, Any]:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def worker_headers(config: dict[str, Any]) -> dict[str, str]:
    """The headers this worker sends: the local config's, else `DRILLKIT_LOCUST_HEADERS`."""
    if "headers" in config:
        return dict(config["headers"])
    text = os.environ.get(HEADERS_ENV)
    return dict(json.loads(text)) if text else {}


def watch_parent(runner: Any) -> None:
    """Quit when the drillkit process that started this one is gone (reparented)."""
    parent = int(os.environ.get(PARENT_ENV) or 0)
    if not parent:
        return
    while os.getppid() == parent:
        gevent.sleep(0.25)
    quit_now(runner, "drillkit is gone")


def quit_now(runner: Any, why: str) -> None:
    logger.warning("drillkit: quitting: %s", why)
    gevent.spawn(runner.quit)
    gevent.sleep(1.0)
    os._exit(3)


class Relay:
    """The master's side: drillkit's sink on one end, the workers on the other (module doc)."""

    def __init__(self, environment: Any, config: dict[str, Any]) -> None:
        self.runner: MasterRunner = environment.runner
        self.config = config
        self.schedule = {"rate": config["rate"], "anchor_t": 0.0, "anchor_i": 0}
        self.shift: dict[str, Any] | None = None
        self.done: set[int] = set()
        self.lost: set[int] = set()
        self.all_done = Event()
        self.started = False
        self.lock = Semaphore()
        self.sink = socket.create_connection(tuple(config["sink"]), timeout=10)
        self.sink.settimeout(None)
        self.send({"t": "hello", "token": config["token"], "port": self.runner.server.port, "pid": os.getpid()})
        self.runner.register_message("drillkit:batch", self.on_batch)
        self.runner.register_message("drillkit:done", self.on_done)
        environment.events.test_start.add_listener(self.on_test_start)
        environment.events.spawning_complete.add_listener(self.on_spawned)
        for job in (self.read_control, self.watch_workers):
            gevent.spawn(job)
        gevent.spawn(watch_parent, self.runner)

    def send(self, message: dict[str, Any]) -> None:
        line = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self.lock:
            self.sink.sendall(line)

    def on_test_start(self, **_: Any) -> None:
        keys = ("url", "timeout", "max_queue_s", "order", "return_headers", "workers", "users")
        self.runner.send_message("drillkit:config", {k: self.config[k] for k in keys})

    def on_spawned(self, **_: Any) -> None:
        if self.started:  # spawning completes again after a worker reconnects: the schedule stands
            return
        self.started = True
        self.schedule["anchor_t"] = time.time() + GO_LEAD_S
        self.runner.send_message("drillkit:go", {**self.schedule, "shift": self.shift})
        self.send({"t": "go", "t0": self.schedule["anchor_t"]})

    def on_batch(self, msg: Any, **_: Any) -> None:
        self.send({"t": "batch", **msg.data})

    def on_done(self, msg: Any, **_: Any) -> None:
        self.send({"t": "done", **msg.data})
        self.done.add(msg.data["w"])
        self.check_done()

    def check_done(self) -> None:
        if len(self.done | self.lost) >= self.config["workers"]:
            self.all_done.set()

    def read_control(self) -> None:
        """drillkit's lines: forwarded to every worker; `stop` ends the run; the end of the sink too."""
        for line in self.sink.makefile("rb"):
            message = json.loads(line)
            kind = message.get("t")
            if kind == "stop":
                gevent.spawn(self.stop, float(message.get("timeout", 5.0)))
                continue
            if kind == "rate":
                self.schedule = {k: message[k] for k in ("rate", "anchor_t", "anchor_i")}
            elif kind in ("shift", "unshift"):
                self.shift = message if kind == "shift" else None
            self.runner.send_message("drillkit:control", message)
        quit_now(self.runner, "drillkit closed the sample sink")

    def stop(self, timeout: float) -> None:
        self.runner.send_message("drillkit:stop", {"timeout": timeout})
        self.all_done.wait(timeout + STOP_GRACE_S)
        self.send({"t": "bye", "missing": sorted(set(range(self.config["workers"])) - self.done)})
        self.runner.quit()

    def watch_workers(self) -> None:
        """Tell drillkit of a worker Locust lost (quit or missing): it no longer holds the merge back."""
        while True:
            gevent.sleep(0.5)
            for client_id, index in list(self.runner.worker_indexes.items()):
                node = self.runner.clients.get(client_id)
                if (node is None or node.state == "missing") and index not in self.done | self.lost:
                    self.lost.add(index)
                    self.send({"t": "lost", "w": index})
                    self.check_done()


class Pacer:
    """A worker's share of the schedule, its queue of due slots, and its pending report (module doc)."""

    def __init__(self, environment: Any, config: dict[str, Any]) -> None:
        self.runner: WorkerRunner = environment.runner
        self.headers = worker_headers(config)
        self.config: dict[str, Any] = {}
        self.queue: Queue = Queue()
        self.wake = Event()
        self.scheduled: list[float] = []
        self.samples: list[dict[str, Any]] = []
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.schedule = (1.0, 0.0, 0)
        self.index, self.stride, self.i = -1, 1, 0
        self.shift: tuple[list[Any], float, random.Random] | None = None
        self.shift_i = 0
        self.stopping = self.closed = False
        for kind, handler in (("config", self.on_config), ("go", self.on_go), ("control", self.on_control)):
            self.runner.register_message(f"drillkit:{kind}", handler)
        self.runner.register_message("drillkit:stop", self.on_stop, concurrent=True)
        gevent.spawn(watch_parent, self.runner)

    def on_config(self, msg: Any, **_: Any) -> None:
        self.config = msg.data
        DrillkitUser.host = self.config["url"]
        DrillkitUser.network_timeout = DrillkitUser.connection_timeout = float(self.config["timeout"])
        DrillkitUser.default_headers = {"content-type": "application/json", **self.headers}

    def on_go(self, msg: Any, **_: Any) -> None:
        if self.index >= 0:  # already going (a repeated go after a reconnect)
            return
        self.index, self.stride = self.runner.worker_index, int(self.config["workers"])
        if not 0 <= self.index < self.stride:
            logger.warning("drillkit: worker index %s is not one of %s: sending nothing", self.index, self.stride)
            return
        self.i = self.index
        self.schedule = (float(msg.data["rate"]), float(msg.data["anchor_t"]), int(msg.data["anchor_i"]))
        if msg.data.get("shift"):
            self.apply(msg.data["shift"])
        gevent.spawn(self.pace)
        gevent.spawn(self.flush_every)

    def on_control(self, msg: Any, **_: Any) -> None:
        self.apply(msg.data)

    def apply(self, data: dict[str, Any]) -> None:
        """A control line from drillkit: a rate change, an input shift or its end."""
        if data["t"] == "rate":
            self.schedule = (float(data["rate"]), float(data["anchor_t"]), int(data["anchor_i"]))
            self.wake.set()
        elif data["t"] == "shift":
            self.shift = (data["bodies"], float(data["share"]), random.Random(int(data["seed"]) + self.index))
        elif data["t"] == "unshift":
            self.shift = None

    def next_due(self) -> float:
        rate, anchor_t, anchor_i = self.schedule
        return anchor_t + (self.i - anchor_i) / rate

    def pace(self) -> None:
        """Put each of this worker's slots on the queue at its due time; overdue ones at once."""
        burst = 0
        while not self.stopping:
            delay = self.next_due() - time.time()
            if delay > 0:
                burst = 0
                self.wake.clear()
                self.wake.wait(delay)  # a rate change or a stop wakes it at once
                continue
            self.put(self.next_due())
            burst += 1
            if burst % 64 == 0:
                gevent.sleep(0)

    def put(self, due: float) -> None:
        order = self.config["order"]
        rid, body = order[self.i % len(order)]
        if self.shift is not None and self.shift[2].random() < self.shift[1]:
            rid, body = self.shift[0][self.shift_i % len(self.shift[0])]
            self.shift_i += 1
        self.queue.put((self.i, due, rid, body))
        self.scheduled.append(due)
        self.counts["scheduled"] += 1
        self.i += self.stride

    def take(self, client: Any) -> None:
        """One user's turn: the next due slot, sent (or dropped if it waited too long for a user)."""
        slot = self.queue.get()
        index, due, rid, body = slot
        now = time.time()
        if now - due > float(self.config["max_queue_s"]):
            self.counts["dropped"] += 1
            reason = f"queued {now - due:.2f} s, concurrency cap {self.config['users']} full"
            self.finish({"i": index, "r": rid, "s": due, "st": None, "f": now, "d": True, "e": reason})
            return
        c = self.counts
        c["sent"] += 1
        c["in_flight"] += 1
        c["max_in_flight"] = max(c["max_in_flight"], c["in_flight"])
        try:
            sample = self.post(client, body)
        finally:
            c["in_flight"] -= 1
        self.finish({"i": index, "r": rid, "s": due, **sample})

    def post(self, client: Any, body: str) -> dict[str, Any]:
        timeout = float(self.config["timeout"])
        started = time.time()
        sample: dict[str, Any] = {"e": "no response read"}
        try:
            with (
                gevent.Timeout(timeout),
                client.post(
                    self.config["url"], data=body, name="drillkit", catch_response=True, allow_redirects=False
                ) as response,
            ):
                sample = self.read(response)
        except gevent.Timeout:
            sample = {"e": f"timeout: no response within {timeout:g} s"}
        except Exception as exc:  # whatever the client raised: a failed request, never a dead user
            sample = {"e": describe(exc, timeout)}
        return {"st": started, "f": time.time(), **sample}

    def read(self, response: Any) -> dict[str, Any]:
        status = response.status_code
        error = getattr(response, "error", None)
        if not status:
            response.failure(str(error))
            return {"e": describe(error, float(self.config["timeout"]))}
        text = (response.content or b"").decode("utf-8", "replace")
        names = self.config["return_headers"]
        headers = {name: response.headers.get(name) for name in names if response.headers.get(name) is not None}
        if 200 <= status < 300:
            response.success()
        else:
            response.failure(f"HTTP {status}")
        return {"c": status, "b": text, "h": headers}

    def finish(self, sample: dict[str, Any]) -> None:
        if self.closed:  # finished after the final report: counted as cancelled there
            return
        self.counts["completed"] += 1
        self.samples.append(sample)

    def flush(self, final: bool = False) -> None:
        scheduled, samples = self.scheduled, self.samples
        self.scheduled, self.samples = [], []
        next_due = math.inf if final else self.next_due()
        batch = {"w": self.index, "scheduled": scheduled, "samples": samples, "next_due": next_due,
                 "counters": dict(self.counts), "cpu_s": time.process_time()}  # fmt: skip
        self.runner.send_message("drillkit:batch", batch)

    def flush_every(self) -> None:
        while not self.closed:
            gevent.sleep(FLUSH_S)
            if not self.closed:
                self.flush()

    def on_stop(self, msg: Any, **_: Any) -> None:
        """Stop scheduling; let queued and in-flight requests finish within the stop's timeout."""
        self.stopping = True
        self.wake.set()
        deadline = time.time() + float(msg.data.get("timeout", 5.0))
        while (self.counts["in_flight"] or not self.queue.empty()) and time.time() < deadline:
            gevent.sleep(0.01)
        self.counts["cancelled"] += self.counts["in_flight"] + self.queue.qsize()
        self.flush(final=True)
        self.closed = True
        self.runner.send_message("drillkit:done", {"w": self.index, "counters": dict(self.counts)})


def describe(error: Any, timeout: float) -> str:
    """A failed request's error, in drillkit's words ("timeout: …", "connect: …", "Name: …")."""
    if isinstance(error, gevent.Timeout | socket.timeout | TimeoutError):
        return f"timeout: no response within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError | socket.gaierror):
        return f"connect: {error}"
    return f"{type(error).__name__}: {error or 'request failed'}"


PACER: Pacer | None = None


class DrillkitUser(FastHttpUser):
    """One of the worker's senders: takes due slots off the worker's queue, one at a time."""

    wait_time = constant(0)
    host = "http://127.0.0.1"  # replaced by drillkit:config before any user is spawned
    insecure = False  # verify TLS certificates, as drillkit's own transport does (Locust's default skips it)

    @task
    def send(self) -> None:
        assert PACER is not None
        PACER.take(self.client)


@events.init.add_listener
def on_locust_init(environment: Any, **_: Any) -> None:
    global PACER
    config = read_config()
    if isinstance(environment.runner, MasterRunner):
        Relay(environment, config)
    elif isinstance(environment.runner, WorkerRunner):
        PACER = Pacer(environment, config)
