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

With the evaluation envelope holding (`envelope == "pass"`) a change is not what broke quality:
it leads to "re-baseline?" (`rebaseline`: if it was meant, record the new state as the last known
good with `drillkit snapshot`; if not, its revert is still named), never to a revert. Only a change
that is harmful by its own test stays in the order: a tool that breaks its contract, which the
eval suite may not exercise. Against a baseline recorded while the evals failed (`healthy: false`)
each revert's line says that reverting returns to a state whose evals failed.

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
    #: The line without its number, as a revert (a re-baseline entry's `line` asks "re-baseline?").
    revert_line: str | None = None


class RevertPlan(BaseModel):
    entries: list[PlanEntry]
    unknown: dict[str, str] = {}  # component -> why the diff could not tell
    accepted: Literal["auto", "responder", "reordered"] = "auto"
    #: Changes the envelope tolerates: "re-baseline?", not a revert (in the same ranking).
    rebaseline: list[PlanEntry] = []

    @property
    def order(self) -> list[str]:
        return [e.component for e in self.entries]

    @property
    def lines(self) -> list[str]:
        return [e.line for e in self.entries] + [e.line for e in self.rebaseline]

    @property
    def to_rebaseline(self) -> list[str]:
        return [e.component for e in self.rebaseline]

    def to_journal(self) -> dict[str, Any]:
        """The `revert_plan` journal entry: `order` and `lines` (the contract) plus the numbers."""
        return {
            "order": self.order,
            "lines": self.lines,
            "entries": [e.model_dump() for e in self.entries],
            "unknown": self.unknown,
            "accepted": self.accepted,
            "rebaseline": [e.model_dump() for e in self.rebaseline],
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
            rebaseline=[PlanEntry.model_validate(e) for e in data.get("rebaseline", [])],
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
        return RevertPlan(entries=entries, unknown=self.unknown, accepted="reordered", rebaseline=self.rebaseline)

    def reverting_all(self) -> RevertPlan:
        """The responder's answer "not meant": every change to re-baseline becomes a revert, in rank order."""
        entries = [
            e.model_copy(update={"position": n, "line": f"{n}. {e.revert_line or e.component}"})
            for n, e in enumerate([*self.entries, *self.rebaseline], 1)
        ]
        return RevertPlan(entries=entries, unknown=self.unknown, accepted="responder")


def plan_reverts(
    diff: DiffReport, rollbacks: dict[str, Rollback], envelope: Literal["pass", "fail"] | None = None
) -> RevertPlan:
    """Rank the components `diff` found changed (see the module doc for the rule)."""
    changed = [diff.components[name] for name in diff.changed]
    tolerated = [cd for cd in changed if envelope == "pass" and not _harmful_alone(cd)]
    revert = [cd for cd in changed if cd not in tolerated]
    unhealthy = diff.baseline_healthy is False
    entries = _entries(_rank(revert, rollbacks, envelope), unhealthy)
    rebaseline = _entries(_rank(tolerated, rollbacks, envelope), unhealthy, rebaseline=True)
    unknown = {c: (diff.components[c].reason or "could not compare") for c in diff.unknown}
    return RevertPlan(entries=entries, unknown=unknown, rebaseline=rebaseline)


def _harmful_alone(cd: ComponentDiff) -> bool:
    """A change its own test calls broken, whatever the eval suite says: a tool failing its contract."""
    return cd.component == "tools" and bool(cd.evidence.get("broken"))


def _rank(changed: list[ComponentDiff], rollbacks: dict[str, Rollback], envelope: str | None) -> list[dict[str, Any]]:
    """Each change scored (likelihood, priority) and sorted: designed rollbacks first, then priority."""
    scored: list[dict[str, Any]] = []
    for cd in changed:
        rb = rollbacks.get(cd.component)
        relevance = INPUTS_RELEVANCE_WHEN_FAILING if cd.component == "inputs" and envelope == "fail" else 1.0
        likelihood = max(MIN_LIKELIHOOD, _unit(cd.confidence) * (0.5 + 0.5 * _unit(cd.score)) * relevance)
        cost = None if rb is None else COST_WEIGHT[rb.user_visible_cost] + rb.expected_s / 60
        priority = 0.0 if cost is None else likelihood / (1 + cost)
        scored.append(
            {"diff": cd, "rollback": rb, "relevance": relevance, "likelihood": likelihood, "priority": priority}
        )
    canonical = {c: i for i, c in enumerate(COMPONENTS)}
    scored.sort(key=lambda s: (s["rollback"] is None, -s["priority"], canonical.get(s["diff"].component, 99)))
    return scored


def _entries(scored: list[dict[str, Any]], unhealthy: bool, *, rebaseline: bool = False) -> list[PlanEntry]:
    """The plan's entries; `rebaseline`: lines that ask "re-baseline?" and name the revert only as the
    alternative."""
    entries = []
    for n, s in enumerate(scored, 1):
        cd: ComponentDiff = s["diff"]
        rb: Rollback | None = s["rollback"]
        head, advice = _line(n, s, scored)
        if unhealthy and rb is not None:
            advice += (
                "; the baseline was recorded while the evals failed: reverting returns to a state that failed them"
            )
        line = f"{n}. {head}; {advice}"
        if rebaseline:
            line = (
                f"re-baseline? {head}; the evals hold: if this was meant, record it as the last known good "
                f"(drillkit snapshot); if not: {advice}"
            )
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
                line=line,
                revert_line=f"{head}; {advice}",
            )
        )
    return entries


def _line(n: int, s: dict[str, Any], scored: list[dict[str, Any]]) -> tuple[str, str]:
    """(`prompt — <evidence>`, `revert costs users nothing, ~5 s`): what changed, and what to do."""
    cd: ComponentDiff = s["diff"]
    rb: Rollback | None = s["rollback"]
    what = (cd.summary or "changed").strip().rstrip(".")
    if len(what) > 90:
        what = what[:87] + "..."
    basis = f" from {cd.basis}" if cd.basis != "baseline" else ""
    head = f"{cd.component} — {what} (confidence {_unit(cd.confidence):.0%}{basis}, size {_unit(cd.score):.0%})"
    if rb is None:
        return head, f"no designed rollback: mitigate ({_mitigation(cd.component)})"
    cost = "costs users nothing" if rb.user_visible_cost == "none" else f"user-visible cost {rb.user_visible_cost}"
    line = f"revert {cost}, ~{rb.expected_s:g} s"
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
    return head, line


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
