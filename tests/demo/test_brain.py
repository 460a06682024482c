"""The sim brain alone: deterministic answers, citations, order answers, tokens.

Pass rates on the eval suite are measured through the real service, in
`tests/demo/test_service.py::test_the_shipped_suite_through_the_service`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from drillkit.demo.context import ORDER_ID_RE, ORDER_TOOL, build_context, rank_documents, tool_block
from drillkit.demo.corpus import corpus_documents
from drillkit.demo.sim import brain
from drillkit.demo.sim.models import MODELS, NEWER, PINNED

ASSETS = Path(__file__).resolve().parents[2] / "drillkit" / "demo" / "assets"
CITE = "Answer only from the context and cite document ids in square brackets.\n"


@pytest.fixture(scope="module")
def suite() -> list[dict]:
    return yaml.safe_load((ASSETS / "evals" / "suite.yaml").read_text(encoding="utf-8"))["cases"]


def ask(model: str, question: str, instructions: str = CITE) -> str:
    """The brain's answer with the top-3 shipped documents as context."""
    docs = rank_documents(question, corpus_documents(ASSETS / "corpus"), k=3)
    return brain.answer(model, instructions + build_context(docs), [{"role": "user", "content": question}])


def test_suite_shape(suite: list[dict]) -> None:
    orders = json.loads((ASSETS / "orders.json").read_text(encoding="utf-8"))
    doc_ids = {p.stem for p in (ASSETS / "corpus").glob("*.md")}
    assert len(suite) >= 32
    assert len({c["id"] for c in suite}) == len(suite)
    tags = {t for c in suite for t in c["tags"]}
    assert {"policy", "orders", "oos"} <= tags
    assert any(a["type"] == "max-latency-ms" for c in suite for a in c["assert"])
    for case in suite:
        for a in case["assert"]:
            if a["type"].removeprefix("not-") == "cites":
                assert a["value"] in doc_ids, case["id"]
        if "orders" in case["tags"] and "could not determine" not in str(case["assert"]):
            assert ORDER_ID_RE.search(case["question"]).group(0) in orders


def test_answers_are_deterministic_and_models_differ() -> None:
    question = "How many days do I have to return an item?"
    answers = {m: ask(m, question) for m in MODELS}
    assert answers == {m: ask(m, question) for m in MODELS}
    assert answers[PINNED] != answers[NEWER]
    assert "[returns-policy]" in answers[PINNED]
    assert "30 days" in answers[PINNED]
    assert "[returns-policy]" not in ask(PINNED, question, "Answer from the context. Do not cite.\n")


def test_order_answers() -> None:
    order = {"order_id": "A1003", "status": "shipped", "carrier": "DHL", "eta": "2026-12-02"}
    system = "Use the context.\n" + tool_block(ORDER_TOOL, 200, order)
    messages = [{"role": "user", "content": "Where is my order A1003?"}]
    assert brain.answer(PINNED, system, messages) == ("Order A1003 is shipped via DHL, expected 2026-12-02.")
    failed = "Use the context.\n" + tool_block(ORDER_TOOL, 503, {"error": "down"})
    assert "could not determine the status of order A1003" in brain.answer(PINNED, failed, messages)
    no_status = "Use the context.\n" + tool_block(ORDER_TOOL, 200, {"order_id": "A1003"})
    assert "could not determine" in brain.answer(PINNED, no_status, messages)


def test_no_match_says_no_information() -> None:
    assert ask(PINNED, "What is the weather in Paris tomorrow?") == brain.NO_INFO


def test_plain_chat_gets_a_generic_reply() -> None:
    messages = [{"role": "user", "content": "Say hello"}]
    first = brain.answer(PINNED, "", messages)
    assert first == brain.answer(PINNED, "", messages)
    assert first.startswith("Hello")
    other = brain.answer(PINNED, "", [{"role": "user", "content": "Explain quantum tunnelling"}])
    assert "quantum" in other


def test_do_not_cite_wins() -> None:
    assert brain.wants_citations("Cite your sources.")
    assert not brain.wants_citations("Do not cite documents.")
    assert not brain.wants_citations("Be brief; use citations sparingly.")


def test_tokens_and_chunks() -> None:
    text = "Order A1003 is shipped, expected 2026-12-02."
    assert brain.tokenize("Hi, there!") == ["Hi", ",", "there", "!"]
    assert brain.count_tokens(text) == 12
    chunks = brain.split_chunks(text, 3)
    assert "".join(piece for piece, _ in chunks) == text
    assert sum(n for _, n in chunks) == brain.count_tokens(text)
    cut, was_cut = brain.truncate_tokens(text, 4)
    assert (cut, was_cut) == ("Order A1003 is shipped", True)
    assert brain.truncate_tokens(text, 100) == (text, False)


def test_public_surface() -> None:
    import drillkit.demo.context as context
    import drillkit.demo.sim as sim

    for module in (sim, context):
        assert all(hasattr(module, name) for name in module.__all__)
    assert {"create_sim_app", "answer", "MODELS"} <= set(sim.__all__)
    assert not hasattr(brain, "load_corpus")  # one corpus parser: drillkit.demo.context


def test_canaries_and_inputs_assets() -> None:
    canaries = yaml.safe_load((ASSETS / "evals" / "canaries.yaml").read_text(encoding="utf-8"))["canaries"]
    assert 8 <= len(canaries) <= 10
    assert len({c["id"] for c in canaries}) == len(canaries)
    assert all(("prompt" in c) != ("messages" in c) for c in canaries)
    lines = (ASSETS / "inputs" / "sample.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines]
    assert 180 <= len(questions) <= 320
    assert sum(bool(ORDER_ID_RE.search(q)) for q in questions) >= 40
