"""The system manifest's service, providers and tools: where drillkit sends requests, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from drillkit.config.types import Duration, Headers, Strict

Api = Literal["openai", "anthropic"]


#: The service's wire format (DESIGN §9.1): `json` is drillkit's own ({question} → {answer, model,
#: provider, cost_usd}); the other two are the OpenAI chat-completions and Anthropic messages shapes.
ServiceApi = Literal["json", "openai-chat", "anthropic-messages"]
_API_ALIASES = {"openai": "openai-chat", "anthropic": "anthropic-messages"}
_POINTER = r"^(header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|/.*|)$"


class ResponseMap(Strict):
    """Where a response keeps what drillkit reads: a JSON Pointer (RFC 6901) into the body, or
    `header:NAME` for a response header. Unset fields use the api's own place (`answer` of
    `openai-chat` is `/choices/0/message/content`)."""

    answer: str | None = Field(
        default=None,
        pattern=_POINTER,
        description="Where the answer text is. Default: `/answer` (json), `/choices/0/message/content` (openai-chat), "
        "the text blocks of `content` (anthropic-messages).",
    )
    served_model: str | None = Field(
        default=None,
        pattern=_POINTER,
        description="Where the name of the model that actually answered is (default `/model`); `pricing` is looked "
        "up by it.",
    )
    provider: str | None = Field(
        default=None,
        pattern=_POINTER,
        description="Where the upstream provider that answered is named. Default: `/provider` (json); none for the "
        "chat APIs.",
    )
    cost_usd: str | None = Field(
        default=None,
        pattern=_POINTER,
        description="Where the request's cost in USD is. Default: `/cost_usd` (json); without it the cost is "
        "`pricing[served model]` × token usage, else unknown.",
    )


class Service(Strict):
    """The AI service under test: where drillkit sends its requests and how they are shaped."""

    url: HttpUrl = Field(
        description="The URL drillkit POSTs requests to (traffic, evals, probes); an evidence hold also reads "
        "`/metrics` on the same host."
    )
    timeout: Duration = Field(
        default=30.0,
        description="Per-request timeout for calls to the service; game-day traffic and triage probes use at most 10s.",
    )
    api: ServiceApi = Field(
        default="json",
        description="The service's wire format: `json` (drillkit's own {question} → {answer, model, provider, "
        "cost_usd}), `openai-chat` or `anthropic-messages`.",
    )
    model: str | None = Field(
        default=None,
        description="The model name sent in each request body; required by `openai-chat` and `anthropic-messages`.",
    )
    headers: Headers = Field(
        default={},
        description="Headers sent with each request to the service; `${VAR}` is read from the environment when used. "
        "Values are never written anywhere.",
    )
    response: ResponseMap = Field(
        default=ResponseMap(),
        description="Where to read the answer, served model, provider and cost in a response (JSON Pointer or "
        "`header:NAME`); defaults follow `api`.",
    )

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
    """One upstream LLM provider of the service's routing layer (fault target `provider:<name>`)."""

    base_url: HttpUrl = Field(
        description="The provider's API base (e.g. `http://host/v1`) as the service reaches it; model canaries are "
        "sent here, so injected faults are seen."
    )
    api: Api = Field(
        default="openai",
        description="Its API: `openai` (POST {base_url}/chat/completions) or `anthropic` (POST {base_url}/messages).",
    )
    model: str = Field(description="The model name requested from this provider.")
    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the API key (sent as a Bearer token or `x-api-key`); unset: a "
        "placeholder key is sent.",
    )
    headers: Headers = Field(
        default={},
        description="Headers sent with each canary request to this provider (`${VAR}` read from the environment); "
        "they win over the api_key_env header. Values are never stored.",
    )
    timeout: Duration = Field(
        default=10.0,
        description="Per-attempt timeout: bounds each canary request, and the demo service's wait before it falls "
        "back to the next provider.",
    )


class Tool(Strict):
    """A tool API the service calls (fault target `tool:<name>`)."""

    base_url: HttpUrl = Field(
        description="The tool's base URL as the service reaches it; contract tests call it + each endpoint's `path`."
    )
    headers: Headers = Field(
        default={},
        description="Headers sent with each contract test of this tool (`${VAR}` read from the environment); an "
        "endpoint's own headers win. Values are never stored.",
    )
