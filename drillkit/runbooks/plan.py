"""The revert plan: which changed component to roll back first, and why, in one line per component.

Layer three of the diagnosis order: revert what most likely explains the divergence, but weigh
what each revert costs the users. For each changed component of a `DiffReport`:

    likelihood = confidence × (0.5 + 0.5 × score) × relevance        in [0, 1]
    cost       = COST_WEIGHT[user_visible_cost] + expected_s / 60
    priority   = likelihood / (1 + cost)

- `confidence` (how sure the diff is that the component changed) and `score` (how large the
  change is) come from the diff; a size of zero still leaves half the weight, because a small
  edit to a prompt can break every answer.
- `relevance`: an evaluation suite asks fixed questions, so when the envelope failed a shift in
  the *inputs* cannot be what moved it (0.3); any other change can (1.0).
- `COST_WEIGHT` none 0, low 1, medium 2, high 4: a revert users see (a corpus revert hides
  documents they already rely on) needs a much stronger case than one nobody sees. Each minute
  the rollback is expected to take counts as one more step of cost.
- A changed component with no designed rollback in the manifest (`rollbacks.<component>`) has
  nothing to run: it is ranked after every one that has, and its line says to mitigate.
- Ties keep the canonical order model, prompt, retrieval, tools, inputs.

Unknown components (the diff could not tell) are listed apart, never in the order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from drillkit.components.types import COMPONENTS, ComponentDiff, DiffReport
from drillkit.config.system import Rollback
from drillkit.journal import events

COST_WEIGHT = {"none": 0.0, "low": 1.0, "medium": 2.0, "high": 4.0}
INPUTS_RELEVANCE_WHEN_FAILING = 0.3
MIN_LIKELIHOOD = 0.05  # a changed component never drops to zero: cost must still order it

_MITIGATE = {
    "tools": "disable the tool or route around it, and get the tool's contract fixed",
    "inputs": "inputs cannot be reverted; guard (rate-limit, validate, route) and re-baseline when accepted",
}


class PlanEntry(BaseModel):
    """One component's place in the plan, with the numbers behind it and its one-line reason."""

    component: str
    position: int
    likelihood: float
    confidence: float
    score: float
    relevance: float
    user_visible_cost: str | None
    expected_s: float | None
    priority: float
    rollback: dict[str, Any] | None
    line: str


class RevertPlan(BaseModel):
    entries: list[PlanEntry]
    unknown: dict[str, str] = {}  # component -> why the diff could not tell
    accepted: Literal["auto", "responder", "reordered"] = "auto"

    @property
    def order(self) -> list[str]:
        return [e.component for e in self.entries]

    @property
    def lines(self) -> list[str]:
        return [e.line for e in self.entries]

    def to_journal(self) -> dict[str, Any]:
        """The `revert_plan` journal entry: `order` and `lines` (the contract) plus the numbers."""
        return {
            "order": self.order,
            "lines": self.lines,
            "entries": [e.model_dump() for e in self.entries],
            "unknown": self.unknown,
            "accepted": self.accepted,
        }

    def to_event(self) -> events.RevertPlan:
        """`to_journal` as the journal's typed event."""
        return events.RevertPlan(**self.to_journal())

    @classmethod
    def from_journal(cls, data: dict[str, Any]) -> RevertPlan:
        return cls(
            entries=[PlanEntry.model_validate(e) for e in data.get("entries", [])],
            unknown=data.get("unknown", {}),
            accepted=data.get("accepted", "auto"),
        )

    @classmethod
    def from_event(cls, event: events.RevertPlan) -> RevertPlan:
        """The plan a `revert_plan` entry recorded (what `replay` hands a resumed session)."""
        return cls.from_journal(event.data())

    def reordered(self, order: list[str]) -> RevertPlan:
        """The same entries in the responder's order (which must name exactly the same components)."""
        if sorted(order) != sorted(self.order):
            raise ValueError(f"expected an order of exactly {', '.join(self.order)}")
        by_name = {e.component: e for e in self.entries}
        entries = []
        for n, name in enumerate(order, 1):
            entry = by_name[name]
            line = f"{n}. {name} — placed here by the responder; " + entry.line.split(" — ", 1)[-1]
            entries.append(entry.model_copy(update={"position": n, "line": line}))
        return RevertPlan(entries=entries, unknown=self.unknown, accepted="reordered")


