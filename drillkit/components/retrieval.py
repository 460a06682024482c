"""The retrieval fingerprint: a manifest of the corpus (id, SHA-256, size per document).

Document id = its path relative to `components.retrieval.path`. The diff names documents added,
removed and changed. The `active` probe (if any) records the corpus version the service serves,
so an index switched without touching these files is seen too.

Scoring: any document change can change answers to the questions it covers; the score grows with
the share of the corpus touched (at least 0.5 for one document).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from drillkit.components.common import (
    active_change,
    active_unknown,
    compare_manifests,
    file_manifest,
    probe_active,
    unchanged,
)
from drillkit.components.types import ComponentDiff
from drillkit.config.system import System


async def fingerprint(system: System, client: httpx.AsyncClient) -> dict[str, Any]:
    comp = system.components.retrieval
    assert comp is not None
    root = system.resolve(comp.path)
    assert root is not None
    data: dict[str, Any] = {"path": str(root), "documents": await asyncio.to_thread(file_manifest, root)}
    return data | await probe_active(client, comp.active)


def compare(base: dict[str, Any], live: dict[str, Any], system: System) -> ComponentDiff:
    docs = compare_manifests(base.get("documents", {}), live.get("documents", {}))
    moved = active_change(base, live)
    evidence: dict[str, Any] = {"documents": docs}
    touched = len(docs["added"]) + len(docs["removed"]) + len(docs["changed"])
    lines = []
    if touched:
        parts = [
            *(f"edited {c['id']}" for c in docs["changed"]),
            *(f"added {a}" for a in docs["added"]),
            *(f"removed {r}" for r in docs["removed"]),
        ]
        lines.append(", ".join(parts))
    if moved is not None:
        evidence["active"] = moved
        lines.append(f"active corpus version {moved['now']} (was {moved['was']})")
    if not lines:
        return active_unknown(
            unchanged("retrieval", f"{len(live.get('documents', {}))} documents unchanged", evidence), base, live
        )
    total = max(len(base.get("documents", {})), 1)
    score = min(1.0, 0.5 + touched / total) if touched else 0.5
    return ComponentDiff(
        component="retrieval", changed=True, summary="; ".join(lines), evidence=evidence, confidence=1.0,
        score=round(score, 3),
    )  # fmt: skip


def problems(data: dict[str, Any]) -> list[str]:
    return [data["active_error"]] if "active_error" in data else []
