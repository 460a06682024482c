"""Snapshots of the five inputs, the last-known-good baseline, and the diff between them.

`baseline.json` (under the drillkit home) is a `Snapshot`: written atomically, readable by
people, judged by the eval suite as it is taken (`take_baseline`: `healthy`, `evals`; see
`drillkit.components.health`). Every snapshot passes through the redaction policy as it is taken
(canary answers, top input terms and tool answers can carry personal data or secrets).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from drillkit import __version__
from drillkit.components import inputs, model, prompt, retrieval, tools
from drillkit.components.common import timed, unknown
from drillkit.components.health import Health, judge_health
from drillkit.components.types import COMPONENTS, ComponentDiff, DiffReport, Fingerprint, Snapshot
from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.journal.redact import Redactor

BASELINE = "baseline.json"
PREVIOUS = "baseline.previous.json"
COMPONENT_TIMEOUT_S = 15.0
MODULES = {"model": model, "prompt": prompt, "retrieval": retrieval, "tools": tools, "inputs": inputs}

Redact = Callable[[dict[str, Any]], dict[str, Any]]


def configured(system: System, only: Iterable[str] | None = None) -> list[str]:
    """The components the manifest says how to fingerprint (optionally only some of them)."""
    wanted = set(only) if only is not None else set(COMPONENTS)
    bad = wanted - set(COMPONENTS)
    if bad:
        raise InputError(f"unknown component(s) {', '.join(sorted(bad))}; expected {', '.join(COMPONENTS)}")
    return [c for c in COMPONENTS if c in wanted and getattr(system.components, c) is not None]


async def take_snapshot(
    system: System, *, components: Iterable[str] | None = None, timeout: float = COMPONENT_TIMEOUT_S
) -> Snapshot:
    """Fingerprint every configured component concurrently; a component that fails is `ok: false`."""
    names = configured(system, components)
    if "model" in names:
        model.load_canaries(system)  # bad files are bad input (exit 2) before anything is probed
    if "tools" in names:
        tools.load_contracts(system)
    async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=64)) as client:

        async def one(name: str) -> Fingerprint:
            async def work() -> dict[str, Any]:
                return await asyncio.wait_for(MODULES[name].fingerprint(system, client), timeout)

            fp = await timed(name, work)  # type: ignore[arg-type]
            if fp.error is None and not fp.ok:
                fp.error = "failed"
            return fp

        prints = await asyncio.gather(*(one(n) for n in names))
    for fp in prints:
        if not fp.ok and fp.error in ("", "TimeoutError"):
            fp.error = f"no answer within {timeout:g} s"
        if fp.ok:
            fp.gaps = MODULES[fp.component].problems(fp.data)
    # Redacted here, not only on disk: a baseline read back must compare equal to a live snapshot
    # of the same state, so both sides pass through the same policy (one Redactor per snapshot,
    # whose placeholders number values in order of appearance).
    redact = Redactor.for_system(system)
    for fp in prints:
        fp.data = redact(fp.data)
        fp.gaps = [redact({"g": g})["g"] for g in fp.gaps]
    return Snapshot(
        taken_at=_now(),
        system=system.name,
        drillkit_version=__version__,
        components={fp.component: fp for fp in prints},
    )


async def take_baseline(system: System, *, components: Iterable[str] | None = None) -> tuple[Snapshot, Health]:
    """A snapshot fit to be the last known good: the fingerprints and, at the same time, the eval
    suite's verdict (`healthy`, `evals` set on the snapshot; nothing is written here)."""
    snap, health = await asyncio.gather(take_snapshot(system, components=components), judge_health(system))
    snap.healthy, snap.evals = health.healthy, health.record()
    return snap, health


def problems(snapshot: Snapshot) -> dict[str, str]:
    """Per component, what its fingerprint could not see (unreachable parts), or why it failed."""
    out = {}
    for name, fp in snapshot.components.items():
        gaps = [fp.error or "failed"] if not fp.ok else fp.gaps
        if gaps:
            out[name] = "; ".join(gaps)
    return out


