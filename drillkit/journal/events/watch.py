"""The change log's events (`<home>/changes.jsonl`, written by `drillkit watch`, DESIGN §9.6).

One journal per home, continued by every watch session: a session opens with `watch.started` and
closes with `watch.stopped`; in between, every change of one of the five inputs is an
`input.changed` (what changed, who and when where git knows, and the eval sample's verdict taken
with it), every flip of the evaluation envelope an `envelope.changed`, and every step forward of
the last known good (`baseline.json`, only while the envelope holds) a `baseline.moved` carrying
each component's digest, so the log alone tells a later reader what "good" looked like.
"""

from __future__ import annotations

from typing import Any

from drillkit.journal.events.base import Event, Number, kind


def eval_text(result: dict[str, Any] | None) -> str:
    """`evals 65% (13/20) < 90%`, or why they could not run; "" when nothing was judged."""
    if not result:
        return ""
    if result.get("error"):
        return f"evals could not run ({result['error']})"
    rate, threshold = result.get("pass_rate"), result.get("threshold")
    if rate is None or threshold is None:
        return ""
    sign = "≥" if rate >= threshold else "<"
    return f"evals {rate:.0%} ({result.get('passed')}/{result.get('total')}) {sign} {threshold:.0%}"


@kind("watch.started")
class WatchStarted(Event):
    session: str | None = None
    system: str | None = None
    every_s: Number | None = None
    sample: int | None = None
    components: list[str] = []
    operator: str | None = None
    pid: int | None = None
    drillkit: str | None = None
    resumed_after_seq: int | None = None
    pending: list[str] = []
    metrics: str | None = None

    def describe(self) -> str:
        resumed = f"; resumed after entry {self.resumed_after_seq}" if self.resumed_after_seq else ""
        pending = f", pending since the last known good: {', '.join(self.pending)}" if self.pending else ""
        return f"Watching {self.system} every {self.every_s:g} s: {', '.join(self.components)}{resumed}{pending}"


@kind("input.changed")
class InputChanged(Event):
    """One component differs from what the previous look saw (`against: previous`), or, on a
    session's first look, from the last known good (`against: baseline`)."""

    component: str | None = None
    summary: str | None = None
    against: str | None = None
    back_to_good: bool | None = None
    who: str | None = None
    commit: str | None = None
    committed_at: str | None = None
    uncommitted: bool | None = None
    digest: str | None = None
    score: Number | None = None
    evidence: dict[str, Any] = {}
    eval: dict[str, Any] | None = None

    def describe(self) -> str:
        who = f" by {self.who}" if self.who else ""
        after = eval_text(self.eval)
        return f"{self.component} changed{who}: {self.summary}" + (f"; {after}" if after else "")


@kind("envelope.changed")
class EnvelopeChanged(Event):
    holds: bool | None = None
    pass_rate: Number | None = None
    passed: int | None = None
    total: int | None = None
    threshold: Number | None = None
    suite: str | None = None
    error: str | None = None
    pending: list[str] = []

    def describe(self) -> str:
        state = "inside the envelope again" if self.holds else "OUTSIDE the envelope"
        after = eval_text(self.data())
        pending = f" (changed since the last known good: {', '.join(self.pending)})" if self.pending else ""
        return f"Evals {state}: {after}{pending}"


@kind("baseline.moved")
class BaselineMoved(Event):
    taken_at: str | None = None
    accepted: list[str] = []
    evals: dict[str, Any] | None = None
    digests: dict[str, str | None] = {}

    def describe(self) -> str:
        what = f"accepts {', '.join(self.accepted)}" if self.accepted else "first last known good"
        after = eval_text(self.evals)
        return f"Last known good moved forward ({what})" + (f"; {after}" if after else "")


@kind("watch.stopped")
class WatchStopped(Event):
    session: str | None = None
    reason: str | None = None
    looks: int | None = None
    changes: int | None = None
    envelope_holds: bool | None = None

    def describe(self) -> str:
        return f"Watch stopped ({self.reason}): {self.looks} look(s), {self.changes} change(s)"
