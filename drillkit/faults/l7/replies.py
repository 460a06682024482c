"""Error responses an L7 fault (or the LLM fault proxy) invents, in each route API's own shape (rule 5).

`error_reply(api, status, message, ...)` builds the `Reply`; `status_phrase` is the reason
phrase for a status line (529 included, Anthropic's "Overloaded").
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drillkit.faults.l7.exchange import Api, Reply
from drillkit.net.jsonio import dumps

_OPENAI_CODES = {500: "server_error", 502: "bad_gateway", 503: "server_is_overloaded", 504: "gateway_timeout"}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def status_phrase(status: int) -> str:
    if status == 529:
        return "Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def error_reply(
    api: Api,
    status: int,
    message: str | None = None,
    *,
    kind: str | None = None,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error response in the route API's shape.

    openai `{"error": {message, type, param, code}}`; anthropic `{"type": "error", "error":
    {type, message[, details]}}`; json `{"error": {code, message}}`.  `kind` is the error type
    (defaults from the status), `code` the OpenAI/json code.
    """
    message = message or status_phrase(status)
    body: dict[str, Any]
    if api == "anthropic":
        fallback = "api_error" if status >= 500 else "invalid_request_error"
        err: dict[str, Any] = {"type": kind or ANTHROPIC_TYPES.get(status, fallback), "message": message}
        if details:
            err["details"] = details
        body = {"type": "error", "error": err}
    elif api == "openai":
        default_kind = "server_error" if status >= 500 else "invalid_request_error"
        body = {
            "error": {
                "message": message,
                "type": kind or default_kind,
                "param": None,
                "code": code if code is not None else _OPENAI_CODES.get(status),
            }
        }
    else:
        body = {"error": {"code": code or kind or status_phrase(status).lower().replace(" ", "_"), "message": message}}
    head = [("content-type", "application/json"), *((headers or {}).items())]
    return Reply(status, head, dumps(body))


__all__ = ["ANTHROPIC_TYPES", "error_reply", "status_phrase"]
