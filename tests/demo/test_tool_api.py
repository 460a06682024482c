"""The order_status tool API on a real loopback server."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from drillkit.demo.tool_api import create_tool_app
from drillkit.net.serving import ServerThread

ASSET_ORDERS = Path(__file__).parents[2] / "drillkit" / "demo" / "assets" / "orders.json"


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.json"
    if ASSET_ORDERS.is_file():
        shutil.copyfile(ASSET_ORDERS, path)
    else:  # the shipped asset is someone else's file: keep this test independent of it
        path.write_text(json.dumps({"A1001": {"order_id": "A1001", "status": "shipped", "carrier": "UPS"}}))
    return path


def test_known_order(orders: Path) -> None:
    with ServerThread({"tool": create_tool_app(orders)}) as urls:
        r = httpx.get(urls["tool"] + "/orders/A1001")
    assert r.status_code == 200
    body = r.json()
    assert body["order_id"] == "A1001"
    assert body["status"] == json.loads(orders.read_text())["A1001"]["status"]


def test_unknown_and_malformed_ids(orders: Path) -> None:
    with ServerThread({"tool": create_tool_app(orders)}) as urls:
        missing = httpx.get(urls["tool"] + "/orders/Z9999")
        malformed = httpx.get(urls["tool"] + "/orders/not-an-id")
        lowercase = httpx.get(urls["tool"] + "/orders/a1001")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "order_not_found"
    assert "Z9999" in missing.json()["error"]["message"]
    for r in (malformed, lowercase):
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_order_id"


def test_reloads_when_the_file_changes(orders: Path) -> None:
    with ServerThread({"tool": create_tool_app(orders)}) as urls:
        assert httpx.get(urls["tool"] + "/orders/B2002").status_code == 404
        # A list of orders is accepted too; bump mtime explicitly so the test never depends on
        # the file system's timestamp granularity.
        orders.write_text(json.dumps([{"order_id": "B2002", "status": "cancelled"}]))
        st = orders.stat()
        os.utime(orders, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        r = httpx.get(urls["tool"] + "/orders/B2002")
        health = httpx.get(urls["tool"] + "/healthz")
    assert r.status_code == 200
    assert r.json() == {"order_id": "B2002", "status": "cancelled"}
    assert health.json() == {"status": "ok", "orders": 1}


def test_missing_or_broken_orders_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    with ServerThread({"tool": create_tool_app(path)}) as urls:
        missing = httpx.get(urls["tool"] + "/orders/A1001")
        health = httpx.get(urls["tool"] + "/healthz")
        path.write_text("{not json")
        broken = httpx.get(urls["tool"] + "/orders/A1001")
    assert missing.status_code == 503
    assert missing.json()["error"]["code"] == "orders_unavailable"
    assert health.status_code == 503
    assert broken.status_code == 503


def test_unknown_routes_answer_in_the_tool_error_shape(orders: Path) -> None:
    with ServerThread({"tool": create_tool_app(orders)}) as urls:
        unknown = httpx.get(urls["tool"] + "/customers/1")
        wrong_method = httpx.post(urls["tool"] + "/orders/A1001")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["allow"]


def test_a_same_size_replacement_is_seen(orders: Path) -> None:
    """An atomic replace gets a new inode: seen even with the same size and mtime."""
    orders.write_text(json.dumps({"A1001": {"order_id": "A1001", "status": "shipped"}}))
    with ServerThread({"tool": create_tool_app(orders)}) as urls:
        assert httpx.get(urls["tool"] + "/orders/A1001").json()["status"] == "shipped"
        st = orders.stat()
        replacement = orders.with_name("orders.new")
        replacement.write_text(json.dumps({"A1001": {"order_id": "A1001", "status": "skipped"}}))
        os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(replacement, orders)
        assert orders.stat().st_size == st.st_size and orders.stat().st_mtime_ns == st.st_mtime_ns
        assert httpx.get(urls["tool"] + "/orders/A1001").json()["status"] == "skipped"
