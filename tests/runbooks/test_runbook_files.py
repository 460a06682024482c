"""Runbook files: the shipped ones are valid and encode the layered order; bad ones fail with file:line: field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.config.runbook import END
from drillkit.runbooks import find_runbook, shipped_runbooks

HERE = Path(__file__).parent / "malformed"

# file -> (line, field as printed, what was expected)
CASES = {
    "ask-choice-clash.yaml": (8, "steps[0].check.choices", "choice 'skip' clashes with a responder command"),
    "guidance-branch.yaml": (9, "steps[0].next.pass", "this step cannot end 'pass': it has no check or action"),
    "step-named-end.yaml": (6, "steps[0].id", "'end' is reserved"),
    "slo-zero-duration.yaml": (8, "steps[0].check.duration", "expected a duration > 0"),
    "rollback-bad-component.yaml": (8, "steps[0].action.component", "expected a lower-case id"),
    "diff-unknown-component.yaml": (10, "steps[0].check.components[1]", "expected one of 'model', 'prompt'"),
}


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_runbook_names_file_line_field(name: str) -> None:
    assert {p.name for p in HERE.glob("*.yaml")} == set(CASES)
    line, field, expected = CASES[name]
    code, _, err = invoke("runbook", "validate", str(HERE / name))
    assert code == 2
    assert f"{HERE / name}:{line}:" in err, err
    assert f": {field}: " in err, err
    assert expected in err, err
    assert "Traceback" not in err


def test_shipped_runbooks_validate_and_list() -> None:
    books = shipped_runbooks()
    assert set(books) == {"ai-output-incident", "provider-outage", "quota-exhaustion", "cost-regression"}
    code, out, err = invoke("runbook", "validate", *(str(p) for p, _ in books.values()))
    assert code == 0, err
    code, out, _ = invoke("runbook", "list", "--json")
    listed = {b["id"]: b for b in json.loads(out)}
    assert listed["provider-outage"]["applies_to"] == ["provider"]
    assert listed["ai-output-incident"]["steps"] == len(books["ai-output-incident"][1].steps)


def follow(book: str, outcomes: dict[str, str]) -> list[str]:
    """The step ids a runbook walks when each step ends with outcomes[step] (else 'pass')."""
    _, rb = find_runbook(book)
    path, current = [], rb.steps[0].id
    while current != END and len(path) < 20:
        step = rb.step(current)
        path.append(current)
        outcome = outcomes.get(current, "pass")
        i = rb.index(current)
        following = rb.steps[i + 1].id if i + 1 < len(rb.steps) else END
        current = step.next.get(outcome, step.next.get("default", following))
    return path


def test_ai_output_incident_walks_the_layered_order() -> None:
    # Outside the envelope: hold the evidence, diff, plan, roll back (confirmed), verify.
    assert follow("ai-output-incident", {"envelope": "fail", "what-changed": "fail"}) == [
        "envelope",
        "hold",
        "what-changed",
        "revert-order",
        "rollback",
        "confirm",
    ]
    # Inside the envelope the diff still runs (an input shift or a tool change hides from the suite).
    assert follow("ai-output-incident", {"what-changed": "fail"})[:3] == ["envelope", "what-changed", "revert-order"]
    # Nothing changed: capacity instead. --auto skips the rollback: mitigate, then the end.
    assert follow("ai-output-incident", {}) == ["envelope", "what-changed", "capacity"]
    assert follow("ai-output-incident", {"envelope": "fail", "what-changed": "fail", "rollback": "skipped"}) == [
        "envelope",
        "hold",
        "what-changed",
        "revert-order",
        "rollback",
        "mitigate",
    ]


def test_runbook_show_lists_steps_checks_and_branches() -> None:
    code, out, _ = invoke("runbook", "show", "provider-outage")
    assert code == 0
    assert "rollback provider" in out and "slo 5s at 10/s" in out and "fail → degrade" in out
    code, out, _ = invoke("runbook", "show", "ai-output-incident", "--json")
    assert [s["id"] for s in json.loads(out)["steps"]][:3] == ["envelope", "hold", "what-changed"]
    code, _, err = invoke("runbook", "show", "no-such-runbook")
    assert code == 2 and "shipped: ai-output-incident" in err
