"""The revert plan ranks changed components: likely and cheap first, no-rollback last, one line each."""

from __future__ import annotations

import pytest

from drillkit.components.types import ComponentDiff, DiffReport
from drillkit.config.system import Rollback
from drillkit.runbooks.plan import RevertPlan, plan_reverts

ROLLBACKS = {
    "model": Rollback(run=["drillkit", "demo", "ctl", "pin", "sim-pro-2025-06"], user_visible_cost="low", expected_s=5),
    "prompt": Rollback(run=["drillkit", "demo", "ctl", "prompt", "previous"], user_visible_cost="none", expected_s=5),
    "retrieval": Rollback(
        run=["drillkit", "demo", "ctl", "corpus", "previous"], user_visible_cost="high", expected_s=30
    ),
    "provider": Rollback(run=["drillkit", "demo", "ctl", "route", "fallback"], user_visible_cost="low", expected_s=5),
}


def report(**components: tuple[bool | None, float, float]) -> DiffReport:
    """components: name=(changed, confidence, score)."""
    diffs = {
        name: ComponentDiff(
            component=name,
            changed=changed,
            confidence=conf,
            score=score,
            summary=f"{name} moved",
            reason=None if changed is not None else "cannot fingerprint it now",
        )
        for name, (changed, conf, score) in components.items()
    }
    return DiffReport(system="s", baseline_at="2026-11-28T10:00:00.000Z", taken_at="now", took_s=0.1, components=diffs)


def test_cheap_reverts_come_first_at_equal_evidence() -> None:
    diff = report(model=(True, 0.9, 0.6), prompt=(True, 0.9, 0.6), retrieval=(True, 0.9, 0.6), inputs=(False, 1, 0))
    plan = plan_reverts(diff, ROLLBACKS, "fail")
    assert plan.order == ["prompt", "model", "retrieval"]
    assert plan.lines[0].startswith("1. prompt — prompt moved (confidence 90%, size 60%); revert costs users nothing")
    assert "user-visible cost high, ~30 s" in plan.lines[2]
    assert [e.position for e in plan.entries] == [1, 2, 3]


def test_strong_evidence_outweighs_a_cheap_guess() -> None:
    # A faint prompt change against a certain, large corpus change: the corpus goes first despite its cost.
    plan = plan_reverts(report(prompt=(True, 0.15, 0.05), retrieval=(True, 1.0, 1.0)), ROLLBACKS, "fail")
    assert plan.order == ["retrieval", "prompt"]
    # ...but a certain model change beats it, being cheaper, and the line says why it is ahead.
    plan = plan_reverts(report(model=(True, 0.8, 0.5), retrieval=(True, 1.0, 1.0)), ROLLBACKS, "fail")
    assert plan.order == ["model", "retrieval"]
    assert "ahead of the likelier retrieval because it is cheaper to try first" in plan.lines[0]


def test_components_without_a_designed_rollback_come_last_with_a_mitigation() -> None:
    diff = report(tools=(True, 1.0, 1.0), inputs=(True, 1.0, 1.0), retrieval=(True, 0.3, 0.1))
    plan = plan_reverts(diff, ROLLBACKS, "fail")
    assert plan.order == ["retrieval", "tools", "inputs"]
    # Ahead of the likelier tools and inputs for want of their rollback, not for being cheaper.
    assert "ahead of" not in plan.lines[0] and "cheaper" not in plan.lines[0]
    assert "no designed rollback: mitigate (disable the tool" in plan.lines[1]
    assert "inputs cannot be reverted" in plan.lines[2]
    assert plan.entries[1].rollback is None and plan.entries[0].rollback == {"run": list(ROLLBACKS["retrieval"].run)}


def test_an_input_shift_explains_an_eval_failure_least() -> None:
    rollbacks = {**ROLLBACKS, "inputs": Rollback(run=["true"], user_visible_cost="low", expected_s=5)}
    diff = report(inputs=(True, 1.0, 1.0), model=(True, 0.7, 0.5))
    failing = plan_reverts(diff, rollbacks, "fail")
    assert failing.order == ["model", "inputs"]
    assert "cannot move a fixed eval suite" in failing.lines[1]
    # With the envelope holding the input shift is the likelier cause, and neither broke quality:
    # the plan asks "re-baseline?" (in that order) instead of proposing a revert.
    holding = plan_reverts(diff, rollbacks, "pass")
    assert holding.order == [] and holding.to_rebaseline == ["inputs", "model"]
    assert all(line.startswith("re-baseline? ") for line in holding.lines)
    assert "if not: revert user-visible cost low, ~5 s" in holding.lines[0]


def test_with_the_envelope_holding_only_a_broken_contract_is_still_to_mitigate() -> None:
    diff = report(prompt=(True, 1.0, 1.0), tools=(True, 1.0, 1.0))
    diff.components["tools"].evidence = {"broken": [{"contract": "order_status/lookup"}]}
    plan = plan_reverts(diff, ROLLBACKS, "pass")
    assert plan.order == ["tools"] and plan.to_rebaseline == ["prompt"]
    assert plan.lines[0].startswith("1. tools — ") and plan.lines[1].startswith("re-baseline? prompt — ")
    # The responder who says the changes were not meant gets them all as reverts, renumbered.
    everything = plan.reverting_all()
    assert everything.order == ["tools", "prompt"] and everything.to_rebaseline == []
    assert everything.lines[1].startswith("2. prompt — ") and "revert costs users nothing" in everything.lines[1]
    # The journal keeps both lists.
    again = RevertPlan.from_journal(plan.to_journal())
    assert again.order == ["tools"] and again.to_rebaseline == ["prompt"] and again.lines == plan.lines


def test_reverting_to_an_unhealthy_baseline_says_so() -> None:
    diff = report(prompt=(True, 1.0, 1.0))
    diff.baseline_healthy = False
    plan = plan_reverts(diff, ROLLBACKS, "fail")
    assert plan.order == ["prompt"] and "reverting returns to a state that failed them" in plan.lines[0]


def test_unknown_components_are_reported_apart_and_nothing_changed_is_an_empty_plan() -> None:
    plan = plan_reverts(report(model=(None, 0, 0), prompt=(False, 1, 0)), ROLLBACKS, "pass")
    assert plan.order == [] and plan.lines == []
    assert plan.unknown == {"model": "cannot fingerprint it now"}


def test_journal_round_trip_and_responder_reorder() -> None:
    plan = plan_reverts(report(model=(True, 0.9, 0.6), prompt=(True, 0.9, 0.6)), ROLLBACKS, "fail")
    data = plan.to_journal()
    assert set(data) >= {"order", "lines", "entries", "unknown"}
    again = RevertPlan.from_journal(data)
    assert again.order == plan.order and again.lines == plan.lines
    mine = plan.reordered(["model", "prompt"])
    assert mine.order == ["model", "prompt"] and mine.accepted == "reordered"
    assert mine.lines[0].startswith("1. model — placed here by the responder;")
    with pytest.raises(ValueError, match="exactly prompt, model"):
        plan.reordered(["model", "retrieval"])
