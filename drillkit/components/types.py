"""What fingerprints, snapshots and diffs of the five inputs look like (baseline.json, `drillkit diff --json`).

A `Snapshot` holds one `Fingerprint` per component; `baseline.json` under the drillkit home is
the last known good snapshot. A `DiffReport` compares a live snapshot with the baseline: per
component `changed` is True, False, or None (unknown: the component could not be reached or has
no baseline), with the evidence and a confidence in [0, 1].
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

COMPONENTS = ("model", "prompt", "retrieval", "tools", "inputs")
Component = Literal["model", "prompt", "retrieval", "tools", "inputs"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Fingerprint(_Model):
    """One component's state. `data` is component-specific; `error` says why it is missing;
    `gaps` what it could not see (an unreachable provider, a tool endpoint that did not answer)."""

    component: Component
    ok: bool = True
    error: str | None = None
    gaps: list[str] = []
    data: dict[str, Any] = {}
    took_s: float = 0.0


class Snapshot(_Model):
    """Every configured component's fingerprint at one moment."""

    format: int = 1
    taken_at: str
    system: str
    drillkit_version: str
    components: dict[str, Fingerprint] = {}


class ComponentDiff(_Model):
    """One component compared with the baseline.

    `changed`: True/False, or None when unknown (`reason` says why). `evidence` names what
    changed (documents, files, contracts, canaries and by how much, drift score); `summary` is
    one line for people; `confidence` in [0, 1] is how sure the verdict is; `score` in [0, 1]
    is how large the change is (e.g. share of canaries diverged, PSI scaled), used to rank
    reverts.
    """

    component: Component
    changed: bool | None
    summary: str = ""
    evidence: dict[str, Any] = {}
    confidence: float = 0.0
    score: float = 0.0
    reason: str | None = None


class DiffReport(_Model):
    system: str
    baseline_at: str | None
    taken_at: str
    took_s: float
    components: dict[str, ComponentDiff] = {}

    @property
    def changed(self) -> list[str]:
        """Components that changed, in the canonical order."""
        return [c for c in COMPONENTS if c in self.components and self.components[c].changed]

    @property
    def unknown(self) -> list[str]:
        return [c for c in COMPONENTS if c in self.components and self.components[c].changed is None]

    def to_json(self) -> dict[str, Any]:
        """`drillkit diff --json`: the report plus `changed` and `unknown` lists."""
        return {**self.model_dump(mode="json"), "changed": self.changed, "unknown": self.unknown}
