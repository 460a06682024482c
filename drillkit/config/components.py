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
    """One chat message of a canary."""

    role: Literal["system", "user", "assistant"] = Field(description="Who speaks: `system`, `user` or `assistant`.")
    content: str = Field(description="The message's text.")


class Canary(Strict):
    """One canary: `prompt` (a single user message) or `messages`; sent at temperature 0."""

    id: str = Field(
        description="A lower-case id, unique in the file; each answer is compared with the baseline answer of the same "
        "id."
    )
    prompt: str | None = Field(default=None, description="The prompt, sent as a single user message.")
    messages: list[Message] | None = Field(default=None, description="A whole chat instead of `prompt`.")
    max_tokens: int = Field(default=256, ge=1, le=4096, description="The most tokens a provider may answer with.")

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
    """A canaries file, named by the manifest's `components.model.canaries`."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["Canaries"] = Field(description="Always `Canaries`.")
    canaries: list[Canary] = Field(min_length=1, description="The canaries, sent to every probed provider.")

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

    name: str = Field(description="Names the test in fingerprints and diffs.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(default="GET", description="The HTTP method.")
    path: str = Field(pattern=r"^/", description="The path, appended to the tool's `base_url` from the manifest.")
    json_body: Any = Field(default=None, alias="json", description="A JSON body to send; default: no body.")
    headers: dict[str, str] = Field(default={}, description="Request headers, sent as written.")
    expect_status: HttpStatus | list[HttpStatus] = Field(
        default=200,
        description="The status code(s) the tool must answer; an unexpected 502 or 504 means unreachable, not a break.",
    )
    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema the response body must satisfy; the body's shape is recorded either way.",
    )
    timeout: Duration = Field(default=5.0, description="How long to wait for the answer; no answer means unreachable.")

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
    """What one tool promises."""

    endpoints: list[Endpoint] = Field(min_length=1, description="The contract tests to run against the tool.")


class ToolContracts(Strict):
    """A tool contracts file, named by the manifest's `components.tools.contracts`."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["ToolContracts"] = Field(description="Always `ToolContracts`.")
    tools: dict[str, ToolContract] = Field(
        min_length=1, description="Contracts by tool name; each name needs a `tools.<name>.base_url` in the manifest."
    )
