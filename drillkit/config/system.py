"""The system manifest (`drillkit.yaml`, contract): what drillkit acts on and how to roll it back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, HttpUrl, PrivateAttr, field_validator, model_validator

from drillkit.config.chaos import Chaos, ChaosField
from drillkit.config.gate import Gate
from drillkit.config.notify import Notify
from drillkit.config.service import Api, Provider, ResponseMap, Service, ServiceApi, Tool
from drillkit.config.slos import Prometheus, Slos, SloSource  # noqa: F401 - re-exported
from drillkit.config.system_components import (
    ActiveProbe,
    Components,
    InputsComponent,
    ModelComponent,
    PathComponent,
    ToolsComponent,
)
from drillkit.config.types import (
    MAX_DURATION_S,
    Argv,
    Duration,
    HttpStatus,
    ManifestPath,
    Period,
    Strict,
)

if TYPE_CHECKING:
    from drillkit.config.loader import SourceMap

Cost = Literal["none", "low", "medium", "high"]
COMPONENTS = ("model", "prompt", "retrieval", "tools", "inputs")


class Price(Strict):
    """What one model costs, for requests whose response carries no cost."""

    input_per_mtok: float = Field(ge=0, description="USD per million input (prompt) tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million output (completion) tokens.")


class HttpCall(Strict):
    """An HTTP request run as a step (a rollback, a restore, a `change` fault); it succeeds on the expected status."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(default="POST", description="The HTTP method.")
    url: HttpUrl = Field(description="The URL to call.")
    json_body: dict | list | None = Field(
        default=None, alias="json", description="A JSON body to send; default: no body."
    )
    headers: dict[str, str] = Field(
        default={}, description="Request headers, sent as written (no `${VAR}` expansion here)."
    )
    expect_status: HttpStatus | list[HttpStatus] | None = Field(
        default=None, description="The status code(s) that count as success; default: any 2xx."
    )


#: How often a rollback path must be proven when the manifest does not say (`rehearse_every`).
DEFAULT_REHEARSE_EVERY_S = 90 * 86400


class Rollback(Strict):
    """One designed rollback path: how to revert, and what it costs the users and takes."""

    run: Argv | None = Field(
        default=None,
        description="The command (argv list, never a shell string) that rolls back; give `run` or `http`, not both.",
    )
    http: HttpCall | None = Field(default=None, description="The HTTP request that rolls back, instead of `run`.")
    user_visible_cost: Cost = Field(
        default="low",
        description="What users notice when this is reverted; the revert plan weighs it (none 0, low 1, medium 2, "
        "high 4).",
    )
    expected_s: float = Field(
        default=60,
        ge=0,
        le=MAX_DURATION_S,
        description="Seconds the rollback should take: each minute adds 1 to its revert-plan cost; triage cuts it "
        "after 4× (at least 60s).",
    )
    description: str | None = Field(
        default=None, description="Says what the rollback does; evidence reports show it instead of the command."
    )
    owner: str | None = Field(default=None, description="Who keeps this path working (`gameday due` names them).")
    rehearse_every: Period = Field(
        default=DEFAULT_REHEARSE_EVERY_S,
        description="How often a passing rehearsal must prove this path (`90d`, `13w`); `gameday due` reports it "
        "overdue after that.",
    )

    @model_validator(mode="after")
    def _one_action(self) -> Rollback:
        if (self.run is None) == (self.http is None):
            raise ValueError("give exactly one of 'run' (an argv list) or 'http' (a request)")
        return self


