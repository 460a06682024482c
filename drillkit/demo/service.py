"""The demo service: a RAG support assistant behind a provider router, with admin levers.

HTTP contract (docs/demo.md):

- `POST /v1/answer {"question": str}` → 200 `{answer, citations, model, provider,
  usage: {input_tokens, output_tokens}, cost_usd, latency_ms, trace_id, prompt_version,
  corpus_version}`.  `model` is the model the provider REPORTED; `cost_usd` uses the manifest
  pricing of that model (0 when unpriced); `latency_ms` is the service's own handling time.
  Errors: 400 bad body; 502 a provider rejected the request (e.g. an unknown pinned model);
  503 every provider failed or is cooling down; 500 the active prompt cannot be rendered
  (`prompt_error`) or anything else went wrong (`internal_error`).  Every answer, error or not,
  carries `x-trace-id` and is counted in the metrics; error bodies are
  `{"error": {"code", "message"}, "trace_id"}`, also for an unknown path (404) or method (405).
- `POST /v1/chat/completions`: the same pipeline behind an OpenAI chat-completions endpoint
  (`drillkit.demo.chat_api` holds its wire shapes): a `chat.completion` object, or with
  `stream: true` the provider's tokens relayed as `chat.completion.chunk` server-sent events as
  they arrive (`Router.stream`: fallback only before the first token; a stream that breaks later
  ends with an error event).  Headers `x-trace-id`, `x-drillkit-provider` and, when not
  streaming, `x-drillkit-cost-usd`; errors in OpenAI's shape with /v1/answer's status codes.
  Counted in the same `requests_total` outcomes (a stream broken after its first token is
  `unavailable`; one the client leaves before its end is `error`).
- `GET /metrics` Prometheus text (`drillkit.demo.metrics`), `GET /healthz`.
- `/admin/*`: the levers (`drillkit.demo.admin`); how `degrade` and `kill_switch` show in answers
  is `drillkit.demo.answer_modes`'s.  Every app of the demo refuses a `Host`
  that is not loopback (or `--allow-host`) and a foreign `Origin` (`drillkit.net.serving.loopback_only`).

One answer: top-3 retrieval over the live corpus (less while degraded: `answer_modes.retrieve`);
if the question holds an order id (`drillkit.demo.context.ORDER_ID_RE`) the `order_status` tool
is called (3 s timeout; a failure becomes a tool block whose status says so); the active prompt
`prompts/<version>.md` is rendered with `context`; the router asks the providers; citations are
the `[id]` tokens of the answer naming a retrieved document, unique, in order.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.config.system import System, load_system
from drillkit.demo.admin import AdminApi, read_json_object
from drillkit.demo.answer_modes import DEGRADED_MAX_TOKENS, mode_headers, retrieve, static_answer, static_chat
from drillkit.demo.chat_api import (
    ChatRequestError,
    EventStream,
    completion_object,
    error_response,
    parse_chat_request,
    relay,
    usd,
)
from drillkit.demo.context import ORDER_ID_RE, ORDER_TOOL, Document, build_context, tool_block
from drillkit.demo.corpus import LiveCorpus
from drillkit.demo.levers import Levers
from drillkit.demo.metrics import ServiceMetrics
from drillkit.demo.prompts import PromptError, PromptTemplates
from drillkit.demo.router import AnswerStream, Completion, Router, RouterError
from drillkit.net.serving import loopback_only

CITATION = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.-]*)\]")
TOOL_TIMEOUT_S = 3.0
BAD_QUESTION = 'expected a JSON object {"question": "<non-empty string>"}'
CHAT_PATH = "/v1/chat/completions"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """One question made ready for the router: what was retrieved, the rendered prompt, the
    provider order, the pinned model and the answer's cap (the levers as they stood when the
    question came; `max_tokens` is set while degraded)."""

    question: str
    documents: list[Document]
    corpus_version: str
    prompt_version: str
    system_prompt: str
    order: list[str]
    models: Mapping[str, str] | None
    max_tokens: int | None = None

    def routing(self) -> dict[str, Any]:
        """The router's keyword arguments for this turn."""
        return {"order": self.order, "models": self.models, "max_tokens": self.max_tokens}


