"""A provider's streamed answer, read as it arrives (`drillkit.demo.router`'s doc says what
falls back and what interrupts).

`open_stream` sends the streaming request and reads up to the first token (every failure up to
then is an `AttemptFailed`, so the router can fall back); the `AnswerStream` it returns relays
the rest.  OpenAI streams are `chat.completion.chunk` events up to `data: [DONE]`; Anthropic
streams are `message_start`, `content_block_delta` (`text_delta`)..., `message_delta`,
`message_stop`.  An `error` event of either is a `server_error`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from drillkit.demo.provider_wire import (
    FINISH_REASONS,
    Attempt,
    AttemptFailed,
    Completion,
    StreamInterrupted,
    classify,
    read_body,
    send,
)

OnFailure = Callable[[AttemptFailed], None]


async def open_stream(
    client: httpx.AsyncClient,
    request: httpx.Request,
    seconds: float,
    name: str,
    model: str,
    api: str,
    on_failure: OnFailure,
) -> AnswerStream:
    """Send a streaming request and read up to its first token within `seconds`; `AttemptFailed`
    if it fails before.  `on_failure` is told of a failure after the first token."""
    response: httpx.Response | None = None
    opened: AnswerStream | None = None
    handed_over = False
    try:
        async with asyncio.timeout(seconds):
            response = await send(client, request)
            if response.status_code >= 300:
                data = await read_body(response)
                raise classify(response.status_code, response.headers, data)
            opened = AnswerStream(name, model, response, _decode(api, response), on_failure)
            await opened.first_token()
        handed_over = True
        return opened
    except TimeoutError:
        status = response.status_code if response is not None else None
        raise AttemptFailed("timeout", f"no first token within {seconds:g} s", status) from None
    finally:
        if not handed_over:
            if opened is not None:
                await opened.aclose()
            elif response is not None:
                await response.aclose()


class AnswerStream:
    """One provider's answer arriving token by token (`Router.stream`).

    `provider`, `model` (the model the provider reports; the requested one until it does) and
    `attempts` are known when the stream is handed over; `deltas()` yields the answer's text
    pieces as they arrive, the first one included; afterwards `completion()` is the whole answer
    with its usage.  `aclose()` releases the connection (also when the reader stops early).
    """

    def __init__(
        self,
        provider: str,
        model: str,
        response: httpx.Response,
        events: AsyncGenerator[_Delta, None],
        on_failure: OnFailure,
    ) -> None:
        self.provider = provider
        self.model = model
        self.attempts: list[Attempt] = []
        self.input_tokens = 0
        self.output_tokens = 0
        self.finish_reason: str | None = None
        self.text = ""
        self.done = False
        self.closed = False
        self._on_failure = on_failure
        self._response = response
        self._events = events
        self._pending: list[str] = []

    async def first_token(self) -> None:
        """Read up to the first piece of text (or the end of the answer); `AttemptFailed` if it breaks."""
        while not self.done:
            piece = await self._next()
            if piece:
                self._pending.append(piece)
                return
        await self.aclose()

    async def deltas(self) -> AsyncIterator[str]:
        """The answer's text pieces as the provider sends them; `StreamInterrupted` if it breaks."""
        while self._pending:
            yield self._pending.pop(0)
        while not self.done:
            try:
                piece = await self._next()
            except AttemptFailed as f:
                self.attempts.append(Attempt(self.provider, f.reason, f.status, f"after the first token: {f.detail}"))
                self._on_failure(f)
                await self.aclose()
                raise StreamInterrupted(f"{self.provider}'s stream broke: {f.detail}", self.attempts) from None
            if piece:
                yield piece
        await self.aclose()

    def completion(self) -> Completion:
        """The answer so far (all of it once `deltas()` is exhausted) as a `Completion`."""
        finish = self.finish_reason or "stop"
        attempts = tuple(self.attempts)
        return Completion(self.text, self.model, self.provider, self.input_tokens, self.output_tokens, attempts, finish)

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self._events.aclose()
            await self._response.aclose()

    async def _next(self) -> str:
        """The next event's text ("" for an event without any); sets `done` at the end."""
        status = self._response.status_code
        try:
            event = await anext(self._events)
        except StopAsyncIteration:
            if self.finish_reason is None:
                raise AttemptFailed("bad_response", "the stream ended before its end event", status) from None
            self.done = True  # a finish reason and then the end of the body: complete enough
            return ""
        except httpx.TimeoutException:
            raise AttemptFailed("timeout", "no event within the read timeout", status) from None
        except httpx.DecodingError as exc:
            raise AttemptFailed("bad_response", f"undecodable stream: {exc}"[:300], status) from None
        except httpx.RequestError as exc:
            raise AttemptFailed("connection", f"{type(exc).__name__}: {exc}"[:300], status) from None
        if event.model:
            self.model = event.model
        if event.input_tokens is not None:
            self.input_tokens = event.input_tokens
        if event.output_tokens is not None:
            self.output_tokens = event.output_tokens
        if event.finish:
            self.finish_reason = event.finish
        self.done = event.done
        self.text += event.text
        return event.text