def diff_snapshots(baseline: Snapshot, live: Snapshot, system: System) -> DiffReport:
    """Compare two snapshots component by component (see each component module for the rules)."""
    out: dict[str, ComponentDiff] = {}
    for name in COMPONENTS:
        base, now = baseline.components.get(name), live.components.get(name)
        if now is None and base is None:
            continue
        if now is None:
            out[name] = unknown(name, "not fingerprinted now (no longer in the manifest?)")  # type: ignore[arg-type]
        elif not now.ok:
            out[name] = unknown(name, f"cannot fingerprint it now: {now.error}")  # type: ignore[arg-type]
        elif base is None:
            out[name] = unknown(name, "no baseline for it: take one with `drillkit snapshot`")  # type: ignore[arg-type]
        elif not base.ok:
            out[name] = unknown(name, f"the baseline could not fingerprint it: {base.error}")  # type: ignore[arg-type]
        else:
            out[name] = MODULES[name].compare(base.data, now.data, system)
    return DiffReport(
        system=system.name,
        baseline_at=baseline.taken_at,
        taken_at=live.taken_at,
        took_s=round(sum(fp.took_s for fp in live.components.values()), 3),
        baseline_healthy=baseline.healthy,
        components=out,
    )


async def diff_live(system: System, home: Path, components: Iterable[str] | None = None) -> DiffReport:
    """Fingerprint the live system and compare it with `<home>/baseline.json`.

    Raises InputError when there is no baseline (take one with `drillkit snapshot`).
    """
    baseline = read_baseline(home)
    if baseline is None:
        raise InputError(f"no baseline in {home / BASELINE}: record the last known good state with `drillkit snapshot`")
    if baseline.system != system.name:
        raise InputError(
            f"{home / BASELINE} is the baseline of {baseline.system!r}, not {system.name!r}: "
            "take one of this system with `drillkit snapshot`"
        )
    start = time.perf_counter()
    live = await take_snapshot(system, components=components)
    report = diff_snapshots(baseline, live, system)
    report.took_s = round(time.perf_counter() - start, 3)
    return report


def baseline_path(home: Path) -> Path:
    return home / BASELINE


def baseline_of(home: Path, system: System) -> tuple[Snapshot | None, str | None]:
    """The baseline of `system` in `home`, or None and why none is usable: missing, unreadable, or
    another system's. Never raises: triage works without one (`drillkit.components.unbaselined`)."""
    path = baseline_path(home)
    try:
        baseline = read_baseline(home)
    except InputError as exc:
        return None, f"the baseline is unreadable ({exc})"
    if baseline is None:
        return None, f"no baseline in {path} (record one with `drillkit snapshot` while the evals pass)"
    if baseline.system != system.name:
        return None, f"{path} is the baseline of {baseline.system!r}, not {system.name!r}"
    return baseline, None


def read_baseline(home: Path) -> Snapshot | None:
    path = baseline_path(home)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Snapshot.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(root)"
        raise InputError(f"{path}: {where}: {first['msg']} (take a new one with `drillkit snapshot`)") from None


def write_baseline(home: Path, snapshot: Snapshot, redact: Redact | None = None) -> Path:
    """Write `<home>/baseline.json` atomically (`take_snapshot` already redacted its data; `redact`
    is for snapshots built some other way)."""
    home.mkdir(parents=True, exist_ok=True)
    data = snapshot.model_dump(mode="json")
    if redact is not None:
        data = redact(data)
    path = baseline_path(home)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def replace_baseline(home: Path, snapshot: Snapshot) -> Path:
    """Write `snapshot` as `<home>/baseline.json`, keeping the one it replaces as baseline.previous.json."""
    path = baseline_path(home)
    if path.exists():
        shutil.copy2(path, path.with_name(PREVIOUS))
    return write_baseline(home, snapshot)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def describe(fp: Fingerprint) -> str:
    """One line saying what a fingerprint holds."""
    if not fp.ok:
        return f"failed: {fp.error}"
    d: dict[str, Any] = fp.data
    if fp.component == "model":
        parts = []
        for name, p in d.get("providers", {}).items():
            answered = sum(1 for c in p.get("canaries", {}).values() if "text" in c)
            parts.append(f"{name}: {'/'.join(p.get('reported') or [p.get('requested')])} "
                         f"({answered}/{len(p.get('canaries', {}))} canaries)")  # fmt: skip
        return "; ".join(parts) or "no provider"
    if fp.component == "prompt":
        active = f", {d['active']} active" if "active" in d else ""
        git = " (git)" if d.get("git") else ""
        return f"{len(d.get('files', {}))} file(s){active}{git}"
    if fp.component == "retrieval":
        active = f", version {d['active']}" if "active" in d else ""
        return f"{len(d.get('documents', {}))} documents{active}"
    if fp.component == "tools":
        results = [r for eps in d.get("tools", {}).values() for r in eps.values()]
        passing = sum(1 for r in results if r.get("ok"))
        return f"{passing}/{len(results)} contract tests pass"
    if fp.component == "inputs":
        return f"{d.get('records')} records, median {d.get('length', {}).get('p50')} chars"
    return ""
