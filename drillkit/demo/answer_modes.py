"""How the degrade and kill-switch levers (`drillkit.demo.levers`) show in the service's answers.

- `degrade` on: the fast provider is asked first (`Levers.provider_order`) for less: the context
  holds the best `DEGRADED_TOP_K` documents (not `TOP_K`), each cut to its `DEGRADED_SENTENCES`
  sentences closest to the question (`drillkit.demo.context.passage`; a prompt about 40 % shorter
  on the demo's traffic), and the answer is capped at `DEGRADED_MAX_TOKENS`. Each degraded answer
  carries the header `x-drillkit-mode: degraded`. On the demo the quality cost is the small
  model's (its one-sentence answers drop a citation now and then): the eval suite passes at about
  93 %, inside the 90 % envelope, where the full answers pass at 100 %.
- `kill_switch` on: the AI feature is off. Both endpoints answer every valid question with
  `STATIC_ANSWER` at once, calling no provider, no retrieval and no tool:
  `POST /v1/answer` the usual 200 shape (`answer` the static text, `citations` [], `model` and
  `provider` "none", zero usage and cost, the live prompt and corpus versions);
  `POST /v1/chat/completions` a `chat.completion` (model "none") or, with `stream: true`, the text
  as one content chunk, then `[DONE]`. Headers `x-drillkit-mode: kill_switch` and, on the chat
  face, `x-drillkit-provider: none` and `x-drillkit-cost-usd: 0`. Counted as
  `drillkit_demo_requests_total{provider="none", model="none", outcome="kill_switch"}`.

What the demo's evals make of a kill-switch answer: it holds none of the facts a case asks for and
no citation, so nearly every case fails and the pass rate falls far below the envelope. That is
honest: users get no answer to their question. A kill switch is the safe state, not a recovery.
A bad request is still refused (400) while the switch is on: the switch answers questions only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence

from starlette.responses import JSONResponse, Response

from drillkit.demo.chat_api import ChatRequest, EventStream, StreamWriter, completion_object
from drillkit.demo.context import Document, passage, rank_documents

#: Documents in the context of a normal answer, of a degraded one, and the sentences kept of each
#: document in a degraded one; the max_tokens a degraded answer asks for (else `MAX_TOKENS`).
TOP_K = 3
DEGRADED_TOP_K = 2
DEGRADED_SENTENCES = 2
DEGRADED_MAX_TOKENS = 128
STATIC_ANSWER = (
    "Our assistant is unavailable right now. Please see the help centre at https://help.acme.example "
    "or contact our support team."
)
#: What answered: the model and provider named in answers and metrics while the switch is on.
NOBODY = "none"
MODE_HEADER = "x-drillkit-mode"


def retrieve(question: str, docs: Sequence[Document], *, degraded: bool) -> list[Document]:
    """The documents of one answer's context (module doc)."""
    if not degraded:
        return rank_documents(question, docs, k=TOP_K)
    return [passage(question, d, DEGRADED_SENTENCES) for d in rank_documents(question, docs, k=DEGRADED_TOP_K)]


def mode_headers(*, degraded: bool) -> dict[str, str]:
    """The header naming a degraded answer (none for a normal one)."""
    return {MODE_HEADER: "degraded"} if degraded else {}


def static_answer(trace_id: str, started: float, prompt_version: str | None, corpus_version: str) -> JSONResponse:
    """The `/v1/answer` body of a kill-switch answer (module doc)."""
    body = {
        "answer": STATIC_ANSWER,
        "citations": [],
        "model": NOBODY,
        "provider": NOBODY,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "cost_usd": 0.0,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "trace_id": trace_id,
        "prompt_version": prompt_version,
        "corpus_version": corpus_version,
    }
    return JSONResponse(body, headers={"x-trace-id": trace_id, MODE_HEADER: "kill_switch"})


def static_chat(chat: ChatRequest, trace_id: str) -> Response:
    """The `/v1/chat/completions` answer while the kill switch is on, streamed when asked."""
    headers = {"x-trace-id": trace_id, "x-drillkit-provider": NOBODY, MODE_HEADER: "kill_switch"}
    if chat.stream:
        return EventStream(_static_events(chat, trace_id), headers={**headers, "cache-control": "no-cache"})
    body = completion_object(trace_id, int(time.time()), NOBODY, STATIC_ANSWER, "stop", 0, 0)
    return JSONResponse(body, headers={**headers, "x-drillkit-cost-usd": "0"})


async def _static_events(chat: ChatRequest, trace_id: str) -> AsyncGenerator[str, None]:
    writer = StreamWriter(trace_id, NOBODY, chat.include_usage)
    yield writer.role()
    yield writer.content(STATIC_ANSWER)
    yield writer.finish("stop")
    if chat.include_usage:
        yield writer.usage(0, 0)
    yield writer.done()


__all__ = [
    "DEGRADED_MAX_TOKENS",
    "DEGRADED_SENTENCES",
    "DEGRADED_TOP_K",
    "MODE_HEADER",
    "NOBODY",
    "STATIC_ANSWER",
    "TOP_K",
    "mode_headers",
    "retrieve",
    "static_answer",
    "static_chat",
]
