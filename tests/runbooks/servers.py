"""A tiny real HTTP server for probe tests: a Prometheus-API-compatible `/api/v1/query` and
`/status/<code>`, on an ephemeral loopback port, in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# query -> (HTTP status, body), shaped like Prometheus' answers.
PROMETHEUS: dict[str, tuple[int, dict[str, Any]]] = {
    "sum(rate(errors[5m])) / sum(rate(requests[5m]))": (
        200,
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "0.01"]}]}},
    ),
    "histogram_quantile(0.95, latency)": (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    {"metric": {"provider": "primary"}, "value": [1.7e9, "0.4"]},
                    {"metric": {"provider": "fallback"}, "value": [1.7e9, "2.5"]},
                ],
            },
        },
    ),
    "scalar(vector(3))": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "3"]}}),
    "absent_metric": (200, {"status": "success", "data": {"resultType": "vector", "result": []}}),
    "nan_metric": (
        200,
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "NaN"]}]}},
    ),
}
BAD_QUERY = (400, {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "("'})


class _Handler(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        if url.path == "/api/v1/query":
            query = parse_qs(url.query).get("query", [""])[0]
            status, body = PROMETHEUS.get(query, BAD_QUERY)
            self._send(status, json.dumps(body).encode(), "application/json")
        elif url.path.startswith("/status/"):
            self._send(int(url.path.rsplit("/", 1)[1]), b"status page", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def probe_server() -> Iterator[tuple[str, list[str]]]:
    """(base URL, paths requested so far) of a server running for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
