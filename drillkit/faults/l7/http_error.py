"""`http_error`: answer with an HTTP error in the route API's own shape instead of calling upstream.

Attributes: `status` (400–599, default 500; 529 is Anthropic's overloaded_error), optional
`message`, `error_type` (the API's error type; defaults from the status), `code` (OpenAI/json
code), `retry_after` (seconds, sent as `retry-after`).
"""

from __future__ import annotations

from pydantic import Field

from drillkit.faults.l7.base import Attributes, Exchange, Fault, Reply, ShortCircuit, error_reply


def format_seconds(seconds: float) -> str:
    """`retry-after` value: whole seconds as an integer, else a decimal (the SDKs accept both)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}".rstrip("0")


class HttpErrorAttributes(Attributes):
    status: int = Field(default=500, ge=400, le=599)
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    retry_after: float | None = Field(default=None, ge=0)


class HttpErrorFault(Fault, ShortCircuit):
    type = "http_error"
    attributes_model = HttpErrorAttributes

    async def before(self, ex: Exchange) -> Reply:
        a: HttpErrorAttributes = self.attrs
        headers = {"retry-after": format_seconds(a.retry_after)} if a.retry_after is not None else None
        return error_reply(ex.api, a.status, a.message, kind=a.error_type, code=a.code, headers=headers)
