"""`drillkit watch --metrics HOST:PORT`: the watch's state as Prometheus metrics (DESIGN §9.6).

    server = serve_metrics("127.0.0.1:9464", state)     # GET http://127.0.0.1:9464/metrics
    server.close()

- `drillkit_watch_component_changed{component}`: 1 while it differs from the last known good,
  else 0 (absent while unknown, or without a baseline);
- `drillkit_watch_seconds_since_change{component}`: seconds since the change log last recorded a
  change of it (absent: never);
- `drillkit_watch_canary_similarity{provider}`: the canaries' mean similarity to the last known
  good's answers, 0..1;
- `drillkit_watch_eval_pass_rate`: the last eval sample's weighted pass rate, 0..1;
- `drillkit_watch_up`: 1 while the watch runs and its last look reached the service, else 0.

Read at scrape time from the session's `WatchState` (the values of the last look; the seconds
since a change are computed at the scrape). Own registry: nothing of the process's default
collectors is exposed. Served by `prometheus_client`'s threaded HTTP server; `PORT` alone means
loopback (`127.0.0.1:PORT`), and port 0 picks a free one (`server.url` says which).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drillkit.errors import InputError
from drillkit.watch.state import WatchState

LOOPBACK = "127.0.0.1"

CHANGED = "drillkit_watch_component_changed"
SINCE = "drillkit_watch_seconds_since_change"
SIMILARITY = "drillkit_watch_canary_similarity"
PASS_RATE = "drillkit_watch_eval_pass_rate"
UP = "drillkit_watch_up"
HELP = {
    CHANGED: "1 while the component differs from the last known good baseline, else 0.",
    SINCE: "Seconds since the change log last recorded a change of the component.",
    SIMILARITY: "Mean similarity of the canary answers to the last known good's, 0..1.",
    PASS_RATE: "Weighted pass rate of the last eval sample, 0..1.",
    UP: "1 while drillkit watch runs and its last look reached the service, else 0.",
}


class WatchCollector(Collector):
    def __init__(self, state: WatchState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        st = self.state
        changed = GaugeMetricFamily(CHANGED, HELP[CHANGED], labels=["component"])
        for name, differs in st.differs.items():
            if differs is not None:
                changed.add_metric([name], 1.0 if differs else 0.0)
        since = GaugeMetricFamily(SINCE, HELP[SINCE], labels=["component"])
        for name, seconds in sorted(st.seconds_since_change().items()):
            since.add_metric([name], round(seconds, 3))
        similarity = GaugeMetricFamily(SIMILARITY, HELP[SIMILARITY], labels=["provider"])
        for provider, value in sorted(st.similarity.items()):
            similarity.add_metric([provider], value)
        yield from (changed, since, similarity)
        if st.pass_rate is not None:
            yield GaugeMetricFamily(PASS_RATE, HELP[PASS_RATE], value=st.pass_rate)
        yield GaugeMetricFamily(UP, HELP[UP], value=1.0 if st.up else 0.0)


def split_listen(value: str) -> tuple[str, int]:
    """`PORT`, `HOST:PORT` or `[V6]:PORT` → (host, port); a bare port is loopback."""
    host, sep, port = value.rpartition(":")
    if not port.isdigit() or int(port) > 65535 or (sep and not host):
        raise InputError(f"--metrics: expected PORT or HOST:PORT such as 127.0.0.1:9464 (got {value!r})")
    return (host.strip("[]") if sep else LOOPBACK), int(port)


class MetricsServer:
    """The metrics endpoint of one watch session; `close()` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self.server, self.thread = server, thread
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{server.server_port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(listen: str, state: WatchState) -> MetricsServer:
    """Serve `state` as metrics on `listen` (see the module doc); InputError when it cannot bind."""
    host, port = split_listen(listen)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WatchCollector(state))
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise InputError(f"--metrics {listen}: cannot listen ({exc.strerror or exc})") from None
    return MetricsServer(server, thread, host)


__all__ = [
    "CHANGED",
    "HELP",
    "PASS_RATE",
    "SIMILARITY",
    "SINCE",
    "UP",
    "MetricsServer",
    "WatchCollector",
    "serve_metrics",
    "split_listen",
]
