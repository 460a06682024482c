"""`providers.<x>.headers` and `tools.<x>.headers` go with drillkit's own requests to them:
canaries and contract tests (real servers on loopback; the headers are read back by the server)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from drillkit.components.model import ask
from drillkit.components.tools import check
from drillkit.config.components import Canary, Endpoint
from drillkit.config.service import Provider
from drillkit.config.types import expand_headers
from drillkit.errors import InputError
from drillkit.net.serving import ServerThread

SEEN: list[dict[str, str]] = []


async def chat(request: Request) -> JSONResponse:
    SEEN.append(dict(request.headers))
    return JSONResponse({"model": "m", "choices": [{"message": {"content": "ok"}}]})


async def orders(request: Request) -> JSONResponse:
    SEEN.append(dict(request.headers))
    return JSONResponse({"status": "shipped"})


@pytest.fixture(scope="module")
def url() -> Any:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/orders/1", orders)])
    with ServerThread({"s": app}) as urls:
        yield urls["s"]


def test_canaries_send_the_provider_headers(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    SEEN.clear()
    monkeypatch.setenv("GW_TEAM_KEY", "team-secret-1")
    provider = Provider(base_url=f"{url}/v1", model="m", headers={"X-Team-Key": "${GW_TEAM_KEY}"})
    extra = expand_headers(provider.headers, "providers.primary.headers")

    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return await ask(client, provider, Canary(id="c", prompt="hi"), extra)

    answer = asyncio.run(go())
    assert answer.get("text") == "ok", answer
    assert SEEN[-1]["x-team-key"] == "team-secret-1"
    assert "team-secret-1" not in repr(answer)


def test_contract_tests_send_tool_headers_and_endpoint_headers_win(url: str) -> None:
    SEEN.clear()
    ep = Endpoint(name="get", path="/orders/1", headers={"X-Both": "endpoint"})

    async def go() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return await check(client, url, ep, {"X-Tool-Key": "tk", "X-Both": "tool"})

    result = asyncio.run(go())
    assert result.get("ok") is True, result
    assert SEEN[-1]["x-tool-key"] == "tk" and SEEN[-1]["x-both"] == "endpoint"


def test_an_unset_variable_names_the_provider_field() -> None:
    with pytest.raises(InputError, match=r"providers\.primary\.headers\.X-Team-Key.*NOPE_UNSET"):
        expand_headers({"X-Team-Key": "${NOPE_UNSET}"}, "providers.primary.headers", {})
