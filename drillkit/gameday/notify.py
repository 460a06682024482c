"""Webhook notifications (DESIGN §9.5): a POST of JSON per event, never in a run's way.

Each send has a timeout and a few retries; a dead webhook costs the run nothing but a journal entry
saying so. The URL is expanded from the environment only to send it: the journal keeps it as
written (`${VAR}` unexpanded), and the payload passes the run's redaction like everything stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from drillkit.config.notify import Notify
from drillkit.config.types import expand_vars
from drillkit.journal.events import NotifySent

RETRY_PAUSE_S = 1.0


def expand_url(template: str, field: str) -> str:
    """The webhook URL with every `${VAR}` read from the environment (InputError naming the field)."""
    return expand_vars(template, field, what="URL")


class Notifier:
    """Sends `notify` events in the background; `drain()` waits (bounded) for what is in flight."""

    def __init__(self, targets: list[Notify], record: Callable[[NotifySent], None], field: str = "notify") -> None:
        self.targets = targets
        self.record = record
        self.tasks: list[asyncio.Task[None]] = []
        self._last: dict[int, asyncio.Task[None]] = {}  # per target: its newest send, the next waits for it
        for i, target in enumerate(targets):
            expand_url(target.webhook, f"{field}[{i}].webhook")  # a missing ${VAR}: bad input before anything runs

    def send(self, event: str, text: str, facts: dict[str, Any]) -> None:
        """Queue `event` for every target that wants it; each target gets its events in order."""
        payload = {"event": event, "text": text, **facts}
        for i, target in enumerate(self.targets):
            if event in target.events:
                previous = self._last.get(i)
                task = asyncio.ensure_future(self._after(previous, target, event, payload))
                self._last[i] = task
                self.tasks.append(task)

    async def _after(
        self, previous: asyncio.Task[None] | None, target: Notify, event: str, payload: dict[str, Any]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # a slow or dead webhook delays only its own later events
        await self._post(target, event, payload)

    async def _post(self, target: Notify, event: str, payload: dict[str, Any]) -> None:
        url = expand_url(target.webhook, "notify.webhook")
        status: int | None = None
        error: str | None = None
        attempts = 0
        async with httpx.AsyncClient(timeout=target.timeout, trust_env=False) as client:
            while attempts <= target.retries:
                attempts += 1
                try:
                    response = await client.post(url, json=payload)
                    status = response.status_code
                    error = None if response.is_success else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                if error is None:
                    break
                if attempts <= target.retries:
                    await asyncio.sleep(RETRY_PAUSE_S)
        ok = error is None
        self.record(NotifySent(event=event, webhook=target.webhook, ok=ok, status=status, attempts=attempts,
                               error=error, payload=payload))  # fmt: skip

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for the notifications in flight, at most `timeout` s; the rest are cancelled."""
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