@dataclass(frozen=True)
class _Delta:
    """One server-sent event of either API, normalized."""

    text: str = ""
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish: str | None = None
    done: bool = False


async def _sse(response: httpx.Response) -> AsyncGenerator[tuple[str, str], None]:
    """The (event name, data) pairs of a server-sent event stream, as they arrive."""
    name, data = "", []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield name or "message", "\n".join(data)
            name, data = "", []
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
    if data:
        yield name or "message", "\n".join(data)


async def _decode(api: str, response: httpx.Response) -> AsyncGenerator[_Delta, None]:
    """The stream's events as `_Delta`s; `AttemptFailed` for an error event or an unusable one."""
    status = response.status_code
    async with aclosing(_sse(response)) as events:
        async for name, data in events:
            if api != "anthropic" and data.strip() == "[DONE]":
                yield _Delta(done=True)
                return
            try:
                event = json.loads(data)
                delta = _anthropic_delta(name, event) if api == "anthropic" else _openai_delta(event)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                raise AttemptFailed("bad_response", f"unusable stream event: {exc!r}"[:300], status) from None
            yield delta
            if delta.done:
                return


def _openai_delta(event: dict[str, Any]) -> _Delta:
    if event.get("error"):
        raise AttemptFailed("server_error", f"error event: {_error_message(event['error'])}"[:300])
    usage = event.get("usage") or {}
    text, finish = "", None
    for choice in event.get("choices") or []:
        if choice.get("index", 0) == 0:
            text = (choice.get("delta") or {}).get("content") or ""
            finish = choice.get("finish_reason")
    if not isinstance(text, str):
        raise TypeError(f"delta content is {type(text).__name__}, not str")
    return _Delta(
        text,
        event.get("model") or None,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        str(finish) if finish else None,
    )


def _anthropic_delta(name: str, event: dict[str, Any]) -> _Delta:
    kind = event.get("type") or name
    if kind == "error":
        raise AttemptFailed("server_error", f"error event: {_error_message(event.get('error'))}"[:300])
    if kind == "message_start":
        message = event["message"]
        usage = message.get("usage") or {}
        return _Delta(model=message.get("model") or None, input_tokens=usage.get("input_tokens"))
    if kind == "content_block_delta":
        delta = event["delta"]
        text = delta.get("text", "") if delta.get("type") == "text_delta" else ""
        if not isinstance(text, str):
            raise TypeError(f"text_delta is {type(text).__name__}, not str")
        return _Delta(text)
    if kind == "message_delta":
        stop = (event.get("delta") or {}).get("stop_reason")
        usage = event.get("usage") or {}
        finish = FINISH_REASONS.get(stop, str(stop)) if stop else None
        return _Delta(output_tokens=usage.get("output_tokens"), finish=finish)
    if kind == "message_stop":
        return _Delta(done=True)
    return _Delta()  # ping, content_block_start/stop, anything new


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type') or error.get('code') or 'error'}: {error.get('message', '')}".strip()
    return str(error)


__all__ = ["AnswerStream", "open_stream"]
