"""What a look means (`drillkit.watch.decide`), on hand-made snapshots: which inputs changed, when
the envelope flips, and that the last known good moves forward only while the evals hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.components.health import Health
from drillkit.components.types import Fingerprint, Snapshot
from drillkit.config.system import System, load_system
from drillkit.journal.canonical import hash_canonical
from drillkit.watch.decide import Decision, advance, decide
from drillkit.watch.state import Look, WatchState

MANIFEST = """\
apiVersion: drillkit/v1
kind: System
name: shop
service: {url: 'http://127.0.0.1:9/v1/answer'}
components:
  prompt: {path: prompts/}
  retrieval: {path: corpus/}
evals: suite.yaml
"""
GOOD = Health(healthy=True, suite="s", pass_rate=1.0, threshold=0.9, passed=20, total=20)
BAD = Health(healthy=False, suite="s", pass_rate=0.55, threshold=0.9, passed=11, total=20)


@pytest.fixture
def system(tmp_path: Path) -> System:
    (tmp_path / "drillkit.yaml").write_text(MANIFEST)
    return load_system(tmp_path / "drillkit.yaml")


def snap(prompt: str = "v3", doc: str = "30 days", *, retrieval_ok: bool = True) -> Snapshot:
    files = {"v3.md": {"sha256": "a" * 64, "size": 10}, "v2.md": {"sha256": "b" * 64, "size": 9}}
    docs = {"returns.md": {"sha256": hash_canonical({"t": doc}), "size": len(doc)}}
    retrieval = Fingerprint(component="retrieval", data={"documents": docs}, ok=retrieval_ok,
                            error=None if retrieval_ok else "gone")  # fmt: skip
    return Snapshot(
        taken_at="2026-12-05T08:00:00.000Z",
        system="shop",
        drillkit_version="0",
        components={
            "prompt": Fingerprint(component="prompt", data={"files": files, "active": prompt}),
            "retrieval": retrieval,
        },
    )


def look(state: WatchState, snapshot: Snapshot, health: Health = GOOD) -> Decision:
    now = Look(snapshot=snapshot, health=health, at=1_000.0 + state.looks, took_s=0.1)
    decision = decide(state, now)
    advance(state, now, decision)
    return decision


def test_the_first_healthy_look_becomes_the_last_known_good(system: System) -> None:
    state = WatchState(system=system)
    d = look(state, snap())
    assert d.changes == [] and d.envelope is None
    assert d.move is not None and d.move.accepted == [] and set(d.move.digests) == {"prompt", "retrieval"}
    assert state.baseline is not None and state.baseline.healthy is True and state.baseline.evals["total"] == 20
    # Nothing changed since: the baseline stays.
    assert look(state, snap()).move is None and state.differs == {"prompt": False, "retrieval": False}


def test_a_change_the_evals_accept_moves_the_baseline_forward(system: System) -> None:
    state = WatchState(system=system)
    look(state, snap())
    d = look(state, snap(prompt="v2"))
    assert [c.component for c in d.changes] == ["prompt"]
    change = d.changes[0]
    assert change.summary == "active prompt version v2 (was v3)" and change.against == "previous"
    assert change.eval is not None and change.eval["pass_rate"] == 1.0 and change.back_to_good is False
    assert d.move is not None and d.move.accepted == ["prompt"]
    assert state.baseline is not None and state.baseline.components["prompt"].data["active"] == "v2"
    assert state.pending == {} and state.last_change == {"prompt": 1_001.0}


def test_the_baseline_stays_while_a_change_breaks_the_envelope_and_moves_after_the_rollback(system: System) -> None:
    state = WatchState(system=system)
    look(state, snap())
    good = state.baseline
    d = look(state, snap(doc="14 days"), BAD)
    assert [c.component for c in d.changes] == ["retrieval"] and d.move is None
    assert d.envelope is not None and d.envelope.holds is False and d.envelope.pending == ["retrieval"]
    assert state.differs["retrieval"] is True and state.baseline is good
    # Still broken, nothing new: nothing written, the baseline does not move.
    d = look(state, snap(doc="14 days"), BAD)
    assert d.changes == [] and d.envelope is None and d.move is None and state.baseline is good
    # The rollback: the document back, the evals hold again.
    d = look(state, snap(), GOOD)
    assert [(c.component, c.back_to_good) for c in d.changes] == [("retrieval", True)]
    assert d.changes[0].summary.startswith("back to the last known good (since the previous look: edited returns.md")
    assert d.envelope is not None and d.envelope.holds is True
    assert d.move is not None and d.move.accepted == ["retrieval"] and state.baseline is not good


def test_an_incomplete_look_never_becomes_the_last_known_good(system: System) -> None:
    state = WatchState(system=system)
    d = look(state, snap(retrieval_ok=False))
    assert d.move is None and state.baseline is None
    # The component could not be read: neither a change nor a reason to forget what was seen.
    assert look(state, snap()).changes == []


def test_a_restarted_watch_does_not_log_again_what_the_log_holds(system: System) -> None:
    state = WatchState(system=system)
    look(state, snap())
    look(state, snap(doc="14 days"), BAD)
    # A new session: the same baseline, the log's pending change, nothing seen yet.
    resumed = WatchState(system=system, baseline=state.baseline, pending=dict(state.pending),
                         unaccepted=set(state.unaccepted), envelope_holds=False)  # fmt: skip
    d = look(resumed, snap(doc="14 days"), BAD)
    assert d.changes == [] and d.envelope is None and d.move is None
    # Restarted again after the document was put back while nobody watched.
    again = WatchState(system=system, baseline=state.baseline, pending=dict(state.pending),
                       unaccepted=set(state.unaccepted), envelope_holds=False)  # fmt: skip
    d = look(again, snap(), GOOD)
    assert [(c.component, c.against, c.back_to_good) for c in d.changes] == [("retrieval", "baseline", True)]
    assert d.move is not None and d.move.accepted == ["retrieval"]


def test_a_change_made_while_nobody_watched_is_logged_against_the_baseline(system: System) -> None:
    state = WatchState(system=system)
    look(state, snap())
    fresh = WatchState(system=system, baseline=state.baseline)
    d = look(fresh, snap(prompt="v2"), BAD)
    assert [(c.component, c.against) for c in d.changes] == [("prompt", "baseline")]
    assert d.changes[0].summary.endswith("(changed while the watch was not looking)")
    assert d.envelope is not None and d.envelope.holds is False and d.move is None
