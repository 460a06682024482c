"""The executable runbook (`runbooks/*.yaml`, contract: `id`, `title`, `steps[].id/title/check/action/next`).

A step runs its `check` (whose outcome is `pass`, `fail`, `error`, or an `ask` choice) and/or its
`action`, then follows `next[outcome]`, else `next.default`, else the next step in the file.
`end` as a target finishes the runbook.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, HttpUrl, field_validator

from drillkit.config.loader import CrossChecked, Loc
from drillkit.config.scenario import check_id
from drillkit.config.system import COMPONENTS
from drillkit.config.types import Argv, Duration, Strict

END = "end"
OUTCOMES = ("pass", "fail", "error", "default")


class EvalCheck(Strict):
    type: Literal["eval"]
    suite: str | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    tags: list[str] = []


class DiffCheck(Strict):
    type: Literal["diff"]
    components: list[Literal["model", "prompt", "retrieval", "tools", "inputs"]] = list(COMPONENTS)


class SloCheck(Strict):
    type: Literal["slo"]
    duration: Duration = 10.0
    rate: float = Field(default=5, gt=0)


class HttpCheck(Strict):
    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: HttpUrl
    expect_status: int | list[int] = 200
    timeout: Duration = 10.0


class CommandCheck(Strict):
    type: Literal["command"]
    run: Argv
    expect_exit: int = 0
    timeout: Duration = 60.0


class PromqlCheck(Strict):
    type: Literal["promql"]
    url: HttpUrl
    query: str = Field(min_length=1)
    op: Literal["<", "<=", ">", ">=", "==", "!="] = "<"
    value: float
    timeout: Duration = 10.0


class AskCheck(Strict):
    type: Literal["ask"]
    question: str | None = None
    choices: list[str] = Field(min_length=2)


Check = Annotated[
    EvalCheck | DiffCheck | SloCheck | HttpCheck | CommandCheck | PromqlCheck | AskCheck,
    Field(discriminator="type"),
]


class RevertPlanAction(Strict):
    type: Literal["revert_plan"]
    confirm: bool = True


class RollbackAction(Strict):
    type: Literal["rollback"]
    component: str | None = None  # None: the first entry of the revert plan
    confirm: bool = True


class EvidenceHoldAction(Strict):
    type: Literal["evidence_hold"]
    traffic_minutes: float = Field(default=15, ge=0)


class NoteAction(Strict):
    type: Literal["note"]
    text: str | None = None


Action = Annotated[
    RevertPlanAction | RollbackAction | EvidenceHoldAction | NoteAction,
    Field(discriminator="type"),
]


class RunbookStep(Strict):
    id: str
    title: str = Field(min_length=1)
    guidance: str | None = None
    check: Check | None = None
    action: Action | None = None
    next: dict[str, str] = {}

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v)


class Runbook(CrossChecked, Strict):
    apiVersion: Literal["drillkit/v1"]
    kind: Literal["Runbook"]
    id: str
    title: str = Field(min_length=1)
    description: str | None = None
    applies_to: list[Literal["model", "prompt", "retrieval", "tools", "inputs", "provider"]] = []
    steps: list[RunbookStep] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v)

    def step(self, step_id: str) -> RunbookStep:
        return next(s for s in self.steps if s.id == step_id)

    def cross_check(self) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []
        seen: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id in seen:
                problems.append((("steps", i, "id"), f"duplicate step id {step.id!r} (see steps[{seen[step.id]}])"))
            seen.setdefault(step.id, i)
        targets = {*seen, END}
        for i, step in enumerate(self.steps):
            allowed = set(OUTCOMES)
            if step.check is not None and step.check.type == "ask":
                allowed |= set(step.check.choices)
            for outcome, target in step.next.items():
                if outcome not in allowed:
                    problems.append(
                        (
                            ("steps", i, "next", outcome),
                            f"unknown outcome {outcome!r}; expected one of {', '.join(sorted(allowed))}",
                        )
                    )
                if target not in targets:
                    problems.append((("steps", i, "next", outcome), f"no step with id {target!r} (nor 'end')"))
            if step.next and step.check is None and set(step.next) - {"default"}:
                problems.append(
                    (("steps", i, "next"), "branches on an outcome but the step has no check; use 'default'")
                )
        return problems
