"""Where drillkit tells people what happened (contract: DESIGN §9.5 `notify`).

A `notify` entry posts JSON to a webhook on the events it lists: an `event` field, a
Slack-compatible `text`, and the event's facts. `${VAR}` in the URL is read from the environment
when sending; the URL is journalled as written (the template), never expanded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from drillkit.config.types import Duration, Strict

NotifyEvent = Literal["started", "verdict", "finished", "overdue", "changed", "envelope_broken"]


class Notify(Strict):
    """One webhook and the events it wants."""

    webhook: str = Field(
        description="The URL to POST to (http or https); `${VAR}` is read from the environment when sending, so a "
        "secret in the URL never lands in a file.",
    )
    events: list[NotifyEvent] = Field(
        default=["started", "verdict", "finished", "overdue"],
        description="Which events to send: `started`, `verdict` (each scenario's), `finished`, `overdue` (`gameday "
        "due`), `changed` and `envelope_broken` (`watch`).",
    )
    timeout: Duration = Field(default=5.0, description="How long one attempt may take.")
    retries: int = Field(default=2, ge=0, le=10, description="Further attempts after a failed one (1 s apart).")

    @field_validator("webhook")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value


__all__ = ["Notify", "NotifyEvent"]
