"""The demo service: a RAG support assistant behind a provider router, with admin levers.

HTTP contract (docs/demo.md):

- `POST /v1/answer {"question": str}` → 200 `{answer, citations, model, provider,
  usage: {input_tokens, output_tokens}, cost_usd, latency_ms, trace_id, prompt_version,
  corpus_version}`.  `model` is the model the provider REPORTED; `cost_usd` uses the manifest
  pricing of that model (0 when unpriced); `latency_ms` is the service's own handling time.
  Errors: 400 bad body; 502 a provider rejected the request (e.g. an unknown pinned model);
  503 every provider failed or is cooling down; 500 the active prompt cannot be rendered.
  Error bodies are `{"error": {"code", "message"}, "trace_id"}`; every answer carries `x-trace-id`.
- `GET /metrics` Prometheus text (a per-app registry), `GET /healthz`.
- Levers (`{"error": message}` with 400/404 on bad values; each answers the new state):
  `GET /admin/state`, `POST /admin/route {"provider"}`, `POST /admin/pin {"model": name|null}`,
  `POST /admin/prompt {"version": name|"previous"}`, `POST /admin/corpus {"version": id|"previous"}`,
  `GET /admin/corpus` (versions), `POST /admin/reset` (route, pin and prompt back to defaults and
  the router's cooldowns cleared; the corpus is left as it is; see `drillkit.demo.levers`).

One answer: top-3 retrieval over the live corpus; if the question holds an order id
(`\\b[A-Z]\\d{4}\\b`) the `order_status` tool is called (3 s timeout; a failure becomes a tool block
whose status says so); the active prompt `prompts/<version>.md` is rendered with `context`; the
router asks the providers; citations are the `[id]` tokens of the answer naming a retrieved
document, unique, in order.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from drillkit.config.system import System, load_system
from drillkit.demo.corpus import LiveCorpus
from drillkit.demo.levers import LeverError, Levers
from drillkit.demo.router import Attempt, Completion, Router, RouterError
from drillkit.demo.sim.brain import build_context, rank_documents, tool_block
from drillkit.errors import ServiceError

ORDER_ID = re.compile(r"\b[A-Z]\d{4}\b")
CITATION = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.-]*)\]")
TOOL_NAME = "order_status"
TOOL_TIMEOUT = httpx.Timeout(3.0)
TOP_K = 3
BAD_QUESTION = 'expected a JSON object {"question": "<non-empty string>"}'


class PromptError(ServiceError):
    """The active prompt version cannot be read or rendered."""


class PromptTemplates:
    """`<prompts_dir>/<version>.md` jinja2 templates (sandboxed), re-read when the file changes."""

    def __init__(self, prompts_dir: Path) -> None:
        self.prompts_dir = prompts_dir
        self._env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
        self._cache: dict[str, tuple[tuple[int, int], Any]] = {}

    def render(self, version: str, context: str) -> str:
        path = self.prompts_dir / f"{version}.md"
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._cache.get(version)
            if cached is None or cached[0] != stamp:
                cached = (stamp, self._env.from_string(path.read_text(encoding="utf-8")))
                self._cache[version] = cached
            return cached[1].render(context=context)
        except OSError as exc:
            raise PromptError(f"prompt {version!r} cannot be read: {exc.strerror or exc}") from None
        except TemplateError as exc:
            raise PromptError(f"prompt {version!r} cannot be rendered: {exc}") from None


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 7.5, 10.0)


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of its own (several apps share a process).

    Label values: `outcome` is ok | bad_request | rejected | unavailable | error; `provider` and
    `model` are "none" when no provider answered; `reason` is a router `Attempt.reason`;
    `direction` is input | output; the tool counter's `status` is the HTTP status, timeout or error.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "drillkit_demo_requests", "Answers by outcome", ["provider", "model", "outcome"], registry=r
        )
        self.duration = Histogram(
            "drillkit_demo_request_duration_seconds", "Time to answer", buckets=LATENCY_BUCKETS, registry=r
        )
        self.provider_errors = Counter(
            "drillkit_demo_provider_errors", "Failed provider attempts", ["provider", "reason"], registry=r
        )
        self.cost = Counter("drillkit_demo_cost_usd", "Provider cost in USD", ["provider", "model"], registry=r)
        self.tokens = Counter("drillkit_demo_tokens", "Tokens by direction", ["direction"], registry=r)
        self.tool_calls = Counter("drillkit_demo_tool_calls", "Tool calls by status", ["tool", "status"], registry=r)

    def observe_request(self, outcome: str, provider: str | None, model: str | None, seconds: float) -> None:
        self.requests.labels(provider or "none", model or "none", outcome).inc()
        self.duration.observe(seconds)

    def observe_attempts(self, attempts: Iterable[Attempt]) -> None:
        for a in attempts:
            if a.is_error:
                self.provider_errors.labels(a.provider, a.reason).inc()

    def observe_success(self, completion: Completion, cost_usd: float) -> None:
        self.cost.labels(completion.provider, completion.model).inc(cost_usd)
        self.tokens.labels("input").inc(completion.input_tokens)
        self.tokens.labels("output").inc(completion.output_tokens)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


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
        started = time.perf_counter()
        trace_id = uuid.uuid4().hex
        question = await _question(request)
        if question is None:
            self.metrics.observe_request("bad_request", None, None, time.perf_counter() - started)
            return _answer_error(400, "bad_request", BAD_QUESTION, trace_id)

        documents = rank_documents(question, self.corpus.documents(), k=TOP_K)
        corpus_version = self.corpus.version
        tools = []
        order = ORDER_ID.search(question)
        if order:
            tools.append(await self._order_status(order.group(0)))
        state = self.levers.state
        prompt_version = state.prompt.active or ""
        try:
            system_prompt = self.prompts.render(prompt_version, build_context(documents, tools))
            assert self.router is not None, "the app's lifespan has not run"
            first = next(iter(self.system.providers))
            completion = await self.router.complete(
                system_prompt,
                question,
                order=self.levers.provider_order(state),
                models={first: state.pinned_model} if state.pinned_model else None,
                trace_id=trace_id,
            )
        except PromptError as exc:
            self.metrics.observe_request("error", None, None, time.perf_counter() - started)
            return _answer_error(500, "prompt_error", str(exc), trace_id)
        except RouterError as exc:
            self.metrics.observe_attempts(exc.attempts)
            outcome = "rejected" if exc.status == 502 else "unavailable"
            last = exc.attempts[-1].provider if exc.attempts else None
            self.metrics.observe_request(outcome, last, None, time.perf_counter() - started)
            return _answer_error(exc.status, exc.code, str(exc), trace_id)

        cost = self._cost(completion)
        self.metrics.observe_attempts(completion.attempts)
        self.metrics.observe_success(completion, cost)
        latency_s = time.perf_counter() - started
        self.metrics.observe_request("ok", completion.provider, completion.model, latency_s)
        retrieved = {d.id for d in documents}
        citations = list(dict.fromkeys(c for c in CITATION.findall(completion.text) if c in retrieved))
        body = {
            "answer": completion.text,
            "citations": citations,
            "model": completion.model,
            "provider": completion.provider,
            "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
            "cost_usd": cost,
            "latency_ms": round(latency_s * 1000, 2),
            "trace_id": trace_id,
            "prompt_version": prompt_version,
            "corpus_version": corpus_version,
        }
        return JSONResponse(body, headers={"x-trace-id": trace_id})

    async def _order_status(self, order_id: str) -> str:
        """The `<tool>` block for one order lookup; a failed call is a block saying how it failed."""
        tool = self.system.tools.get(TOOL_NAME)
        if tool is None:
            return _failed_tool_block("error", f"tool {TOOL_NAME} is not configured in drillkit.yaml")
        assert self.client is not None
        url = f"{str(tool.base_url).rstrip('/')}/orders/{order_id}"
        try:
            response = await self.client.get(url, timeout=TOOL_TIMEOUT)
        except httpx.TimeoutException:
            self.metrics.tool_calls.labels(TOOL_NAME, "timeout").inc()
            return _failed_tool_block("timeout", f"no answer from {TOOL_NAME} within 3 s")
        except httpx.TransportError as exc:
            self.metrics.tool_calls.labels(TOOL_NAME, "error").inc()
            return _failed_tool_block("error", f"{type(exc).__name__}: {exc}")
        self.metrics.tool_calls.labels(TOOL_NAME, str(response.status_code)).inc()
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text[:2000]  # shown as-is: the model sees what the tool really said
        return tool_block(TOOL_NAME, response.status_code, payload)

    def _cost(self, completion: Completion) -> float:
        price = self.system.pricing.get(completion.model)
        if price is None:
            return 0.0
        usd = completion.input_tokens * price.input_per_mtok + completion.output_tokens * price.output_per_mtok
        return round(usd / 1_000_000, 12)

    # -- levers --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The lever state plus what it means right now (provider order, models, router health)."""
        self.corpus.refresh(force=True)
        state = self.levers.state
        first = next(iter(self.system.providers))
        models = {name: p.model for name, p in self.system.providers.items()}
        if state.pinned_model:
            models[first] = state.pinned_model
        return {
            **state.model_dump(mode="json"),
            "provider_order": self.levers.provider_order(state),
            "models": models,
            "health": self.router.health() if self.router else {},
        }

    async def admin_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def admin_route(self, request: Request) -> Response:
        self.levers.set_route(await _field(request, "provider"))
        return JSONResponse(self.state())

    async def admin_pin(self, request: Request) -> Response:
        self.levers.pin(await _field(request, "model", nullable=True))
        return JSONResponse(self.state())

    async def admin_prompt(self, request: Request) -> Response:
        self.levers.activate_prompt(await _field(request, "version"))
        return JSONResponse(self.state())

    async def admin_corpus(self, request: Request) -> Response:
        self.corpus.activate(await _field(request, "version"))
        return JSONResponse(self.state())

    async def admin_corpus_versions(self, request: Request) -> Response:
        self.corpus.refresh(force=True)
        return JSONResponse(
            {
                "active": self.corpus.version,
                "history": self.levers.state.corpus.history,
                "versions": self.corpus.list_versions(),
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        self.levers.reset()
        if self.router is not None:
            self.router.reset_health()
        return JSONResponse(self.state())

    # -- misc ----------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "name": self.system.name})

    async def metrics_text(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)


def create_service_app(workdir: Path, *, corpus_check_interval: float = 0.5) -> Starlette:
    """The demo service over `<workdir>` (reads `drillkit.yaml` now; InputError if it is bad).

    `corpus_check_interval` bounds how often the corpus folder is stat-ed (seconds; 0 in tests).
    """
    service = DemoService(Path(workdir), corpus_check_interval=corpus_check_interval)

    def lever(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LeverError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)

        return guarded

    routes = [
        Route("/v1/answer", service.answer, methods=["POST"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/admin/state", lever(service.admin_state), methods=["GET"]),
        Route("/admin/route", lever(service.admin_route), methods=["POST"]),
        Route("/admin/pin", lever(service.admin_pin), methods=["POST"]),
        Route("/admin/prompt", lever(service.admin_prompt), methods=["POST"]),
        Route("/admin/corpus", lever(service.admin_corpus), methods=["POST"]),
        Route("/admin/corpus", lever(service.admin_corpus_versions), methods=["GET"]),
        Route("/admin/reset", lever(service.admin_reset), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=service.lifespan)
    app.state.service = service  # for in-process callers (the demo runner, tests)
    return app


# -- helpers -------------------------------------------------------------------------------------


def _component_path(system: System, name: str) -> str | None:
    component = getattr(system.components, name)
    return component.path if component is not None else None


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _question(request: Request) -> str | None:
    body = await _json_object(request)
    question = body.get("question") if body else None
    return question if isinstance(question, str) and question.strip() else None


async def _field(request: Request, name: str, *, nullable: bool = False) -> Any:
    """One field of a lever's JSON body; LeverError(400) when missing or not a string."""
    body = await _json_object(request)
    if body is None or name not in body:
        raise LeverError(f'expected a JSON object {{"{name}": ...}}')
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LeverError(f"{name} must be a non-empty string" + (" or null" if nullable else ""))
    return value.strip()


def _failed_tool_block(status: str, message: str) -> str:
    # Same shape as a real tool block, with a non-numeric status: the model must see that the
    # call failed (and how), not silently lose the tool result.
    return f'<tool name="{TOOL_NAME}" status="{status}">\n{json.dumps({"error": message})}\n</tool>'


def _answer_error(status: int, code: str, message: str, trace_id: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}, "trace_id": trace_id},
        status_code=status,
        headers={"x-trace-id": trace_id},
    )


__all__ = ["DemoService", "PromptTemplates", "create_service_app"]
