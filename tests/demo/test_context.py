"""The one corpus parser and context-block format the service and the sim share."""

from __future__ import annotations

from pathlib import Path

import yaml

from drillkit.demo.context import (
    ORDER_ID_RE,
    Document,
    build_context,
    parse_context,
    parse_document,
    rank_documents,
    stem,
    terms,
    tool_block,
)
from drillkit.demo.corpus import corpus_documents

ASSETS = Path(__file__).resolve().parents[2] / "drillkit" / "demo" / "assets"


def test_title_is_the_first_heading_anywhere_and_dotfiles_are_not_documents(tmp_path: Path) -> None:
    (tmp_path / "returns-policy.md").write_text("<!-- owner: support -->\n# Returns and refunds\n\n30 days.\n")
    (tmp_path / ".draft.md").write_text("# Draft\n")
    (tmp_path / "untitled.md").write_text("No heading here.\n")
    docs = corpus_documents(tmp_path)
    assert [(d.id, d.title) for d in docs] == [("returns-policy", "Returns and refunds"), ("untitled", "untitled")]
    assert docs[0].text == "<!-- owner: support -->\n\n30 days."
    undecodable = parse_document("x", b"\xff# not a title\n# Title\nbody")
    assert undecodable == Document("x", "Title", "\ufffd# not a title\nbody")


def test_blocks_round_trip() -> None:
    docs = [Document("a", 'Quotes " & <tags>', "Text of a."), Document("b", "B", "Text of b.")]
    tools = [tool_block("order_status", 200, {"status": "shipped"}), tool_block("order_status", "timeout", {"e": 1})]
    parsed_docs, parsed_tools = parse_context("Rules.\n" + build_context(docs, tools))
    assert parsed_docs == docs
    assert [(t.name, t.status, t.ok, t.data) for t in parsed_tools] == [
        ("order_status", 200, True, {"status": "shipped"}),
        ("order_status", None, False, {"e": 1}),
    ]


def test_order_ids_and_terms() -> None:
    assert ORDER_ID_RE.findall("orders A1001, b1002, AB1003, A10045 and C2002.") == ["A1001", "C2002"]
    assert ORDER_ID_RE.fullmatch("A1001") and not ORDER_ID_RE.fullmatch("A1001x")
    assert not ORDER_ID_RE.search("A١٠٠١")  # non-ASCII digits are no order id (they end up in a URL)
    assert terms("What are the policies on boxes and days?") == {"policy", "box", "day"}
    assert stem("address") == "address"


def test_retrieval_finds_every_cited_document() -> None:
    docs = corpus_documents(ASSETS / "corpus")
    cases = yaml.safe_load((ASSETS / "evals" / "suite.yaml").read_text(encoding="utf-8"))["cases"]
    for case in cases:
        cited = [a["value"] for a in case["assert"] if a["type"] == "cites"]
        if cited:
            top = rank_documents(case["question"], docs, k=3)
            assert cited[0] in [d.id for d in top], case["id"]
    assert len(rank_documents("anything", docs, k=3)) == 3