class RedactionRule(Strict):
    """An extra redaction rule: values matching `pattern` (a Python regex) become `<name:…>` tokens."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="The placeholder's label: `ticket` replaces matches by `<ticket:1>`, …",
    )
    pattern: str = Field(
        min_length=1,
        description="A Python regular expression; the whole match is replaced, or only its named group `value` if it "
        "has one.",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class Redaction(Strict):
    """Redaction applied to everything drillkit stores, on top of the built-in rules (secrets, keys, personal data)."""

    rules: list[RedactionRule] = Field(default=[], description="Extra rules, applied after the built-in ones.")


class System(Strict):
    """A system manifest. Relative paths in it are resolved against the manifest's folder."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["System"] = Field(description="Always `System`.")
    name: str = Field(
        min_length=1,
        description="The system's name: recorded in runs and incidents; a baseline is only compared with a system of "
        "the same name.",
    )
    owner: str | None = Field(
        default=None, description="Who owns the system (team or contact); shown in evidence reports."
    )
    service: Service = Field(description="The AI service: where traffic and evals are sent, and in which format.")
    providers: dict[str, Provider] = Field(
        default={},
        description="The routing layer's upstream LLM providers by name: fault targets `provider:<name>`, probed by "
        "the model canaries.",
    )
    tools: dict[str, Tool] = Field(
        default={},
        description="The tool APIs the service calls, by name: fault targets `tool:<name>`, checked by the tool "
        "contracts.",
    )
    components: Components = Field(
        default=Components(),
        description="How to fingerprint the five inputs (model, prompt, retrieval, tools, inputs).",
    )
    slos: Slos = Field(
        default=Slos(), description="The service's SLOs, judged on game-day traffic and by triage SLO checks."
    )
    evals: ManifestPath | None = Field(
        default=None,
        description="The eval suite (`kind: EvalSuite`) that defines the envelope; relative to the manifest's folder.",
    )
    pricing: dict[str, Price] = Field(
        default={},
        description="Prices per model name as served, for the cost of responses that carry none (tokens × price).",
    )
    rollbacks: dict[str, Rollback] = Field(
        default={},
        description="One designed rollback per component (`model`, `prompt`, …, or `provider`); triage runs them, "
        "evidence reports list them.",
    )
    rto_target: Duration = Field(
        default=300.0,
        description="Recovery time objective: a game-day whose rollback takes longer fails; shown in summaries and "
        "evidence.",
    )
    chaos: ChaosField = Field(
        default=Chaos(),
        description="Where faults go: the fault servers (one Toxiproxy server or a fleet, the LLM fault proxy) and "
        "the proxy and route that carry each target (DESIGN §9.2).",
    )
    notify: list[Notify] = Field(
        default=[],
        description="Webhooks told about this system: `overdue` (`gameday due`), `changed` and `envelope_broken` "
        "(`watch`); plans add their own (DESIGN §9.5).",
    )
    gate: Gate = Field(default=Gate(), description="How much worse a candidate may be in `drillkit eval compare`.")
    prometheus: Prometheus | None = Field(
        default=None, description="The team's Prometheus, where `promql` SLOs are evaluated (DESIGN §9.3)."
    )
    redaction: Redaction = Field(default=Redaction(), description="Extra redaction rules for what drillkit stores.")

    _path: Path | None = PrivateAttr(default=None)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def path(self) -> Path | None:
        """The manifest file this was read from (None when built in memory)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """The folder the manifest was read from; relative paths in it are resolved against it."""
        return self._base_dir

    @field_validator("providers")
    @classmethod
    def _some_provider_names(cls, v: dict[str, Provider]) -> dict[str, Provider]:
        for name in v:
            if not name or ":" in name:
                raise ValueError(f"provider names must be non-empty and contain no ':' (got {name!r})")
        return v

    @model_validator(mode="after")
    def _queries_need_prometheus(self) -> System:
        queried = self.slos.queries()
        if queried and self.prometheus is None:
            raise ValueError(f"slos.{next(iter(queried))}.promql needs a `prometheus: {{url: ...}}` section to query")
        return self

    def resolve(self, relative: str | None) -> Path | None:
        """A path from the manifest, resolved against the manifest's folder."""
        if relative is None:
            return None
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p


def load_system(path: Path | str) -> System:
    return load_system_and_source(path)[0]


def load_system_and_source(path: Path | str) -> tuple[System, SourceMap]:
    """The manifest, and where each of its values sits (to report a bad reference at its line)."""
    from drillkit.config.loader import load_model_and_source

    path = Path(path)
    system, source = load_model_and_source(path, System)
    system._base_dir = path.resolve().parent
    system._path = path.resolve()
    return system, source


__all__ = [
    "COMPONENTS",
    "DEFAULT_REHEARSE_EVERY_S",
    "ActiveProbe",
    "Api",
    "Chaos",
    "Components",
    "Cost",
    "HttpCall",
    "InputsComponent",
    "ModelComponent",
    "PathComponent",
    "Price",
    "Provider",
    "Redaction",
    "RedactionRule",
    "ResponseMap",
    "Rollback",
    "Service",
    "ServiceApi",
    "Slos",
    "System",
    "Tool",
    "ToolsComponent",
    "load_system",
    "load_system_and_source",
]