class DemoService:
    """Everything one service app holds; built once from `<workdir>/drillkit.yaml`."""

    def __init__(self, workdir: Path, *, corpus_check_interval: float = 0.5) -> None:
        self.workdir = Path(workdir)
        self.system: System = load_system(self.workdir / "drillkit.yaml")
        prompts_dir = self.system.resolve(_component_path(self.system, "prompt")) or self.workdir / "prompts"
        corpus_dir = self.system.resolve(_component_path(self.system, "retrieval")) or self.workdir / "corpus"
        self.levers = Levers(self.workdir / "state.json", list(self.system.providers), prompts_dir)
        self.corpus = LiveCorpus(
            corpus_dir, self.workdir / ".versions" / "corpus", self.levers, check_interval=corpus_check_interval
        )
        self.prompts = PromptTemplates(prompts_dir)
        self.metrics = ServiceMetrics()
        self.client: httpx.AsyncClient | None = None
        self.router: Router | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """One shared client for providers and the tool, closed at shutdown."""
        self.client = httpx.AsyncClient(
            trust_env=False,  # loopback services: an HTTP(S)_PROXY in the environment must not apply
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
        )
        self.router = Router(self.system.providers, self.client)
        try:
            yield
        finally:
            await self.client.aclose()

    # -- /v1/answer ----------------------------------------------------------------------------

    async def answer(self, request: Request) -> Response:
        """`POST /v1/answer`: always the documented shape and one `requests_total` sample."""
        return await self._counted(request, self._answer, _answer_error)

    async def _counted(self, request: Request, handler: Any, error: Any) -> Response:
        """Run one endpoint's handler; a bug or an unforeseen failure is still an answer (a 500 in
        the endpoint's own error shape), still counted."""
        started = time.perf_counter()
        trace_id = uuid.uuid4().hex
        try:
            return await handler(request, started, trace_id)
        except Exception as exc:
            log.exception("answering failed (trace %s)", trace_id)
            self.metrics.observe_request("error", None, None, time.perf_counter() - started)
            return error(500, "internal_error", f"the service failed to answer: {type(exc).__name__}", trace_id)

    async def _answer(self, request: Request, started: float, trace_id: str) -> Response:
        question = await _question(request)
        if question is None:
            self.metrics.observe_request("bad_request", None, None, time.perf_counter() - started)
            return _answer_error(400, "bad_request", BAD_QUESTION, trace_id)
        state = self.levers.state
        if state.kill_switch:
            return self._killed(static_answer(trace_id, started, state.prompt.active, self.corpus.version), started)

        try:
            turn = await self._prepare(question)
            completion = await self._router().complete(
                turn.system_prompt, question, **turn.routing(), trace_id=trace_id
            )
        except PromptError as exc:
            self.metrics.observe_request("error", None, None, time.perf_counter() - started)
            return _answer_error(500, "prompt_error", str(exc), trace_id)
        except RouterError as exc:
            self._observe_router_error(exc, started)
            return _answer_error(exc.status, exc.code, str(exc), trace_id)

        cost = self._cost(completion)
        retrieved = {d.id for d in turn.documents}
        citations = list(dict.fromkeys(c for c in CITATION.findall(completion.text) if c in retrieved))
        latency_s = time.perf_counter() - started
        body = {
            "answer": completion.text,
            "citations": citations,
            "model": completion.model,
            "provider": completion.provider,
            "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
            "cost_usd": cost,
            "latency_ms": round(latency_s * 1000, 2),
            "trace_id": trace_id,
            "prompt_version": turn.prompt_version,
            "corpus_version": turn.corpus_version,
        }
        headers = {"x-trace-id": trace_id, **mode_headers(degraded=turn.max_tokens is not None)}
        response = JSONResponse(body, headers=headers)
        self._observe_success(completion, cost, latency_s)
        return response

    # -- /v1/chat/completions ------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        """`POST /v1/chat/completions`: OpenAI's shapes over the `/v1/answer` pipeline."""
        return await self._counted(request, self._chat, error_response)

    async def _chat(self, request: Request, started: float, trace_id: str) -> Response:
        try:
            chat = parse_chat_request(await request.body())
        except ChatRequestError as exc:
            self.metrics.observe_request("bad_request", None, None, time.perf_counter() - started)
            return error_response(400, exc.code, exc.message, trace_id, param=exc.param)
        if self.levers.state.kill_switch:
            return self._killed(static_chat(chat, trace_id), started)

        completion: Completion | None = None
        stream: AnswerStream | None = None
        try:
            turn = await self._prepare(chat.question)
            args = (turn.system_prompt, chat.question)
            if chat.stream:
                stream = await self._router().stream(*args, **turn.routing(), trace_id=trace_id)
            else:
                completion = await self._router().complete(*args, **turn.routing(), trace_id=trace_id)
        except PromptError as exc:
            self.metrics.observe_request("error", None, None, time.perf_counter() - started)
            return error_response(500, "prompt_error", str(exc), trace_id)
        except RouterError as exc:
            self._observe_router_error(exc, started)
            return error_response(exc.status, exc.code, str(exc), trace_id)

        mode = mode_headers(degraded=turn.max_tokens is not None)
        if stream is not None:
            headers = {"x-trace-id": trace_id, "x-drillkit-provider": stream.provider, "cache-control": "no-cache"}
            headers |= mode
            events = relay(stream, chat, trace_id, started, self.metrics, self._cost)
            return EventStream(events, headers=headers)
        assert completion is not None
        cost = self._cost(completion)
        body = completion_object(
            trace_id,
            int(time.time()),
            completion.model,
            completion.text,
            completion.finish_reason,
            completion.input_tokens,
            completion.output_tokens,
        )
        headers = {
            "x-trace-id": trace_id,
            "x-drillkit-provider": completion.provider,
            "x-drillkit-cost-usd": usd(cost),
            **mode,
        }
        response = JSONResponse(body, headers=headers)
        self._observe_success(completion, cost, time.perf_counter() - started)
        return response

    # -- the pipeline both endpoints share -------------------------------------------------------

    async def _prepare(self, question: str) -> Turn:
        """Retrieval, the order tool, the active prompt and the levers for one question
        (`PromptError` when the active prompt cannot be rendered)."""
        state = self.levers.state
        documents = retrieve(question, self.corpus.documents(), degraded=state.degrade)
        corpus_version = self.corpus.version
        tools = []
        order = ORDER_ID_RE.search(question)
        if order:
            tools.append(await self._order_status(order.group(0)))
        prompt_version = state.prompt.active or ""
        system_prompt = self.prompts.render(prompt_version, build_context(documents, tools))
        first = next(iter(self.system.providers))
        models = {first: state.pinned_model} if state.pinned_model else None
        providers = self.levers.provider_order(state)
        cap = DEGRADED_MAX_TOKENS if state.degrade else None
        return Turn(question, documents, corpus_version, prompt_version, system_prompt, providers, models, cap)

    def _router(self) -> Router:
        assert self.router is not None, "the app's lifespan has not run"
        return self.router

    def _killed(self, response: Response, started: float) -> Response:
        """An answer of the kill switch, counted (`drillkit.demo.answer_modes`)."""
        self.metrics.observe_request("kill_switch", None, None, time.perf_counter() - started)
        return response

    def _observe_router_error(self, exc: RouterError, started: float) -> None:
        self.metrics.observe_attempts(exc.attempts)
        outcome = "rejected" if exc.status == 502 else "unavailable"
        last = exc.attempts[-1].provider if exc.attempts else None
        self.metrics.observe_request(outcome, last, None, time.perf_counter() - started)

    def _observe_success(self, completion: Completion, cost: float, latency_s: float) -> None:
        self.metrics.observe_attempts(completion.attempts)
        self.metrics.observe_success(completion, cost)
        self.metrics.observe_request("ok", completion.provider, completion.model, latency_s)

    async def _order_status(self, order_id: str) -> str:
        """The `<tool>` block for one order lookup; a failed call is a block saying how it failed."""
        tool = self.system.tools.get(ORDER_TOOL)
        if tool is None:
            return _failed_tool_block("error", f"tool {ORDER_TOOL} is not configured in drillkit.yaml")
        assert self.client is not None
        url = f"{str(tool.base_url).rstrip('/')}/orders/{order_id}"
        try:
            response = await self.client.get(url, timeout=TOOL_TIMEOUT_S)
        except httpx.TimeoutException:
            self.metrics.tool_calls.labels(ORDER_TOOL, "timeout").inc()
            return _failed_tool_block("timeout", f"no answer from {ORDER_TOOL} within {TOOL_TIMEOUT_S:g} s")
        except httpx.RequestError as exc:  # refused, reset, a body that cannot be decoded, ...
            self.metrics.tool_calls.labels(ORDER_TOOL, "error").inc()
            return _failed_tool_block("error", f"{type(exc).__name__}: {exc}")
        self.metrics.tool_calls.labels(ORDER_TOOL, str(response.status_code)).inc()
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text[:2000]  # shown as-is: the model sees what the tool really said
        return tool_block(ORDER_TOOL, response.status_code, payload)

    def _cost(self, completion: Completion) -> float:
        price = self.system.pricing.get(completion.model)
        if price is None:
            return 0.0
        usd = completion.input_tokens * price.input_per_mtok + completion.output_tokens * price.output_per_mtok
        return round(usd / 1_000_000, 12)

    # -- misc ----------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "name": self.system.name})

    async def metrics_text(self, request: Request) -> Response:
        state = self.levers.state
        self.metrics.show_levers(degrade=state.degrade, kill_switch=state.kill_switch)
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)


