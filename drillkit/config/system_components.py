"""The system manifest's five inputs (`components`): how drillkit fingerprints each one."""

from __future__ import annotations

from pydantic import Field, HttpUrl

from drillkit.config.types import Duration, ManifestPath, Probability, Strict


class ActiveProbe(Strict):
    """Where the running system says which version of a component is live.

    A GET of `url` answering JSON; `pointer` (RFC 6901, e.g. `/prompt/active`) picks the value.
    A change of that value between snapshots is a change of the component (a version switched
    through a lever changes nothing on disk).
    """

    url: HttpUrl = Field(description="A URL answering JSON (GET) that says which version is live.")
    pointer: str = Field(
        default="",
        pattern=r"^(/.*)?$",
        description="JSON Pointer to the version in that answer, e.g. `/prompt/active`; empty: the whole answer.",
    )
    timeout: Duration = Field(
        default=5.0,
        description="How long to wait for the answer; a failure leaves the version unknown, never unchanged.",
    )


class ModelComponent(Strict):
    """How the model is fingerprinted: canary answers per provider, reported names, and the live model."""

    pinned: str | None = Field(
        default=None,
        description="The model version you pin (e.g. `sim-pro-2025-06`); recorded in each model fingerprint, not "
        "compared.",
    )
    active: ActiveProbe | None = Field(
        default=None,
        description="Where the service says which model it calls now; a change between snapshots is a model change.",
    )
    canaries: ManifestPath | None = Field(
        default=None,
        description="Canaries file (`kind: Canaries`) sent to each probed provider at temperature 0; relative to the "
        "manifest's folder.",
    )
    providers: list[str] | None = Field(
        default=None,
        description="Which providers the canaries probe (names from `providers`); default: all of them.",
    )
    similarity: Probability = Field(
        default=0.9,
        description="A canary answer less similar than this to its baseline has diverged; two diverged (or a mean "
        "below it) means the model changed.",
    )


class PathComponent(Strict):
    """A prompt or corpus fingerprinted from files (a hash per file), plus the version the service serves."""

    path: ManifestPath = Field(
        description="The file or folder to fingerprint (prompt files, corpus documents); relative to the manifest's "
        "folder."
    )
    active: ActiveProbe | None = Field(
        default=None,
        description="Where the service says which version it serves; a switch seen here is a change even when no file "
        "changed.",
    )


class ToolsComponent(Strict):
    """The tools fingerprinted by running their contract tests against the live tools."""

    contracts: ManifestPath = Field(
        description="Tool contracts file (`kind: ToolContracts`), run against each tool's `base_url`; relative to the "
        "manifest's folder."
    )


class InputsComponent(Strict):
    """The inputs fingerprinted as the distribution of a sample of request bodies."""

    sample: ManifestPath = Field(
        description="JSON-lines file of request bodies: the input mix whose drift is measured; also game-day traffic "
        "(`inputs: system`) and triage SLO probes."
    )
    drift_threshold: float = Field(
        default=0.2,
        gt=0,
        description="Population Stability Index above which the inputs count as changed (0.1–0.2 is a moderate shift).",
    )


class Components(Strict):
    """How to fingerprint each of the five inputs; a component left out is not fingerprinted."""

    model: ModelComponent | None = Field(default=None, description="The model: canaries and the live model.")
    prompt: PathComponent | None = Field(default=None, description="The prompt files, and the live prompt version.")
    retrieval: PathComponent | None = Field(
        default=None, description="The retrieval corpus documents, and the live corpus version."
    )
    tools: ToolsComponent | None = Field(default=None, description="The tools, through their contract tests.")
    inputs: InputsComponent | None = Field(default=None, description="The input mix, through a sample of requests.")
