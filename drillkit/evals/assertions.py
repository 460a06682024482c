"""Assertions: one small function per type, one interface.

    check(assertion, response, latency_ms) -> AssertionResult(passed, detail)

`response` is the service's decoded JSON body; `latency_ms` the latency drillkit measured for the
request. Each type's function judges the positive form and states what it saw in `detail`
("answer does not contain '30 days'"); `check` applies the `not-` prefix by flipping `passed`, so
the same detail explains a failure of either form. A response that lacks the field an assertion
reads fails both forms (there is nothing to judge).

What a type reads (its `path`, dotted, list items by index, `.` = the whole response):
contains/icontains/regex/is-json/json-schema → `answer`; cites → `citations`;
max-cost-usd → `cost_usd`; max-latency-ms → the measured latency (no path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from drillkit.evals.suite import Assertion


@dataclass(frozen=True)
class AssertionResult:
    """The verdict of one assertion on one response; `detail` says what was seen, for humans."""

    passed: bool
    detail: str


class NotEvaluable(Exception):
    """The response lacks what the assertion reads; the assertion fails whatever its prefix."""


_MISSING = object()


def lookup(response: Any, path: str) -> Any:
    """The value at a dotted `path` in `response` (`.` = all of it); raise NotEvaluable if absent."""
    if path in (".", ""):
        return response
    node = response
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            node = _MISSING
        if node is _MISSING:
            raise NotEvaluable(f"the response has no '{path}'")
    return node


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _excerpt(value: Any, limit: int = 160) -> str:
    text = _text(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _decoded(value: Any, where: str) -> Any:
    """A JSON value: strings are parsed as JSON text, anything else is already decoded."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


# -- one function per type: (assertion, response, latency_ms) -> AssertionResult (positive form) ----


def _contains(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    return _substring(a, lookup(response, a.target), fold=False)


def _icontains(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    return _substring(a, lookup(response, a.target), fold=True)


def _substring(a: Assertion, value: Any, *, fold: bool) -> AssertionResult:
    """Text: substring; a list: one item equals the value; anything else: its JSON text."""
    needle = a.value.casefold() if fold else a.value
    if isinstance(value, list):
        items = [_text(v).casefold() if fold else _text(v) for v in value]
        found = needle in items
        return AssertionResult(found, f"{a.target} {'has' if found else 'has no'} item {a.value!r}")
    hay = _text(value).casefold() if fold else _text(value)
    found = needle in hay
    verb = "contains" if found else "does not contain"
    return AssertionResult(found, f"{a.target} {verb} {a.value!r}: {_excerpt(value)}")


def _regex(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    value = lookup(response, a.target)
    match = re.search(a.value, _text(value))
    if match:
        return AssertionResult(True, f"{a.target} matches /{a.value}/ at {match.group(0)!r}")
    return AssertionResult(False, f"{a.target} does not match /{a.value}/: {_excerpt(value)}")


def _is_json(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    value = lookup(response, a.target)
    try:
        _decoded(value, a.target)
    except ValueError as exc:
        return AssertionResult(False, str(exc))
    return AssertionResult(True, f"{a.target} is valid JSON")


def _json_schema(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    try:
        document = _decoded(lookup(response, a.target), a.target)
    except ValueError as exc:
        return AssertionResult(False, str(exc))
    validator = jsonschema.validators.validator_for(a.value)(a.value)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return AssertionResult(True, f"{a.target} matches the schema")
    return AssertionResult(False, f"{a.target} does not match the schema at {error.json_path}: {error.message}")


def _cites(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    value = lookup(response, a.target)
    if value is None:
        value = []
    if not isinstance(value, list):
        raise NotEvaluable(f"{a.target} is not a list of citations")
    ids = [str(c.get("id")) if isinstance(c, dict) else str(c) for c in value]
    if a.value is None:
        return AssertionResult(bool(ids), f"cites {', '.join(ids)}" if ids else "cites nothing")
    found = a.value in ids
    seen = ", ".join(ids) or "nothing"
    return AssertionResult(found, f"cites {a.value}" if found else f"does not cite {a.value} (cites {seen})")


def _max_latency_ms(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    ok = latency_ms <= a.value
    return AssertionResult(ok, f"latency {latency_ms:.0f} ms {'≤' if ok else '>'} {a.value:g} ms")


def _max_cost_usd(a: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    cost = lookup(response, a.target)
    if isinstance(cost, bool) or not isinstance(cost, int | float):
        raise NotEvaluable(f"{a.target} is not a number (got {_excerpt(cost)})")
    ok = cost <= a.value
    return AssertionResult(ok, f"cost ${cost:.6g} {'≤' if ok else '>'} ${a.value:.6g}")


AssertionCheck = Callable[[Assertion, Any, float], AssertionResult]

#: The function behind each assertion type (without its `not-` prefix).
CHECKS: dict[str, AssertionCheck] = {
    "contains": _contains,
    "icontains": _icontains,
    "regex": _regex,
    "is-json": _is_json,
    "json-schema": _json_schema,
    "cites": _cites,
    "max-latency-ms": _max_latency_ms,
    "max-cost-usd": _max_cost_usd,
}


def check(assertion: Assertion, response: Any, latency_ms: float) -> AssertionResult:
    """Judge `assertion` on a decoded JSON `response` that took `latency_ms` (client-measured)."""
    try:
        result = CHECKS[assertion.kind](assertion, response, latency_ms)
    except NotEvaluable as exc:
        return AssertionResult(False, str(exc))
    if assertion.negated:
        return AssertionResult(not result.passed, result.detail)
    return result
