"""What the demo service and the sim model agree on: documents, retrieval and context blocks.

Both sides import this module (the service builds the context, the sim reads it back), so the
block format of docs/demo.md is written down once:

    <document id="returns-policy" title="Returns and refunds">
    ...document text...
    </document>
    <tool name="order_status" status="200">
    {"order_id": "A1001", ...}
    </tool>

A tool call that failed before any HTTP status came back has a word for its status (`timeout`,
`error`) and a JSON body `{"error": message}`.

Documents are markdown files: id = file stem, title = the first line starting with `# ` (the id
when there is none), text = every other line.  Retrieval is term overlap (`terms`), with title
terms counting twice.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: The one tool of the demo, as named in the manifest, the tool blocks and the sim's answers.
ORDER_TOOL = "order_status"
#: An order id in free text (`A1001`); the tool API accepts exactly this shape (`fullmatch`).
ORDER_ID_RE = re.compile(r"\b[A-Z][0-9]{4}\b")

WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_DOC_RE = re.compile(r"<document\b([^>]*)>(.*?)</document>", re.DOTALL)
_TOOL_RE = re.compile(r"<tool\b([^>]*)>(.*?)</tool>", re.DOTALL)
_ATTR_RE = re.compile(r'([\w-]+)="([^"]*)"')
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")

_STOP_WORDS_TEXT = """
    a about above acme after again all also am an and another any are as at be been before
    being below between both but by can can't could did do does doesn't doing don't done
    during each either else ever for from get gets getting give go going got had has have
    having he her here hers him his how i i'm i've if in into is it it's its just know let
    like long many may me might more most much must my need no nor not now of off on once
    one only or other our ours out over own please same shall she should so some such take
    takes tell than thank thanks that the their theirs them then there these they this those
    through to too under until up us very want was way we were what what's when where which
    while who whom why will with would yes yet you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class Document:
    """A knowledge-base document: `id` is the corpus file stem, `text` excludes the title line."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class ToolResult:
    """A tool call result as shown to the model: HTTP `status` (None if it failed) and raw body."""

    name: str
    status: int | None
    body: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def data(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def parse_document(doc_id: str, raw: bytes) -> Document:
    """Split a markdown file into title (first `# ` line) and text (the other lines)."""
    lines = raw.decode("utf-8", errors="replace").splitlines()
    title = doc_id
    for i, line in enumerate(lines):
        if line.startswith("# "):
            title = line[2:].strip() or doc_id
            del lines[i]
            break
    return Document(doc_id, title, "\n".join(lines).strip())


# ---------------------------------------------------------------- terms and retrieval


def stem(word: str) -> str:
    """Fold simple English plurals: policies -> policy, boxes -> box, days -> day."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> set[str]:
    """Content terms of `text`: lower-case words, stop-words removed, plurals folded."""
    out = set()
    for word in WORD_RE.findall(text.lower()):
        if word.endswith("'s"):
            word = word[:-2]
        if word and word not in STOP_WORDS:
            out.add(stem(word))
    return out


def rank_documents(question: str, docs: Sequence[Document], k: int = 3) -> list[Document]:
    """The `k` documents best matching `question` by term overlap (title terms count twice).

    Always returns min(k, len(docs)) documents, so the model sees a context even for an
    off-topic question (and can say it has no information).  Ties keep the corpus order.
    """
    q = terms(question)
    scored = []
    for index, doc in enumerate(docs):
        title = terms(doc.title)
        score = len(q & (title | terms(doc.text))) + len(q & title)
        scored.append((-score, index, doc))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [doc for _, _, doc in scored[: max(k, 0)]]


def sentences(text: str) -> list[str]:
    """Answerable sentences of a document: markdown headings and blank lines are skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*").strip()
        if not line or line.startswith("#"):
            continue
        out.extend(s.strip() for s in _SENTENCE_END_RE.split(line) if s.strip())
    return out


def passage(question: str, doc: Document, keep: int = 2) -> Document:
    """`doc` cut to the `keep` sentences sharing the most terms with `question`, in document
    order (ties keep the earlier sentence): a shorter context for the same question, what the
    degraded service retrieves."""
    q = terms(question)
    found = sentences(doc.text)
    best = sorted(range(len(found)), key=lambda i: (-len(q & terms(found[i])), i))[: max(keep, 0)]
    return Document(doc.id, doc.title, " ".join(found[i] for i in sorted(best)))


# ---------------------------------------------------------------- context blocks


def document_block(doc: Document) -> str:
    """The `<document>` block the service puts in the system prompt for `doc`."""
    title = html.escape(doc.title, quote=True)
    return f'<document id="{doc.id}" title="{title}">\n{doc.text}\n</document>'


def tool_block(name: str, status: int | str, payload: Any) -> str:
    """The `<tool>` block for a call that answered HTTP `status` with `payload` (JSON, or text as-is).

    A call that got no HTTP answer passes a word as `status` (`timeout`, `error`) and
    `{"error": message}` as payload: the model must see that the call failed, and how.
    """
    body = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
    return f'<tool name="{name}" status="{status}">\n{body}\n</tool>'


def build_context(docs: Iterable[Document], tools: Iterable[str] = ()) -> str:
    """The `context` template variable: document blocks, then already rendered tool blocks."""
    return "\n".join([*(document_block(d) for d in docs), *tools])


def parse_context(system_text: str) -> tuple[list[Document], list[ToolResult]]:
    """Documents and tool results found in a system prompt, in order of appearance."""
    docs = []
    for m in _DOC_RE.finditer(system_text):
        attrs = {k: html.unescape(v) for k, v in _ATTR_RE.findall(m.group(1))}
        doc_id = attrs.get("id", f"doc-{len(docs) + 1}")
        docs.append(Document(doc_id, attrs.get("title", doc_id), m.group(2).strip()))
    tools = []
    for m in _TOOL_RE.finditer(system_text):
        attrs = {k: html.unescape(v) for k, v in _ATTR_RE.findall(m.group(1))}
        raw = attrs.get("status", "")
        status = int(raw) if raw.isdigit() else None
        tools.append(ToolResult(attrs.get("name", ""), status, m.group(2).strip()))
    return docs, tools


__all__ = [
    "ORDER_ID_RE",
    "ORDER_TOOL",
    "STOP_WORDS",
    "WORD_RE",
    "Document",
    "ToolResult",
    "build_context",
    "document_block",
    "parse_context",
    "parse_document",
    "passage",
    "rank_documents",
    "sentences",
    "stem",
    "terms",
    "tool_block",
]
