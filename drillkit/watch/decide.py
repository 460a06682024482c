"""What one look means: which inputs changed, whether the envelope flipped, whether the last known
good moves forward. Pure: `decide` reads the state and the look and returns a `Decision`;
`advance` applies it to the state once the session has written it down.

- **A change** is a component that differs from what the previous look saw, by the component's own
  rules (`drillkit.components.<name>.compare`: canary similarity, file hashes, active versions,
  contract results, PSI). On a session's first look there is no previous one: the last known good
  stands in, and a difference the change log already holds (`WatchState.pending`) is not logged
  again, while a pending component found back as it was is logged as changed back.
- **The envelope** is the eval sample's verdict (`slos.eval_pass_rate`); an `envelope.changed`
  is written when it breaks and when it holds again, not on every look.
- **The last known good moves forward** only on a look whose evals hold and whose five
  fingerprints are complete, and only when there is something to accept (a change since the last
  move) or no healthy baseline yet. While the envelope is broken it stays where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drillkit.components.health import Health
from drillkit.components.preflight import EXACT
from drillkit.components.snapshot import diff_snapshots
from drillkit.components.types import COMPONENTS, ComponentDiff, DiffReport, Snapshot
from drillkit.journal.canonical import hash_canonical
from drillkit.journal.events import BaselineMoved, EnvelopeChanged, InputChanged
from drillkit.watch.state import Look, WatchState

#: (component, its diff, compared against "previous" or "baseline", back to the last known good?)
Found = tuple[str, ComponentDiff, str, bool | None]


@dataclass
class Decision:
    changes: list[InputChanged] = field(default_factory=list)
    envelope: EnvelopeChanged | None = None
    move: BaselineMoved | None = None
    new_baseline: Snapshot | None = None
    differs: dict[str, bool | None] = field(default_factory=dict)
    similarity: dict[str, float] = field(default_factory=dict)


def eval_record(health: Health) -> dict[str, Any] | None:
    """What a change entry keeps of the eval sample taken with it (None: no eval suite)."""
    if health.healthy is None:
        return None
    return health.model_dump(exclude_none=True)


def decide(state: WatchState, look: Look) -> Decision:
    snap = look.snapshot
    good = diff_snapshots(state.baseline, snap, state.system) if state.baseline is not None else None
    found = _since_previous(state, snap, good) if state.seen else _since_good(state, snap, good)
    after = eval_record(look.health)
    changes = [_entry(c, diff, against, back, snap, after) for c, diff, against, back in found]
    pending = dict(state.pending)
    for ch in changes:
        if ch.back_to_good:
            pending.pop(str(ch.component), None)
        else:
            pending[str(ch.component)] = ch.digest
    unaccepted = state.unaccepted | {str(ch.component) for ch in changes}
    decision = Decision(changes=changes, envelope=_envelope(state, look.health, pending))
    decision.differs = {c: d.changed for c, d in good.components.items()} if good else {}
    decision.similarity = _similarity(good)
    _move(decision, state, look, unaccepted)
    return decision


def _since_previous(state: WatchState, snap: Snapshot, good: DiffReport | None) -> list[Found]:
    previous = Snapshot(taken_at="", system=snap.system, drillkit_version="", components=dict(state.seen))
    step = diff_snapshots(previous, snap, state.system)
    out: list[Found] = []
    for name in step.changed:
        diff = step.components[name]
        back = good.components[name].changed is False if good and name in good.components else None
        if back:
            diff.summary = f"back to the last known good (since the previous look: {diff.summary})"
        out.append((name, diff, "previous", back))
    return out


def _since_good(state: WatchState, snap: Snapshot, good: DiffReport | None) -> list[Found]:
    """The first look of a session: against the last known good, minus what the log already has."""
    if good is None:
        return []
    out: list[Found] = []
    for name, diff in good.components.items():
        digest = hash_canonical(snap.components[name].data) if name in snap.components else None
        logged = name in state.pending and (name not in EXACT or state.pending[name] in (None, digest))
        if diff.changed and not logged:
            diff.summary += " (changed while the watch was not looking)"
            out.append((name, diff, "baseline", False))
        elif diff.changed is False and name in state.pending:
            diff.summary = f"back to the last known good while the watch was not looking ({diff.summary})"
            out.append((name, diff, "baseline", True))
    return out


def _entry(
    name: str, diff: ComponentDiff, against: str, back: bool | None, snap: Snapshot, after: dict[str, Any] | None
) -> InputChanged:
    return InputChanged(
        component=name,
        summary=diff.summary,
        against=against,
        back_to_good=back,
        digest=hash_canonical(snap.components[name].data),
        score=diff.score,
        evidence=diff.evidence,
        eval=after,
    )


def _envelope(state: WatchState, health: Health, pending: dict[str, str | None]) -> EnvelopeChanged | None:
    holds = health.healthy
    if holds is None or holds == state.envelope_holds or (holds and state.envelope_holds is None):
        return None
    numbers = health.model_dump(exclude_none=True, exclude={"healthy"})
    return EnvelopeChanged(holds=holds, pending=[c for c in COMPONENTS if c in pending], **numbers)


def _move(decision: Decision, state: WatchState, look: Look, unaccepted: set[str]) -> None:
    snap, health = look.snapshot, look.health
    if health.healthy is not True or not snap.components or not all(fp.ok for fp in snap.components.values()):
        return
    first = state.baseline is None or state.baseline.healthy is not True
    if not unaccepted and not first:
        return
    new = snap.model_copy(update={"healthy": True, "evals": health.record()})
    decision.new_baseline = new
    decision.move = BaselineMoved(
        taken_at=new.taken_at,
        accepted=[c for c in COMPONENTS if c in unaccepted],
        evals=health.record(),
        digests={c: hash_canonical(fp.data) for c, fp in snap.components.items()},
    )
    decision.differs = {c: False for c in snap.components}
    model = snap.components.get("model")
    providers = model.data.get("providers", {}) if model is not None else {}
    decision.similarity = {name: 1.0 for name in providers}


def _similarity(good: DiffReport | None) -> dict[str, float]:
    """Per provider, the canaries' mean similarity to the last known good's answers."""
    model = good.components.get("model") if good is not None else None
    if model is None:
        return {}
    providers = model.evidence.get("providers", {})
    return {n: float(ev["mean_similarity"]) for n, ev in providers.items() if ev.get("mean_similarity") is not None}


def advance(state: WatchState, look: Look, decision: Decision) -> None:
    """Apply a decision the session has written down (journal, baseline.json) to the state."""
    for name, fp in look.snapshot.components.items():
        if fp.ok:
            state.seen[name] = fp
    for ch in decision.changes:
        name = str(ch.component)
        state.last_change[name] = look.at
        state.changed.add(name)
        state.unaccepted.add(name)
        if ch.back_to_good:
            state.pending.pop(name, None)
        else:
            state.pending[name] = ch.digest
    state.changes += len(decision.changes)
    if look.health.healthy is not None:
        state.envelope_holds = look.health.healthy
    if decision.new_baseline is not None:
        state.baseline, state.baseline_note = decision.new_baseline, None
        state.unaccepted.clear()
        state.pending.clear()
    state.differs, state.similarity = decision.differs, decision.similarity
    state.health, state.pass_rate = look.health, look.health.pass_rate
    state.up = look.health.error is None
    state.looks += 1
    state.last_look_at = look.at