def plan_reverts(
    diff: DiffReport, rollbacks: dict[str, Rollback], envelope: Literal["pass", "fail"] | None = None
) -> RevertPlan:
    """Rank the components `diff` found changed (see the module doc for the rule)."""
    scored: list[dict[str, Any]] = []
    for name in diff.changed:
        cd = diff.components[name]
        rb = rollbacks.get(name)
        relevance = INPUTS_RELEVANCE_WHEN_FAILING if name == "inputs" and envelope == "fail" else 1.0
        likelihood = max(MIN_LIKELIHOOD, _unit(cd.confidence) * (0.5 + 0.5 * _unit(cd.score)) * relevance)
        cost = None if rb is None else COST_WEIGHT[rb.user_visible_cost] + rb.expected_s / 60
        priority = 0.0 if cost is None else likelihood / (1 + cost)
        scored.append(
            {"diff": cd, "rollback": rb, "relevance": relevance, "likelihood": likelihood, "priority": priority}
        )
    canonical = {c: i for i, c in enumerate(COMPONENTS)}
    scored.sort(key=lambda s: (s["rollback"] is None, -s["priority"], canonical.get(s["diff"].component, 99)))
    entries = []
    for n, s in enumerate(scored, 1):
        cd: ComponentDiff = s["diff"]
        rb: Rollback | None = s["rollback"]
        entries.append(
            PlanEntry(
                component=cd.component,
                position=n,
                likelihood=round(s["likelihood"], 3),
                confidence=round(_unit(cd.confidence), 3),
                score=round(_unit(cd.score), 3),
                relevance=s["relevance"],
                user_visible_cost=rb.user_visible_cost if rb else None,
                expected_s=rb.expected_s if rb else None,
                priority=round(s["priority"], 4),
                rollback=_describe_rollback(rb),
                line=_line(n, s, scored),
            )
        )
    unknown = {c: (diff.components[c].reason or "could not compare") for c in diff.unknown}
    return RevertPlan(entries=entries, unknown=unknown)


def _line(n: int, s: dict[str, Any], scored: list[dict[str, Any]]) -> str:
    cd: ComponentDiff = s["diff"]
    rb: Rollback | None = s["rollback"]
    what = (cd.summary or "changed").strip().rstrip(".")
    if len(what) > 90:
        what = what[:87] + "..."
    evidence = f"{what} (confidence {_unit(cd.confidence):.0%}, size {_unit(cd.score):.0%})"
    if rb is None:
        return f"{n}. {cd.component} — {evidence}; no designed rollback: mitigate ({_mitigation(cd.component)})"
    cost = "costs users nothing" if rb.user_visible_cost == "none" else f"user-visible cost {rb.user_visible_cost}"
    line = f"{n}. {cd.component} — {evidence}; revert {cost}, ~{rb.expected_s:g} s"
    if s["relevance"] < 1:
        line += "; an input shift cannot move a fixed eval suite, so it explains the failure least"
    # Only components ranked later on cost: one without a designed rollback is later for lack of one.
    overtaken = [
        o["diff"].component
        for o in scored[n:]
        if o["rollback"] is not None and o["likelihood"] > s["likelihood"] + 1e-9
    ]
    if overtaken:
        line += f"; ahead of the likelier {', '.join(overtaken)} because it is cheaper to try first"
    return line


def _mitigation(component: str) -> str:
    return _MITIGATE.get(component, "work around it and fix forward")


def _describe_rollback(rb: Rollback | None) -> dict[str, Any] | None:
    if rb is None:
        return None
    if rb.run is not None:
        return {"run": list(rb.run)}
    assert rb.http is not None
    return {"http": {"method": rb.http.method, "url": str(rb.http.url)}}


def _unit(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


__all__ = ["COST_WEIGHT", "PlanEntry", "RevertPlan", "plan_reverts"]
