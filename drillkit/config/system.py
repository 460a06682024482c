"""The system manifest (`drillkit.yaml`, contract): what drillkit acts on and how to roll it back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, HttpUrl, PrivateAttr, field_validator, model_validator

from drillkit.config.types import (
    MAX_DURATION_S,
    Argv,
    Duration,
    Headers,
    HttpStatus,
    ManifestPath,
    Probability,
    Strict,
)

if TYPE_CHECKING:
    from drillkit.config.loader import SourceMap

Api = Literal["openai", "anthropic"]
Cost = Literal["none", "low", "medium", "high"]
COMPONENTS = ("model", "prompt", "retrieval", "tools", "inputs")


#: The service's wire format (DESIGN §9.1): `json` is drillkit's own ({question} → {answer, model,
#: provider, cost_usd}); the other two are the OpenAI chat-completions and Anthropic messages shapes.
ServiceApi = Literal["json", "openai-chat", "anthropic-messages"]
_API_ALIASES = {"openai": "openai-chat", "anthropic": "anthropic-messages"}
_POINTER = r"^(header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|/.*|)$"


class ResponseMap(Strict):
    """Where a response keeps what drillkit reads: a JSON Pointer (RFC 6901) into the body, or
    `header:NAME` for a response header. Unset fields use the api's own place (`answer` of
    `openai-chat` is `/choices/0/message/content`)."""

    answer: str | None = Field(default=None, pattern=_POINTER)
    served_model: str | None = Field(default=None, pattern=_POINTER)
    provider: str | None = Field(default=None, pattern=_POINTER)
    cost_usd: str | None = Field(default=None, pattern=_POINTER)


class Service(Strict):
    url: HttpUrl
    timeout: Duration = 30.0
    api: ServiceApi = "json"
    #: The model name sent in each request body (`openai-chat`, `anthropic-messages`).
    model: str | None = None
    headers: Headers = {}
    response: ResponseMap = ResponseMap()

    @field_validator("api", mode="before")
    @classmethod
    def _alias(cls, v: object) -> object:
        return _API_ALIASES.get(v, v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _model_for_chat_apis(self) -> Service:
        if self.api != "json" and not self.model:
            raise ValueError(f"api {self.api} sends a model name in each request: give service.model")
        return self


class Provider(Strict):
    base_url: HttpUrl
    api: Api = "openai"
    model: str
    api_key_env: str | None = None
    headers: Headers = {}
    timeout: Duration = 10.0  # per attempt, before the caller falls back to the next provider


class ActiveProbe(Strict):
    """Where the running system says which version of a component is live.

    A GET of `url` answering JSON; `pointer` (RFC 6901, e.g. `/prompt/active`) picks the value.
    A change of that value between snapshots is a change of the component (a version switched
    through a lever changes nothing on disk).
    """

    url: HttpUrl
    pointer: str = Field(default="", pattern=r"^(/.*)?$")
    timeout: Duration = 5.0


class ModelComponent(Strict):
    pinned: str | None = None
    active: ActiveProbe | None = None
    canaries: ManifestPath | None = None
    # Which providers the canaries probe (default: every provider in `providers`).
    providers: list[str] | None = None
    # A canary whose answer is less similar than this to its baseline answer has diverged.
    similarity: Probability = 0.9


class PathComponent(Strict):
    path: ManifestPath
    active: ActiveProbe | None = None


class ToolsComponent(Strict):
    contracts: ManifestPath


class InputsComponent(Strict):
    sample: ManifestPath
    drift_threshold: float = Field(default=0.2, gt=0)


class Components(Strict):
    model: ModelComponent | None = None
    prompt: PathComponent | None = None
    retrieval: PathComponent | None = None
    tools: ToolsComponent | None = None
    inputs: InputsComponent | None = None


class Slos(Strict):
    latency_p95_ms: float | None = Field(default=None, gt=0)
    latency_p99_ms: float | None = Field(default=None, gt=0)
    error_rate: Probability | None = None
    eval_pass_rate: Probability | None = None
    cost_per_request_usd: float | None = Field(default=None, ge=0)
    cost_per_success_usd: float | None = Field(default=None, ge=0)


class Price(Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class HttpCall(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: HttpUrl
    json_body: dict | list | None = Field(default=None, alias="json")
    headers: dict[str, str] = {}
    expect_status: HttpStatus | list[HttpStatus] | None = None


class Rollback(Strict):
    run: Argv | None = None
    http: HttpCall | None = None
    user_visible_cost: Cost = "low"
    expected_s: float = Field(default=60, ge=0, le=MAX_DURATION_S)
    description: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Rollback:
        if (self.run is None) == (self.http is None):
            raise ValueError("give exactly one of 'run' (an argv list) or 'http' (a request)")
        return self


class Chaos(Strict):
    toxiproxy: str = "embedded"
    llm_proxy: str = "embedded"

    @field_validator("toxiproxy", "llm_proxy")
    @classmethod
    def _embedded_or_url(cls, v: str) -> str:
        if v != "embedded" and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected 'embedded' or an http(s) URL (got {v!r})")
        return v


class Tool(Strict):
    base_url: HttpUrl
    headers: Headers = {}


class RedactionRule(Strict):
    """An extra redaction rule: values matching `pattern` (a Python regex) become `<name:…>` tokens."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class Redaction(Strict):
    rules: list[RedactionRule] = []


class System(Strict):
    """A system manifest. Relative paths in it are resolved against the manifest's folder."""

    apiVersion: Literal["drillkit/v1"]
    kind: Literal["System"]
    name: str = Field(min_length=1)
    owner: str | None = None
    service: Service
    providers: dict[str, Provider] = {}
    tools: dict[str, Tool] = {}
    components: Components = Components()
    slos: Slos = Slos()
    evals: ManifestPath | None = None
    pricing: dict[str, Price] = {}
    rollbacks: dict[str, Rollback] = {}
    rto_target: Duration = 300.0
    chaos: Chaos = Chaos()
    redaction: Redaction = Redaction()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

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
    return system, source
