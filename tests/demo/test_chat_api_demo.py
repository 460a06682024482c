"""The streaming chat endpoint on a real `drillkit demo up` (ephemeral ports, no sim latency):
a stream fault injected with `drillkit chaos inject` on the primary shows in the service's own
stream, where a game-day's traffic sees it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import openai

from drillkit.config.system import load_system
from tests.demo.test_service import RETURNS_Q, metric
from tests.running_demo import running_demo


async def first_token_and_text(base_url: str) -> tuple[float, str, str]:
    """(seconds to the first content chunk, the streamed text, the provider header)."""
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=15) as client:
        started = time.perf_counter()
        raw = await client.chat.completions.with_raw_response.create(
            model="support-assistant", messages=[{"role": "user", "content": RETURNS_Q}], stream=True
        )
        ttft, text = None, ""
        async for chunk in raw.parse():
            piece = chunk.choices[0].delta.content if chunk.choices else None
            if piece and ttft is None:
                ttft = time.perf_counter() - started
            text += piece or ""
        assert ttft is not None
        return ttft, text, raw.headers["x-drillkit-provider"]


def test_token_latency_on_the_primary_delays_the_services_first_token(tmp_path: Path) -> None:
    with running_demo(tmp_path / "home") as demo:
        service = str(load_system(demo.workdir / "drillkit.yaml").service.url).removesuffix("/answer")
        before = metric(httpx.get(service.removesuffix("/v1") + "/metrics").text, "drillkit_demo_requests_total",
                        provider="primary", outcome="ok")  # fmt: skip
        baseline, text, provider = asyncio.run(first_token_and_text(service))
        demo.ok("chaos", "inject", "provider:primary", "token_latency", "--set", "ttft_ms=500")
        try:
            slowed, slowed_text, slowed_provider = asyncio.run(first_token_and_text(service))
        finally:
            demo.ok("chaos", "reset")
        metrics = httpx.get(service.removesuffix("/v1") + "/metrics").text
        served = metric(metrics, "drillkit_demo_requests_total", provider="primary", outcome="ok")
    assert (provider, slowed_provider) == ("primary", "primary")
    assert "30 days" in text and slowed_text == text
    assert baseline < 0.3 and slowed >= 0.48, (baseline, slowed)
    assert served - before == 2  # both streams counted (the fixture's snapshot ran the eval suite before)
