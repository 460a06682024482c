"""Every assertion type, positive and `not-`, passing and failing, on plain response dicts."""

from __future__ import annotations

from typing import Any

import pytest

import drillkit.evals
from drillkit.evals import ASSERTION_TYPES, Assertion, check
from drillkit.evals.assertions import CHECKS

RESPONSE: dict[str, Any] = {
    "answer": "You have 30 Days to return an item. [returns-policy]",
    "citations": ["returns-policy"],
    "cost_usd": 0.0004,
    "data": '{"order_id": "A1001", "status": "shipped"}',
    "order": {"order_id": "A1001", "status": "shipped", "items": [{"sku": "X-1"}]},
    "tags": ["policy", "returns"],
}

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "status"],
    "properties": {"order_id": {"type": "string"}, "status": {"enum": ["shipped", "pending"]}},
}

# (type, value, path, latency_ms, passes) — each row is also run with `not-`, expecting the opposite.
CASES = [
    ("contains", "30 Days", None, 10, True),
    ("contains", "30 days", None, 10, False),  # case-sensitive
    ("contains", "policy", "tags", 10, True),  # list: an item equals the value
    ("contains", "pol", "tags", 10, False),
    ("icontains", "30 DAYS", None, 10, True),
    ("icontains", "60 days", None, 10, False),
    ("regex", r"\b\d+ days\b", None, 10, False),
    ("regex", r"(?i)\b\d+ days\b", None, 10, True),
    ("regex", r"^X-\d$", "order.items.0.sku", 10, True),
    ("is-json", None, "data", 10, True),
    ("is-json", None, "order", 10, True),  # already decoded JSON
    ("is-json", None, None, 10, False),  # the answer is prose
    ("json-schema", ORDER_SCHEMA, "data", 10, True),
    ("json-schema", ORDER_SCHEMA, "order", 10, True),
    ("json-schema", {"type": "object", "required": ["carrier"]}, "order", 10, False),
    ("json-schema", ORDER_SCHEMA, None, 10, False),  # prose is not JSON
    ("cites", "returns-policy", None, 10, True),
    ("cites", "shipping-policy", None, 10, False),
    ("cites", None, None, 10, True),
    ("max-latency-ms", 3000, None, 2999.5, True),
    ("max-latency-ms", 3000, None, 3000.0, True),
    ("max-latency-ms", 3000, None, 3001.0, False),
    ("max-cost-usd", 0.001, None, 10, True),
    ("max-cost-usd", 0.0001, None, 10, False),
]


def make(type_: str, value: Any = None, path: str | None = None) -> Assertion:
    data: dict[str, Any] = {"type": type_}
    if value is not None:
        data["value"] = value
    if path is not None:
        data["path"] = path
    return Assertion.model_validate(data)


@pytest.mark.parametrize(("type_", "value", "path", "latency", "passes"), CASES)
def test_positive_and_negated(type_: str, value: Any, path: str | None, latency: float, passes: bool) -> None:
    positive = check(make(type_, value, path), RESPONSE, latency)
    negated = check(make("not-" + type_, value, path), RESPONSE, latency)
    assert positive.passed is passes, positive.detail
    assert negated.passed is (not passes), negated.detail
    assert positive.detail and negated.detail == positive.detail


def test_every_type_is_covered_both_ways() -> None:
    assert set(CHECKS) == set(ASSERTION_TYPES)
    for type_ in ASSERTION_TYPES:
        outcomes = {passes for t, *_, passes in CASES if t == type_}
        assert outcomes == {True, False}, type_


def test_cites_nothing_when_citations_empty_or_null() -> None:
    for citations in ([], None):
        response = {"answer": "No information.", "citations": citations}
        assert not check(make("cites"), response, 1).passed
        assert check(make("not-cites"), response, 1).passed
    assert check(make("cites", "a"), {"citations": [{"id": "a", "title": "A"}]}, 1).passed


def test_missing_field_fails_both_forms() -> None:
    response = {"answer": "hi"}
    for type_, value in [("max-cost-usd", 1), ("contains", "x"), ("cites", None)]:
        for prefix in ("", "not-"):
            a = make(prefix + type_, value, "nope" if type_ == "contains" else None)
            result = check(a, response, 1)
            assert not result.passed
            assert "has no" in result.detail


def test_whole_response_path() -> None:
    assert check(make("json-schema", {"type": "object", "required": ["answer"]}, "."), RESPONSE, 1).passed


def test_details_say_what_was_seen() -> None:
    assert check(make("icontains", "60 days"), RESPONSE, 1).detail.startswith("answer does not contain '60 days'")
    assert check(make("max-latency-ms", 100), RESPONSE, 250).detail == "latency 250 ms > 100 ms"
    assert "cites returns-policy" in check(make("cites", "faq"), RESPONSE, 1).detail
    detail = check(make("json-schema", {"required": ["carrier"]}, "order"), RESPONSE, 1).detail
    assert "'carrier' is a required property" in detail


def test_package_exports_are_deliberate() -> None:
    assert sorted(drillkit.evals.__all__) == [
        "ASSERTION_TYPES",
        "Assertion",
        "AssertionResult",
        "Case",
        "CaseResult",
        "Check",
        "EvalSuite",
        "SuiteResult",
        "check",
        "load_suite",
        "run_suite",
    ]
    for name in drillkit.evals.__all__:
        assert getattr(drillkit.evals, name) is not None
