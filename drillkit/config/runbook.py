"""The executable runbook (`runbooks/*.yaml`, contract: `id`, `title`, `steps[].id/title/check/action/next`).

A step runs its `check` and then its `action` (either may be absent). The step's outcome is the
check's (`pass`, `fail`, `error`, `unknown` for a `promql` query that returned no samples under
`empty: unknown`, or one of an `ask` check's choices), else the action's (`pass` done, `fail` it
ran and failed, `error` it could not run), and `skipped` when the responder skipped the step or
`--auto` could not run it (an `ask`, a rollback). The runbook then follows `next[outcome]`, else
`next.default`, else the next step in the file; `end` as a target finishes the runbook. What each
check and action does is in `drillkit.runbooks`.

Everything that can be checked without a running system is checked here, so a bad runbook is an
exit-2 error naming file:line before an incident starts: unknown check/action types, dangling
`next` targets, outcomes a step cannot produce, ask choices that clash with the responder's
commands.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, HttpUrl, field_validator

from drillkit.config.loader import CrossChecked, Loc
from drillkit.config.scenario import SloName, check_id
from drillkit.config.system import COMPONENTS
from drillkit.config.types import MAX_CONCURRENCY, MAX_RATE, Argv, Duration, HttpStatus, Strict

END = "end"
#: Outcomes a step may branch on besides its `ask` choices (`default` catches whatever is not
#: listed). `unknown` is the probe that could not tell: a `promql` query with no samples.
OUTCOMES = ("pass", "fail", "error", "unknown", "skipped", "default")
#: What a `promql` check comes to when its query returns no samples.
EmptyOutcome = Literal["pass", "fail", "unknown"]
#: Words the interactive responder types to steer the session; an `ask` choice cannot be one.
RESPONDER_COMMANDS = ("run", "skip", "back", "note", "quit")

ComponentName = Literal["model", "prompt", "retrieval", "tools", "inputs"]


class EvalCheck(Strict):
    """The eval suite against the live service: pass inside the envelope, fail outside, error unreachable."""

    type: Literal["eval"] = Field(description="`eval`: run the eval suite.")
    suite: str | None = Field(
        default=None,
        description="The eval suite file; default: the manifest's `evals`. Relative to the manifest's folder.",
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Weighted pass rate that counts as inside the envelope; default: `slos.eval_pass_rate`, else 0.9.",
    )
    tags: list[str] = Field(default=[], description="Run only the cases carrying any of these tags; empty: all cases.")
    concurrency: int = Field(
        default=8, ge=1, le=MAX_CONCURRENCY, description="How many cases are sent to the service at once."
    )


class DiffCheck(Strict):
    """The five-input diff against the last known good: pass nothing changed, fail something did."""

    type: Literal["diff"] = Field(description="`diff`: compare the five inputs with the last known good.")
    components: list[ComponentName] = Field(
        default=list(COMPONENTS),
        min_length=1,
        description="The components to fingerprint and compare; those the manifest does not configure are skipped.",
    )


class SloCheck(Strict):
    """Probe traffic (the manifest's inputs sample) for `duration` at `rate` req/s, judged against
    the manifest's SLOs — all of them, or only those named in `slos` (e.g. `[cost_per_request_usd]`
    for a cost question)."""

    type: Literal["slo"] = Field(description="`slo`: send probe traffic and judge it against the SLOs.")
    duration: Duration = Field(
        default=10.0, description="How long to send probe traffic (> 0); it is judged as one window."
    )
    rate: float = Field(default=5, gt=0, le=MAX_RATE, description="Probe requests per second.")
    slos: list[SloName] = Field(default=[], description="Judge only these SLOs; empty: every SLO the manifest sets.")

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("expected a duration > 0, such as 10s")
        return v


class HttpCheck(Strict):
    """One HTTP request (no body): pass on an expected status, fail on another, error when nothing answers."""

    type: Literal["http"] = Field(description="`http`: send one HTTP request.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        default="GET", description="The HTTP method."
    )
    url: HttpUrl = Field(description="The URL to request.")
    expect_status: HttpStatus | list[HttpStatus] = Field(
        default=200, description="The status code(s) that pass; any other status fails."
    )
    timeout: Duration = Field(default=10.0, description="How long to wait for an answer; no answer is an `error`.")


class CommandCheck(Strict):
    """A command: pass on the expected exit code, fail on another, error when it cannot run or times out."""

    type: Literal["command"] = Field(description="`command`: run a command.")
    run: Argv = Field(description="The command, as an argv list (never a shell string).")
    expect_exit: int = Field(default=0, ge=0, le=255, description="The exit code that passes.")
    timeout: Duration = Field(
        default=60.0, description="How long the command may run before it is killed (an `error`)."
    )


class PromqlCheck(Strict):
    """An instant query against a Prometheus HTTP API; pass when every sample satisfies `op value`."""

    type: Literal["promql"] = Field(description="`promql`: query Prometheus.")
    url: HttpUrl = Field(
        description="The Prometheus (or Thanos, Mimir) base URL; `/api/v1/query` is appended unless it is there."
    )
    query: str = Field(min_length=1, description="The PromQL instant query.")
    op: Literal["<", "<=", ">", ">=", "==", "!="] = Field(
        default="<", description="How each sample is compared with `value`."
    )
    value: float = Field(description="The number each sample is compared with.")
    empty: EmptyOutcome = Field(
        default="unknown",
        description="The outcome when the query returns no samples (an empty vector): `pass` (absence is "
        "good news, e.g. no firing alert), `fail`, or `unknown` (the metric may not be scraped: branch on it).",
    )
    timeout: Duration = Field(default=10.0, description="How long to wait for Prometheus; no answer is an `error`.")


class AskCheck(Strict):
    """A question to the responder; the chosen answer is the step's outcome (skipped under `--auto`)."""

    type: Literal["ask"] = Field(description="`ask`: ask the responder.")
    question: str | None = Field(default=None, description="The question; default: the step's title.")
    choices: list[str] = Field(
        min_length=2,
        description="The answers offered (at least two, unique); each is an outcome `next` can branch on.",
    )

    @field_validator("choices")
    @classmethod
    def _choices(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("choices must be unique")
        for choice in v:
            if not choice.strip():
                raise ValueError("choices must be non-empty words")
            if choice in RESPONDER_COMMANDS or choice in OUTCOMES:
                raise ValueError(
                    f"choice {choice!r} clashes with a responder command or an outcome "
                    f"({', '.join((*RESPONDER_COMMANDS, *OUTCOMES))})"
                )
        return v


Check = Annotated[
    EvalCheck | DiffCheck | SloCheck | HttpCheck | CommandCheck | PromqlCheck | AskCheck,
    Field(discriminator="type"),
]


class RevertPlanAction(Strict):
    """Rank the changed components; with `confirm` the responder accepts or reorders the plan."""

    type: Literal["revert_plan"] = Field(description="`revert_plan`: rank what to roll back first.")
    confirm: bool = Field(
        default=True,
        description="Ask the responder to accept the order or type another (interactive sessions only).",
    )


class RollbackAction(Strict):
    """Run `rollbacks.<component>` from the manifest, timed. Never run by `--auto`."""

    type: Literal["rollback"] = Field(description="`rollback`: run a designed rollback.")
    component: str | None = Field(
        default=None,
        description="The `rollbacks` key to run; default: the next component of the revert plan not yet rolled back.",
    )
    confirm: bool = Field(default=True, description="Ask the responder before running it.")

    @field_validator("component")
    @classmethod
    def _component(cls, v: str | None) -> str | None:
        return None if v is None else check_id(v)


class EvidenceHoldAction(Strict):
    """Snapshot every component, the service's /metrics and the inputs sample into the incident record
    before anything changes. drillkit keeps no request log: `traffic_minutes` is recorded as the window
    of the service's own logs the responder is to preserve; nothing of that window is copied."""

    type: Literal["evidence_hold"] = Field(description="`evidence_hold`: freeze the evidence before any change.")
    traffic_minutes: float = Field(
        default=15,
        ge=0,
        le=7 * 24 * 60,
        description="Minutes of the service's own logs the responder is to preserve; recorded in the hold, nothing is "
        "copied.",
    )


class NoteAction(Strict):
    """Ask the responder for a note (`text` is the prompt); skipped under `--auto`."""

    type: Literal["note"] = Field(description="`note`: ask the responder for a note.")
    text: str | None = Field(default=None, description="The prompt shown when asking for the note; default: `note`.")


Action = Annotated[
    RevertPlanAction | RollbackAction | EvidenceHoldAction | NoteAction,
    Field(discriminator="type"),
]


class RunbookStep(Strict):
    """One step: an optional check, then an optional action, then a branch on the outcome."""

    id: str = Field(description="A lower-case id, unique in the runbook; what `next` targets (`end` is reserved).")
    title: str = Field(min_length=1, description="The question or task of the step, shown to the responder.")
    guidance: str | None = Field(default=None, description="Markdown shown to the responder with the step.")
    check: Check | None = Field(
        default=None,
        description="What the step checks; its outcome (`pass`, `fail`, `error`, a `promql` check's `unknown`, or an "
        "`ask` choice) is the step's.",
    )
    action: Action | None = Field(default=None, description="What the step does, after its check if it has one.")
    next: dict[str, str] = Field(
        default={},
        description="Outcome → step id or `end`; an outcome not listed follows `default`, else the next step in the "
        "file.",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if v == END:
            raise ValueError(f"{END!r} is reserved: it is the target that finishes the runbook")
        return check_id(v)

    @property
    def type(self) -> str:
        """What the step does: its check's type, else its action's, else `guidance`."""
        if self.check is not None:
            return self.check.type
        if self.action is not None:
            return self.action.type
        return "guidance"

    def outcomes(self) -> set[str]:
        """The outcomes this step can produce (what `next` may branch on)."""
        found = {"skipped", "default"}
        if self.check is not None:
            found |= {"pass", "fail", "error"}
            if self.check.type == "ask":
                found |= set(self.check.choices)
            if self.check.type == "promql" and self.check.empty == "unknown":
                found.add("unknown")
        if self.action is not None:
            found |= {"pass", "fail", "error"}
        return found


class Runbook(CrossChecked, Strict):
    """An executable runbook: steps run from the first, each branching on its outcome."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["Runbook"] = Field(description="Always `Runbook`.")
    id: str = Field(
        description="A lower-case id; `drillkit triage --runbook ID` finds a shipped runbook by it, and incidents "
        "record it."
    )
    title: str = Field(
        min_length=1,
        description="What the runbook is for; the incident's title unless `triage --title` gives one; listed by "
        "`runbook list`.",
    )
    description: str | None = Field(default=None, description="Markdown shown by `drillkit runbook show`.")
    applies_to: list[Literal["model", "prompt", "retrieval", "tools", "inputs", "provider"]] = Field(
        default=[], description="The layers this runbook is for; listed by `drillkit runbook list`."
    )
    steps: list[RunbookStep] = Field(min_length=1, description="The steps, in file order (at least one).")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v)

    def step(self, step_id: str) -> RunbookStep:
        """The step with this id; KeyError if there is none."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

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
                elif outcome not in step.outcomes():
                    problems.append((("steps", i, "next", outcome), _cannot_end(step, outcome)))
                if target not in targets:
                    problems.append((("steps", i, "next", outcome), f"no step with id {target!r} (nor 'end')"))
        return problems


def _cannot_end(step: RunbookStep, outcome: str) -> str:
    """Why `next` may not branch on an outcome this step never comes to."""
    if step.check is None and step.action is None:
        return f"this step cannot end {outcome!r}: it has no check or action; use 'default'"
    return f"this step cannot end {outcome!r}: only a promql check with `empty: unknown` (its default) does"
