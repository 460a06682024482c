"""What fingerprints, snapshots and diffs of the five inputs look like (baseline.json, `drillkit diff --json`).

A `Snapshot` holds one `Fingerprint` per component; `baseline.json` under the drillkit home is
the last known good snapshot, with `healthy` saying whether the eval suite passed when it was
taken (`false`: recorded with `snapshot --force` while the evals failed; `null`: not judged). A
`DiffReport` compares a live snapshot with the baseline — or, without one, with what needs none
(`reference: no-baseline`, see `drillkit.components.unbaselined`): per component `changed` is
True, False, or None (unknown: the component could not be reached or nothing to compare with),
with the evidence, a confidence in [0, 1] and the `basis` of the verdict.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

COMPONENTS = ("model", "prompt", "retrieval", "tools", "inputs")
Component = Literal["model", "prompt", "retrieval", "tools", "inputs"]
Certainty = Literal["high", "medium", "low"]


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
    """Every configured component's fingerprint at one moment.

    `healthy` and `evals` are set by `drillkit snapshot` (`drillkit.components.health`): whether the
    eval suite was inside its envelope then, and the numbers; None on snapshots nobody judged (a
    game-day's preflight, an evidence hold, a baseline older than the field).
    """

    format: int = 1
    taken_at: str
    system: str
    drillkit_version: str
    healthy: bool | None = None
    evals: dict[str, Any] | None = None
    components: dict[str, Fingerprint] = {}


class ComponentDiff(_Model):
    """One component compared with the baseline.

    `changed`: True/False, or None when unknown (`reason` says why). `evidence` names what
    changed (documents, files, contracts, canaries and by how much, drift score); `summary` is
    one line for people; `confidence` in [0, 1] is how sure the verdict is (`certainty` says it in
    a word); `score` in [0, 1] is how large the change is (e.g. share of canaries diverged, PSI
    scaled), used to rank reverts. `basis` is what the verdict compared against: `baseline`, or
    without one `pinned` (served vs pinned model), `contracts`, `git`, `file dates`,
    `eval suite` (the inputs vs the suite's), `game-day` (the last game-day's preflight).
    """

    component: Component
    changed: bool | None
    summary: str = ""
    evidence: dict[str, Any] = {}
    confidence: float = 0.0
    score: float = 0.0
    reason: str | None = None
    basis: str = "baseline"

    @property
    def certainty(self) -> Certainty:
        """`confidence` in a word: high (≥ 0.8), medium (≥ 0.5), low; an unknown verdict is low."""
        if self.changed is None:
            return "low"
        return "high" if self.confidence >= 0.8 else "medium" if self.confidence >= 0.5 else "low"


class DiffReport(_Model):
    """A live snapshot against the baseline (`reference: baseline`; `baseline_healthy` copies the
    baseline's `healthy`), or against what needs none (`reference: no-baseline`, `baseline_at`
    None, `note` saying why there was no usable baseline)."""

    system: str
    baseline_at: str | None
    taken_at: str
    took_s: float
    reference: Literal["baseline", "no-baseline"] = "baseline"
    baseline_healthy: bool | None = None
    note: str | None = None
    components: dict[str, ComponentDiff] = {}

    @property
    def changed(self) -> list[str]:
        """Components that changed, in the canonical order."""
        return [c for c in COMPONENTS if c in self.components and self.components[c].changed]

    @property
    def unknown(self) -> list[str]:
        return [c for c in COMPONENTS if c in self.components and self.components[c].changed is None]

    def to_json(self) -> dict[str, Any]:
        """`drillkit diff --json`: the report plus `changed` and `unknown` lists.

        The fields a comparison with a baseline leaves at their defaults (`reference`, `note`,
        `baseline_healthy` unknown, each component's `basis`) are left out, so a diff against a
        baseline or a game-day's preflight reads (and journals) as it always did.
        """
        data = self.model_dump(mode="json")
        for key, default in (("reference", "baseline"), ("baseline_healthy", None), ("note", None)):
            if data[key] == default:
                del data[key]
        for component in data["components"].values():
            if component["basis"] == "baseline":
                del component["basis"]
        return {**data, "changed": self.changed, "unknown": self.unknown}
