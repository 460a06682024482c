"""The deterministic "model" behind the sim provider.

Contract (see docs/demo.md): `answer(model, system_text, messages)` reads `<document>` and
`<tool>` blocks from the system text (`drillkit.demo.context`, the format the demo service
writes) and the last user message as the question, and returns the same text for the same
inputs, always.  Randomness is replaced by sha256 of the question, never Python's `hash()`
(which is salted per process).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drillkit.demo.context import (
    ORDER_ID_RE,
    ORDER_TOOL,
    STOP_WORDS,
    WORD_RE,
    Document,
    ToolResult,
    parse_context,
    sentences,
    terms,
)
from drillkit.demo.sim.models import SimModel, get_model

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_NUMBER_RE = re.compile(r"(?<![\w.])(\d+)(\.\d+)?(?![\w])")
_CITE_RE = re.compile(r"\bcite\b", re.IGNORECASE)
_NO_CITE_RE = re.compile(r"\bdo\s+not\s+cite\b|\bdon't\s+cite\b", re.IGNORECASE)

NO_INFO = "I'm sorry, I have no information about that in the knowledge base."
DRIFT_NO_INFO = "Unfortunately, there is no information about that in the knowledge base."

# Fractions of questions (by sha256) on which the drift / lite models misbehave.
DRIFT_DEGRADE_SHARE = 0.5
LITE_DROP_CITATION_SHARE = 0.08

_GREETINGS = frozenset({"hello", "hi", "hey", "greetings"})
_KEEP_CASE = frozenset({"acme", "i", "klarna", "paypal", "visa"})
_DRIFT_OPENINGS = (
    "Based on the information I have, ",
    "According to our help center, ",
    "Here is what I found: ",
)


# ---------------------------------------------------------------- tokens


def tokenize(text: str) -> list[str]:
    """Tokens as the sim counts them: `\\w+` runs and single punctuation marks."""
    return TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """Number of tokens in `text` (the sim's usage unit)."""
    return len(TOKEN_RE.findall(text))


def truncate_tokens(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """Cut `text` after `max_tokens` tokens; returns (text, was_cut)."""
    if max_tokens is None:
        return text, False
    spans = [m.end() for m in TOKEN_RE.finditer(text)]
    if len(spans) <= max_tokens:
        return text, False
    return (text[: spans[max_tokens - 1]] if max_tokens > 0 else ""), True


def split_chunks(text: str, tokens_per_chunk: int = 3) -> list[tuple[str, int]]:
    """Split `text` into stream deltas of a few tokens: [(piece, n_tokens)], joining to `text`."""
    ends = [m.end() for m in TOKEN_RE.finditer(text)]
    chunks: list[tuple[str, int]] = []
    start = 0
    for i in range(tokens_per_chunk - 1, len(ends), tokens_per_chunk):
        chunks.append((text[start : ends[i]], tokens_per_chunk))
        start = ends[i]
    if start < len(text):
        chunks.append((text[start:], count_tokens(text[start:])))
    return chunks


def content_text(content: Any) -> str:
    """Plain text of a message `content`: a string, or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


# ---------------------------------------------------------------- reading the prompt


def wants_citations(system_text: str) -> bool:
    """True when the instructions say "cite" and never "do not cite"."""
    return bool(_CITE_RE.search(system_text)) and not _NO_CITE_RE.search(system_text)


# ---------------------------------------------------------------- answering


@dataclass(frozen=True)
class _Part:
    """One answer sentence and the document id supporting it (None: nothing to cite)."""

    text: str
    doc_id: str | None = None


def _share(salt: str, question: str) -> float:
    """A stable number in [0, 1) derived from the question."""
    digest = hashlib.sha256(f"{salt}|{question.strip()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _best_sentences(question: str, docs: Sequence[Document], limit: int) -> list[_Part]:
    q = terms(question)
    if not q:
        return []
    need = 1 if len(q) <= 2 else 2  # short questions may hinge on one word
    candidates = []
    for d_index, doc in enumerate(docs):
        title = terms(doc.title)
        for s_index, sentence in enumerate(sentences(doc.text)):
            s_terms = terms(sentence)
            own = len(q & s_terms)
            extra = len((q - s_terms) & title)
            if own >= 1 and own + extra >= need:
                score = own + 0.5 * extra
                candidates.append((-score, d_index, s_index, sentence, doc.id))
    candidates.sort(key=lambda c: c[:3])
    if not candidates:
        return []
    best = -candidates[0][0]
    picked = [candidates[0]]
    for cand in candidates[1:limit]:
        if -cand[0] >= max(2.0, 0.75 * best):
            picked.append(cand)
    return [_Part(c[3], c[4]) for c in picked]


def _order_parts(order_id: str, tool: ToolResult, drift: bool) -> list[_Part]:
    data = tool.data if tool.ok else None
    if not isinstance(data, Mapping) or not data.get("status"):
        return [_Part(f"I could not determine the status of order {order_id}.")]
    status = str(data["status"])
    text = f"Order {order_id} {'was' if status == 'delivered' else 'is'} {status}"
    if data.get("carrier"):
        text += f" via {data['carrier']}"
    if data.get("eta") and status not in ("cancelled", "canceled"):
        if status == "delivered":
            text += f" on {data['eta']}"
        else:
            text += f", {'arriving by' if drift else 'expected'} {data['eta']}"
    return [_Part(text + ".")]


def _generic_parts(question: str, drift: bool) -> list[_Part]:
    """A reply with no context to draw on (plain chat), derived from the prompt's words."""
    words = [w for w in WORD_RE.findall(question.lower()) if w not in STOP_WORDS]
    topics = list(dict.fromkeys(words))[:3]
    if _GREETINGS & set(words):
        if drift:
            return [_Part("Hi there!"), _Part("This is the Acme support assistant, what can I do for you?")]
        return [_Part("Hello!"), _Part("I am the Acme support assistant; how can I help?")]
    if not topics:
        return [_Part("Could you say a bit more about what you need?" if drift else "Could you tell me more?")]
    if drift:
        return [
            _Part(f"Your message mentions {', '.join(topics)}."),
            _Part("I answer questions about Acme orders, deliveries, returns and accounts."),
        ]
    return [
        _Part(f"You asked about {', '.join(topics)}."),
        _Part("I can help with Acme orders, shipping, returns and account questions."),
    ]


def _shift_numbers(text: str) -> str:
    """The drift model's wrong facts: every number grows by about half (30 -> 45, 4.99 -> 6.99)."""

    def bump(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f"{n + max(1, n // 2)}{m.group(2) or ''}"

    return _NUMBER_RE.sub(bump, text)


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    bare = re.sub(r"\W", "", first)
    if not bare or bare.lower() in _KEEP_CASE or bare[1:] != bare[1:].lower():
        return text
    return text[0].lower() + text[1:]


def _render(parts: Sequence[_Part], cite: bool, connective: str = "") -> str:
    """Join answer sentences, citing `[doc-id]` at the end of each run of same-document parts."""
    texts = []
    for i, part in enumerate(parts):
        text = part.text
        next_doc = parts[i + 1].doc_id if i + 1 < len(parts) else None
        if cite and part.doc_id and part.doc_id != next_doc:
            body, end = (text[:-1], text[-1]) if text[-1:] in ".!?" else (text, ".")
            text = f"{body} [{part.doc_id}]{end}"
        if i and connective:
            text = connective + _lower_first(text)
        texts.append(text)
    return " ".join(texts)


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Text of the last `user` message (empty when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def answer(model: str | SimModel, system_text: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """The model's reply: deterministic in (model, system_text, messages).

    Raises KeyError for a model the catalogue does not know.
    """
    spec = model if isinstance(model, SimModel) else get_model(model)
    if spec is None:
        raise KeyError(model)
    question = last_user_text(messages)
    docs, tools = parse_context(system_text)
    cite = wants_citations(system_text)
    drift = spec.behaviour == "drift"
    lite = spec.behaviour == "lite"

    order_ids = ORDER_ID_RE.findall(question)
    order_tool = next((t for t in tools if t.name == ORDER_TOOL), None)
    grounded = False
    if order_ids and order_tool is not None:
        parts = _order_parts(order_ids[0], order_tool, drift)
    elif docs or tools or "context" in system_text.lower():
        parts = _best_sentences(question, docs, limit=1 if lite else 2)
        grounded = bool(parts)
        if not parts:
            return DRIFT_NO_INFO if drift else NO_INFO
    else:
        parts = _generic_parts(question, drift)
        return _render(parts[:1] if lite else parts, cite)

    if lite:
        parts = parts[:1]
        if grounded and _share("sim-lite", question) < LITE_DROP_CITATION_SHARE:
            cite = False
        return _render(parts, cite)
    if not drift:
        return _render(parts, cite)

    if grounded and _share("drift", question) < DRIFT_DEGRADE_SHARE:
        wrong = [_Part(_shift_numbers(p.text), p.doc_id) for p in parts]
        numbers_mode = _share("drift-mode", question) < 0.5
        if numbers_mode and wrong != parts:
            parts = wrong
        else:
            cite = False
    opening = _DRIFT_OPENINGS[int(_share("drift-opening", question) * len(_DRIFT_OPENINGS))]
    text = _render(parts, cite, connective="Also, ")
    return opening + _lower_first(text)
