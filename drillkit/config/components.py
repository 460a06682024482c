"""Files the five-input fingerprints read: canary prompts (`kind: Canaries`) and tool contracts
(`kind: ToolContracts`). Both are referenced from the system manifest's `components`."""

from __future__ import annotations

from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import Field, field_validator, model_validator

from drillkit.config.scenario import check_id
from drillkit.config.types import Duration, HttpStatus, Strict


class Message(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class Canary(Strict):
    """One canary: `prompt` (a single user message) or `messages`; sent at temperature 0."""

    id: str
    prompt: str | None = None
    messages: list[Message] | None = None
    max_tokens: int = Field(default=256, ge=1, le=4096)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v)

    @model_validator(mode="after")
    def _one_form(self) -> Canary:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' (a user message) or 'messages' (a chat)")
        return self

    def chat(self) -> list[dict[str, str]]:
        if self.messages is not None:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]


class Canaries(Strict):
    apiVersion: Literal["drillkit/v1"]
    kind: Literal["Canaries"]
    canaries: list[Canary] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Canaries:
        seen: set[str] = set()
        for c in self.canaries:
            if c.id in seen:
                raise ValueError(f"duplicate canary id {c.id!r}")
            seen.add(c.id)
        return self


class Endpoint(Strict):
    """One contract test: a request to the tool and what its answer must look like."""

    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(pattern=r"^/")
    json_body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = {}
    expect_status: HttpStatus | list[HttpStatus] = 200
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    timeout: Duration = 5.0

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            try:
                Draft202012Validator.check_schema(v)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return v

    def statuses(self) -> list[int]:
        return [self.expect_status] if isinstance(self.expect_status, int) else list(self.expect_status)


class ToolContract(Strict):
    endpoints: list[Endpoint] = Field(min_length=1)


class ToolContracts(Strict):
    apiVersion: Literal["drillkit/v1"]
    kind: Literal["ToolContracts"]
    tools: dict[str, ToolContract] = Field(min_length=1)
