"""Suite files: a good one loads; each malformed one is an InputError naming file:line: field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drillkit.errors import InputError
from drillkit.evals import EvalSuite, load_suite

GOOD = """\
apiVersion: drillkit/v1
kind: EvalSuite
name: support-assistant
defaults:
  assert:
    - {type: max-latency-ms, value: 3000}
cases:
  - id: returns-window
    question: How many days do I have to return an item?
    tags: [policy]
    assert:
      - {type: icontains, value: "30 days"}
      - {type: cites, value: returns-policy}
      - {type: not-icontains, value: "no information"}
  - id: order-status
    input: {question: "Where is order A1001?", locale: en}
    weight: 2
    assert:
      - {type: regex, value: "(?i)shipped|pending"}
      - {type: json-schema, path: ., value: {type: object, required: [answer]}}
      - {type: max-cost-usd, value: 0.01}
  - id: defaults-only
    question: Hello?
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_suite(path)
    return str(info.value)


def replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def test_good_suite_loads(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    assert isinstance(suite, EvalSuite)
    first, second, third = suite.cases
    assert first.payload == {"question": "How many days do I have to return an item?"}
    assert second.payload == {"question": "Where is order A1001?", "locale": "en"}
    assert (second.weight, first.weight) == (2, 1)
    assert [a.type for a in suite.assertions_for(first)] == ["max-latency-ms", "icontains", "cites", "not-icontains"]
    assert [a.type for a in suite.assertions_for(third)] == ["max-latency-ms"]
    assert [c.id for c in suite.select(["policy"])] == ["returns-window"]
    assert len(suite.select(None)) == 3
    negated = suite.cases[0].assert_[2]
    assert (negated.kind, negated.negated, negated.target) == ("icontains", True, "answer")


def test_unknown_assertion_type(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("{type: cites, value: returns-policy}", "{type: cite, value: x}"))
    assert f"{tmp_path / 'suite.yaml'}:13:" in message
    assert "cases[0].assert[1].type" in message
    assert "contains, icontains, regex, is-json, json-schema, cites, max-latency-ms, max-cost-usd" in message
    assert "did you mean 'cites'?" in message and "(got 'cite')" in message


def test_unknown_negated_type(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("not-icontains", "not-icontain"))
    assert ":14:" in message and "did you mean 'not-icontains'?" in message


def test_bad_regex(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace('"(?i)shipped|pending"', '"(shipped"'))
    assert ":19:" in message
    assert "cases[1].assert[0].value: invalid regular expression: missing ), unterminated subpattern" in message


def test_invalid_json_schema(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("{type: object, required: [answer]}", "{type: objekt}"))
    assert ":20:" in message and "cases[1].assert[1].value: invalid JSON schema" in message


def test_value_must_fit_the_type(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("{type: max-cost-usd, value: 0.01}", "{type: max-cost-usd, value: cheap}"))
    assert ":21:" in message and "max-cost-usd needs a number ≥ 0" in message
    message = error_for(tmp_path, replace('{type: icontains, value: "30 days"}', "{type: icontains}"))
    assert ":12:" in message and "icontains needs a text value" in message
    message = error_for(
        tmp_path, replace("{type: max-latency-ms, value: 3000}", "{type: max-latency-ms, value: 3, path: x}")
    )
    assert ":6:" in message and "takes no 'path'" in message


def test_duplicate_case_id(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("id: order-status", "id: returns-window"))
    assert f"{tmp_path / 'suite.yaml'}:15:" in message
    assert "cases[1].id: duplicate case id 'returns-window': cases[0] already uses it" in message


def test_missing_question(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("    question: How many days do I have to return an item?\n", ""))
    assert ":8:" in message
    assert "cases[0]: give exactly one of 'question' (text) or 'input' (a JSON object)" in message


def test_both_question_and_input(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, replace("    question: Hello?\n", "    question: Hello?\n    input: {question: Hi}\n")
    )
    assert ":22:" in message and "exactly one of 'question'" in message


def test_case_without_assertions_and_no_defaults(tmp_path: Path) -> None:
    text = replace("defaults:\n  assert:\n    - {type: max-latency-ms, value: 3000}\n", "")
    message = error_for(tmp_path, text)
    assert ":19:" in message and "cases[2]: no assertions" in message


def test_bad_weight_and_unknown_field(tmp_path: Path) -> None:
    message = error_for(tmp_path, replace("weight: 2", "weight: 0"))
    assert ":17:" in message and "cases[1].weight" in message and "greater than 0" in message
    message = error_for(tmp_path, replace("tags: [policy]", "tag: [policy]"))
    assert ":10:" in message and "cases[0].tag: unknown field" in message


def test_duplicate_check_waits_for_valid_cases(tmp_path: Path) -> None:
    text = replace("id: order-status", "id: returns-window").replace("not-icontains", "nope")
    message = error_for(tmp_path, text)
    assert len(message.splitlines()) == 1  # the duplicate check runs once the cases themselves are valid
    assert "assert[2].type" in message
