"""What changed, when there is no baseline: the five inputs judged from what needs none.

Triage is needed most when nobody took a baseline (a live incident on a system drillkit never
watched). Each component is then judged against its own reference, and says how sure it is
(`ComponentDiff.confidence`, `.certainty`; `.basis` names the reference):

- **model** (`pinned`): the canaries asked of the model the service calls and of
  `components.model.pinned`; changed when they answer differently, or when the service calls, or a
  provider reports serving, another model (`drillkit.components.pinned`).
- **prompt**, **retrieval** (`git`, else `file dates`): uncommitted edits, a commit or a write in
  the last 24 h (`drillkit.components.history`).
- **tools** (`contracts`): the contract tests say by themselves what a tool must answer; a failing
  one is a change.
- **inputs** (`eval suite`): the inputs sample against the suite's questions; changed when it
  drifted past `components.inputs.drift_threshold` (PSI) from what the suite asks.

The newest game-day preflight fingerprint of the same system (`drillkit.components.preflight`),
when there is one, settles or sharpens these verdicts. Nothing here changes the system.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from drillkit.components.common import unknown
from drillkit.components.history import folder_history
from drillkit.components.inputs import compare as compare_inputs
from drillkit.components.inputs import profile
from drillkit.components.pinned import served_vs_pinned
from drillkit.components.preflight import consider, last_preflight
from drillkit.components.snapshot import configured, take_snapshot
from drillkit.components.types import ComponentDiff, DiffReport, Fingerprint, Snapshot
from drillkit.config.system import System
from drillkit.evals.suite import load_suite


async def diff_without_baseline(
    system: System,
    home: Path,
    *,
    components: Iterable[str] | None = None,
    snapshot: Snapshot | None = None,
    why: str | None = None,
) -> DiffReport:
    """Judge each configured component without a baseline (see the module doc).

    `snapshot` is a fresh one to reuse (the evidence hold's); `why` says why there is no usable
    baseline and is kept as the report's `note`.
    """
    t0 = time.perf_counter()
    names = configured(system, components)
    if snapshot is None or any(n not in snapshot.components for n in names):
        snapshot = await take_snapshot(system, components=names)
    async with httpx.AsyncClient(trust_env=False) as client:
        model = await served_vs_pinned(system, client) if "model" in names else None
    pre = last_preflight(home, system.name)
    out: dict[str, ComponentDiff] = {}
    for name in names:
        fp = snapshot.components[name]
        if not fp.ok:
            out[name] = unknown(name, f"cannot fingerprint it now: {fp.error}")  # type: ignore[arg-type]
            continue
        diff = await asyncio.to_thread(_judge, system, fp, model)
        out[name] = consider(diff, fp, pre) if pre is not None else diff
    return DiffReport(
        system=system.name,
        baseline_at=None,
        taken_at=snapshot.taken_at,
        took_s=round(time.perf_counter() - t0, 3),
        reference="no-baseline",
        note=why,
        components=out,
    )


def _judge(system: System, fp: Fingerprint, model: ComponentDiff | None) -> ComponentDiff:
    if fp.component == "model":
        why = "nothing pinned (components.model.pinned) to compare what the providers serve with"
        return model if model is not None else unknown("model", why)
    if fp.component in ("prompt", "retrieval"):
        comp = getattr(system.components, fp.component)
        root = system.resolve(comp.path)
        assert root is not None
        return folder_history(fp.component, root)
    if fp.component == "tools":
        return tools_by_contract(fp.data)
    return inputs_against_suite(system, fp.data)


def tools_by_contract(data: dict[str, Any]) -> ComponentDiff:
    """The contract tests alone: a failing one is a change of that tool, whatever it was before."""
    broken: list[dict[str, Any]] = []
    unreachable: list[str] = []
    passing = 0
    for tool, endpoints in data.get("tools", {}).items():
        for name, r in endpoints.items():
            label = f"{tool}/{name}"
            if "error" in r:
                unreachable.append(f"{label}: {r['error']}")
            elif r.get("ok"):
                passing += 1
            else:
                broken.append({"contract": label, "status": r.get("status"), "violations": r.get("violations", [])})
    evidence = {"broken": broken, "unreachable": unreachable, "passing": passing}
    if broken:
        lines = [f"{b['contract']} breaks its contract ({'; '.join(b['violations'][:2])})" for b in broken]
        return ComponentDiff(component="tools", changed=True, summary="; ".join(lines), evidence=evidence,
                             confidence=1.0, score=1.0, basis="contracts")  # fmt: skip
    if not passing:
        diff = unknown("tools", "; ".join(unreachable) or "no contract test to run")
        diff.evidence, diff.basis = evidence, "contracts"
        return diff
    summary = f"{passing} contract test(s) pass (a new shape the schemas tolerate shows only against a baseline)"
    if unreachable:
        summary += f"; unreachable: {'; '.join(unreachable)}"
    return ComponentDiff(component="tools", changed=False, summary=summary, evidence=evidence,
                         confidence=0.6 if unreachable else 0.8, basis="contracts")  # fmt: skip


def inputs_against_suite(system: System, live: dict[str, Any]) -> ComponentDiff:
    """The inputs sample against the eval suite's questions: traffic the suite no longer resembles."""
    if system.evals is None:
        return unknown("inputs", "no eval suite (the manifest's `evals`) to compare the inputs sample with")
    suite = load_suite(system.resolve(system.evals))  # type: ignore[arg-type]
    reference = profile([case.payload for case in suite.cases])
    diff = compare_inputs(reference, live, system)
    ev = diff.evidence
    ev.pop("sample_changed", None)
    ev["records"] = {"suite": len(suite.cases), "sample": live.get("records")}
    worst = max(ev["psi"], key=lambda k: ev["psi"][k])
    psi = f"PSI {ev['drift']:.2f} on {worst}, threshold {ev['threshold']:g}"
    if diff.changed:
        diff.summary = f"the inputs no longer resemble what the eval suite asks ({psi})"
        diff.confidence = min(diff.confidence, 0.6)
    else:
        diff.summary = f"the inputs resemble what the eval suite asks ({psi})"
        diff.confidence = 0.5
    diff.basis = "eval suite"
    return diff


__all__ = ["diff_without_baseline", "inputs_against_suite", "tools_by_contract"]
