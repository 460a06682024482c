"""The incident record read back typed (`record.replay` on `JournalEntry.event`), and the package's shape:
no import cycle between its modules, no journal kind spelled outside `drillkit.journal.events`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from drillkit.journal import Journal, read_journal
from drillkit.journal.events import (
    KINDS,
    Diff,
    EvalResult,
    IncidentFinished,
    IncidentStarted,
    Note,
    RevertPlan,
    RollbackFinished,
    RollbackStarted,
    StepBack,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from drillkit.runbooks import plan as plan_module
from drillkit.runbooks.record import StepRecord, replay

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "drillkit" / "runbooks"


def _step(step: str, outcome: str) -> StepRecord:
    return StepRecord(step=step, title=step.title(), type="http", outcome=outcome, started_at="t", duration_s=0.5)


def _journal(tmp_path: Path, *events: object) -> Path:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.record(IncidentStarted(incident_id="i", runbook="rb", title="T", operator="o", system_file="/s.yaml"))
        for event in events:
            journal.record(event)  # type: ignore[arg-type]
    return path


def test_replay_rebuilds_the_session_from_typed_events(tmp_path: Path) -> None:
    plan = {"order": ["model"], "lines": ["1. model"], "entries": [], "unknown": {"tools": "no canary"}}
    path = _journal(
        tmp_path,
        StepStarted(step="a", title="A", type="http"),
        StepFinished(**_step("a", "fail").model_dump(), next="b", result={}),
        EvalResult(pass_rate=0.5, inside_envelope=False),
        Diff(system="s", baseline_at=None, taken_at="t", took_s=0.1, components={}, changed=[], unknown=[]),
        RevertPlan(**plan, accepted="auto"),
        RollbackStarted(component="model", run=["true"]),
        RollbackFinished(component="model", ok=True, duration_s=0.1, expected_s=5, output=""),
        Note(step="a", text="looked at it"),
        StepSkipped(**_step("b", "skipped").model_dump(), next="c"),
        StepBack(step="c", next="b"),
        StepStarted(step="b", title="B", type="http"),  # the crash came mid-step: b runs again
    )
    entries = read_journal(path)
    state = replay(entries)
    assert state.started.runbook == "rb" and state.started.system_file == "/s.yaml"
    assert [s.step for s in state.steps] == ["a", "b"] and state.steps[0].outcome == "fail"
    assert state.history == ["a"] and state.next_step == "b"
    assert state.envelope == "fail" and state.diff is not None and state.diff.system == "s"
    assert state.plan is not None and state.plan.unknown == {"tools": "no canary"}
    assert plan_module.RevertPlan.from_event(state.plan).unknown == {"tools": "no canary"}
    assert state.attempted == ["model"] and state.rolled_back[0]["ok"] is True
    assert state.notes == [{"step": "a", "text": "looked at it", "ts": entries[8].ts}]
    assert not state.finished and state.last_seq == entries[-1].seq


def test_replay_sees_the_finish_and_refuses_a_journal_that_is_no_incident(tmp_path: Path) -> None:
    path = _journal(tmp_path, IncidentFinished(envelope=None, changed=[], revert_order=[], outcome="open"))
    assert replay(read_journal(path)).finished
    with pytest.raises(ValueError, match="not an incident journal"):
        replay(read_journal(path)[1:])
    with pytest.raises(ValueError, match="not an incident journal"):
        replay([])


def test_the_events_give_back_exactly_what_the_writers_set() -> None:
    """The journal's bytes do not change: `data()` is the dict the writers used to journal."""
    record = _step("a", "pass")
    finished = StepFinished(**record.model_dump(), next="end", result={"n": 1})
    assert finished.data() == {**record.model_dump(), "next": "end", "result": {"n": 1}}
    started = RollbackStarted(component="model", http={"method": "POST", "url": "http://x/"})
    assert started.data() == {"component": "model", "http": {"method": "POST", "url": "http://x/"}}
    plan = plan_module.RevertPlan(entries=[], unknown={"inputs": "no sample"})
    assert plan.to_event().data() == plan.to_journal()


def _imports(path: Path) -> set[str]:
    """The runbooks modules `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["drillkit", "runbooks"]:
                out.add(parts[2] if len(parts) > 2 and parts[2] in modules else "__init__")
                break  # `from drillkit.runbooks.x import y`: x, not also the package
    out.discard(path.stem)
    return out


def test_no_import_cycle_between_the_runbooks_modules() -> None:
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycle = [*trail[trail.index(module) :], module]
            raise AssertionError("import cycle in drillkit/runbooks: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


@pytest.mark.parametrize(
    "path", [*sorted(PACKAGE.glob("*.py")), ROOT / "drillkit" / "cli" / "triage.py"], ids=lambda p: p.name
)
def test_no_journal_kind_is_spelled_outside_the_registry(path: Path) -> None:
    # `eval`, `diff`, `note` and `revert_plan` are also names of step types, actions or functions:
    # only the dotted kinds (incident.started, step.finished, rollback.started, ...) can be told apart.
    kinds = {k for k in KINDS if "." in k}
    found = [f"{path.name}:{line}: {value!r}" for line, value in _strings(path) if value in kinds]
    assert not found, "spell journal kinds from drillkit.journal.events: " + ", ".join(found)
