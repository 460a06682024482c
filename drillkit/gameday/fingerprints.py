"""The five inputs in a game-day: recorded at preflight, checked at verify, carried in the journal.

- preflight: a snapshot of every configured component (journal `fingerprint`, compact: per
  component whether it could be read, what it could not see, a digest and one line) and, when
  the home holds a baseline of this system, the diff against it (journal `diff`, `against:
  baseline`) — a rehearsal on a system that already differs from its last known good is worth
  knowing about before reading its timings;
- verify: a second snapshot, with the fault still in place, diffed against preflight (journal
  `diff`, `against: preflight`): what the fault and the rollback changed, for the review; and the
  scenario's `verify.fingerprint` expectations: `preflight` (the component is as it was before
  the run), or a version the component's `active` probe must report (e.g. `prompt: v3`). For the
  model, a version name is checked against the model the service reported serving in the last
  windows of traffic (the answers say which model wrote them).
"""

from __future__ import annotations

from typing import Any

from drillkit.components import DiffReport, Snapshot, diff_snapshots, read_baseline, take_snapshot
from drillkit.components.snapshot import describe, problems
from drillkit.components.types import COMPONENTS
from drillkit.errors import InputError
from drillkit.gameday.context import RunContext
from drillkit.journal.canonical import hash_canonical
from drillkit.journal.events import Diff, Fingerprint, PreflightWarning

PREFLIGHT = "preflight"


def compact(snapshot: Snapshot) -> dict[str, Any]:
    """What the journal keeps of a snapshot: enough to tell two states apart, no raw answers."""
    gaps = problems(snapshot)
    return {
        "taken_at": snapshot.taken_at,
        "components": {
            name: {"ok": fp.ok, "digest": hash_canonical(fp.data), "state": describe(fp), "gaps": gaps.get(name)}
            for name, fp in snapshot.components.items()
        },
    }


async def record_preflight(ctx: RunContext) -> None:
    if not any(getattr(ctx.system.components, c) is not None for c in COMPONENTS):
        return
    ctx.snapshot = await ctx.guard(take_snapshot(ctx.system))
    ctx.emit(Fingerprint(at=PREFLIGHT, **compact(ctx.snapshot)))
    try:
        baseline = read_baseline(ctx.options.home)
    except InputError as exc:
        ctx.emit(Diff(against="baseline", error=str(exc)))
        return
    if baseline is not None and baseline.system == ctx.system.name:
        report = diff_snapshots(baseline, ctx.snapshot, ctx.system)
        ctx.emit(Diff(**{"against": "baseline", **report.to_json()}))
        if report.changed:
            changed = ", ".join(report.changed)
            ctx.emit(PreflightWarning(message=f"the system differs from its last known good baseline: {changed}"))


async def verify_fingerprints(ctx: RunContext) -> dict[str, Any]:
    """Diff against preflight (journaled) and check `verify.fingerprint`; returns the verify entry part."""
    expected = dict(ctx.scenario.verify.fingerprint)
    results: dict[str, Any] = {}
    if "model" in expected and expected["model"] != PREFLIGHT:
        results["model"] = served_model(ctx, expected.pop("model"))
    if ctx.snapshot is None:
        for name, want in expected.items():
            results[name] = {"expected": want, "ok": False, "detail": "no preflight fingerprint to compare with"}
        return results
    now = await ctx.guard(take_snapshot(ctx.system))
    report = diff_snapshots(ctx.snapshot, now, ctx.system)
    ctx.emit(Diff(**{"against": PREFLIGHT, **report.to_json()}))
    for name, want in expected.items():
        results[name] = check(report, now, name, want)
    return results


def served_model(ctx: RunContext, expected: str) -> dict[str, Any]:
    seen: dict[str, int] = {}
    for w in ctx.recent:  # the last few windows, after recovery
        for model, n in w.by_model.items():
            seen[model] = seen.get(model, 0) + n
    ok = bool(seen) and max(seen, key=lambda m: seen[m]) == expected
    return {"expected": expected, "served": seen, "ok": ok}


def check(report: DiffReport, now: Snapshot, name: str, want: str) -> dict[str, Any]:
    diff = report.components.get(name)
    if want == PREFLIGHT:
        if diff is None:
            return {
                "expected": want,
                "ok": False,
                "detail": f"{name} is not fingerprinted (see components in the manifest)",
            }
        return {"expected": want, "ok": diff.changed is False, "changed": diff.changed, "detail": diff.summary}
    fp = now.components.get(name)
    active = fp.data.get("active") if fp is not None and fp.ok else None
    if active is None:
        return {
            "expected": want,
            "ok": False,
            "detail": f"{name} has no readable active version (components.{name}.active)",
        }
    return {"expected": want, "ok": str(active) == want, "active": active}


def failures(results: dict[str, Any]) -> list[str]:
    out = []
    for name, r in results.items():
        if r.get("ok"):
            continue
        if "served" in r:
            out.append(f"verify: expected model {r['expected']}, the service reported {r['served'] or 'nothing'}")
        elif "active" in r:
            out.append(f"verify: expected {name} {r['expected']}, the system reports {r['active']}")
        else:
            out.append(f"verify: {name} expected {r['expected']}: {r.get('detail', 'not as expected')}")
    return out
