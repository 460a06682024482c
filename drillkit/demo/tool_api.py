"""The demo's `order_status` tool API: a tiny JSON service over `orders.json`.

Contract (docs/demo.md; the JSON schema lives in the workdir's `tools.yaml`):

- `GET /orders/{order_id}` → 200 with the order object, e.g.
  `{"order_id": "A1001", "status": "shipped", "carrier": "UPS", "eta": "2026-12-03", "items": [...]}`;
  404 `{"error": {"code": "order_not_found", "message": ...}}` for an unknown id;
  400 `{"error": {"code": "invalid_order_id", ...}}` for an id that is not one letter and four
  digits (`A1001`); 503 `{"error": {"code": "orders_unavailable", ...}}` when `orders.json` is
  missing or unreadable.
- `GET /healthz` → 200 `{"status": "ok", "orders": <count>}` (503 when orders are unavailable).
- Any other path or method: 404 `not_found` / 405 `method_not_allowed` in the same error shape.

`orders.json` is either an object keyed by order id (the shipped shape) or a list of order objects
with an `order_id` field.  It is re-read when it changes (`drillkit.demo.files.WatchedFile`), so
editing it is a live change of the tool's behaviour (a "tools" incident).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.demo.context import ORDER_ID_RE
from drillkit.demo.files import WatchedFile
from drillkit.net.serving import loopback_only


class OrdersUnavailable(Exception):
    """`orders.json` is missing or does not hold orders."""


class OrderBook:
    """`orders.json`, re-read when it changes (one stat per lookup)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = WatchedFile(self.path, self._read)

    def orders(self) -> dict[str, Any]:
        """All orders by id; raises OrdersUnavailable."""
        try:
            return self._file.get()
        except OSError as exc:
            raise OrdersUnavailable(f"{self.path.name}: {exc.strerror or exc}") from None

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OrdersUnavailable(f"{path.name}: cannot read orders ({exc})") from None
        if isinstance(data, dict) and isinstance(data.get("orders"), list):
            data = data["orders"]
        if isinstance(data, list):
            return {str(o["order_id"]): o for o in data if isinstance(o, dict) and "order_id" in o}
        if isinstance(data, dict):
            return {str(k): v for k, v in data.items()}
        raise OrdersUnavailable(f"{path.name}: expected an object keyed by order id or a list of orders")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_tool_app(orders_path: Path, *, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """The tool API over `orders_path` (read lazily: the file may appear after startup).

    `allowed_hosts`: Host names answered besides loopback ones (`loopback_only`)."""
    book = OrderBook(orders_path)

    async def get_order(request: Request) -> JSONResponse:
        order_id = request.path_params["order_id"]
        if not ORDER_ID_RE.fullmatch(order_id):
            return _error(400, "invalid_order_id", f"malformed order id {order_id!r}: expected a letter and 4 digits")
        try:
            orders = book.orders()
        except OrdersUnavailable as exc:
            return _error(503, "orders_unavailable", str(exc))
        order = orders.get(order_id)
        if order is None:
            return _error(404, "order_not_found", f"no order {order_id}")
        return JSONResponse(order)

    async def healthz(request: Request) -> JSONResponse:
        try:
            count = len(book.orders())
        except OrdersUnavailable as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "orders": count})

    return Starlette(
        routes=[
            Route("/orders/{order_id}", get_order, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        middleware=loopback_only(allowed_hosts),
        exception_handlers={404: _route_error, 405: _route_error},
    )


async def _route_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "method_not_allowed" if exc.status_code == 405 else "not_found"
    response = _error(exc.status_code, code, f"{exc.detail}: {request.method} {request.url.path}")
    response.headers.update(exc.headers or {})
    return response


__all__ = ["OrderBook", "OrdersUnavailable", "create_tool_app"]
