"""The sim LLM provider: deterministic OpenAI- and Anthropic-compatible models for the demo.

Public surface: `create_sim_app` (the ASGI app), the model catalogue, and the retrieval and
context helpers the demo service shares with the sim brain so both agree on the block format.
"""

from drillkit.demo.sim.app import create_sim_app
from drillkit.demo.sim.brain import (
    ORDER_ID_RE,
    Document,
    answer,
    build_context,
    count_tokens,
    document_block,
    load_corpus,
    rank_documents,
    tool_block,
)
from drillkit.demo.sim.models import LITE, MODELS, NEWER, PINNED, SimModel, get_model

__all__ = [
    "LITE",
    "MODELS",
    "NEWER",
    "ORDER_ID_RE",
    "PINNED",
    "Document",
    "SimModel",
    "answer",
    "build_context",
    "count_tokens",
    "create_sim_app",
    "document_block",
    "get_model",
    "load_corpus",
    "rank_documents",
    "tool_block",
]