def create_service_app(
    workdir: Path, *, corpus_check_interval: float = 0.5, allowed_hosts: Iterable[str] = ()
) -> Starlette:
    """The demo service over `<workdir>` (reads `drillkit.yaml` now; InputError if it is bad).

    `corpus_check_interval` bounds how often the corpus folder is stat-ed (seconds; 0 in tests);
    `allowed_hosts` are Host names answered besides loopback ones (`loopback_only`).
    """
    service = DemoService(Path(workdir), corpus_check_interval=corpus_check_interval)
    routes = [
        Route("/v1/answer", service.answer, methods=["POST"]),
        Route(CHAT_PATH, service.chat_completions, methods=["POST"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
        Route("/healthz", service.healthz, methods=["GET"]),
        *AdminApi(service).routes(),
    ]
    handlers = {404: _route_error, 405: _route_error}
    middleware = loopback_only(allowed_hosts)
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=service.lifespan)
    app.state.service = service  # for in-process callers (the demo runner, tests)
    return app


# -- helpers -------------------------------------------------------------------------------------


def _component_path(system: System, name: str) -> str | None:
    component = getattr(system.components, name)
    return component.path if component is not None else None


async def _question(request: Request) -> str | None:
    body = await read_json_object(request)
    question = body.get("question") if body else None
    return question if isinstance(question, str) and question.strip() else None


def _failed_tool_block(status: str, message: str) -> str:
    return tool_block(ORDER_TOOL, status, {"error": message})


def _answer_error(
    status: int, code: str, message: str, trace_id: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}, "trace_id": trace_id},
        status_code=status,
        headers={"x-trace-id": trace_id, **(headers or {})},
    )


async def _route_error(request: Request, exc: Exception) -> Response:
    """404/405 in the service's error shape (`Allow` kept on a 405); OpenAI's on the chat path."""
    assert isinstance(exc, HTTPException)
    code = "method_not_allowed" if exc.status_code == 405 else "not_found"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    if request.url.path == CHAT_PATH:
        response = error_response(exc.status_code, code, message, uuid.uuid4().hex)
        response.headers.update(dict(exc.headers or {}))
        return response
    return _answer_error(exc.status_code, code, message, uuid.uuid4().hex, dict(exc.headers or {}))


__all__ = ["DemoService", "create_service_app"]
