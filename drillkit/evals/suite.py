"""The eval suite file (`evals/suite.yaml`, contract): cases posted to the service, and assertions.

```yaml
apiVersion: drillkit/v1
kind: EvalSuite
name: support-assistant
defaults:                       # optional: assertions added to every case
  assert:
    - {type: max-latency-ms, value: 3000}
cases:
  - id: returns-window          # unique in the suite
    question: How many days do I have to return an item?   # or input: {question: ...}
    tags: [policy]
    weight: 1                   # > 0; the pass rate is the weighted share of passing cases
    assert:
      - {type: icontains, value: "30 days"}
      - {type: cites, value: returns-policy}
      - {type: not-icontains, value: "no information"}
```

Every assertion `type` is one of `ASSERTION_TYPES`, optionally prefixed with `not-`. Values are
checked when the file is loaded (a regex must compile, a JSON schema must be a valid schema,
`max-*` take a number ≥ 0), so a bad suite fails with file:line before any request is sent.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import jsonschema
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from drillkit.config.loader import load_model
from drillkit.config.types import Strict

#: Assertion types (each also accepts a `not-` prefix that inverts it).
ASSERTION_TYPES = (
    "contains",
    "icontains",
    "regex",
    "is-json",
    "json-schema",
    "cites",
    "max-latency-ms",
    "max-cost-usd",
)
NEGATION = "not-"

#: Where each type looks in the response when the assertion gives no `path`.
DEFAULT_PATHS = {"cites": "citations", "max-cost-usd": "cost_usd", "max-latency-ms": None}
DEFAULT_PATH = "answer"


def _type_error(given: str) -> str:
    known = ", ".join(ASSERTION_TYPES)
    prefix = NEGATION if given.startswith(NEGATION) else ""
    close = difflib.get_close_matches(given.removeprefix(NEGATION), ASSERTION_TYPES, n=1)
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
    return f"unknown assertion type: expected one of {known}, each optionally prefixed with 'not-'{hint}"


class Assertion(Strict):
    """One check on a case's response. `kind` is the type without `not-`; `negated` says if it had it.

    `value` by kind: contains/icontains/regex → text; json-schema → a JSON schema object;
    cites → a document id (omit it to require any citation); max-latency-ms/max-cost-usd → a
    number ≥ 0; is-json → nothing. `path` is a dotted path into the response JSON (list items by
    index, `.` for the whole response); `weight` (> 0) weighs the assertion in the case's score.
    """

    type: str = Field(
        description="contains, icontains, regex, is-json, json-schema, cites, max-latency-ms or max-cost-usd; a "
        "`not-` prefix inverts it."
    )
    value: Any = Field(
        default=None,
        validate_default=True,
        description="What the type checks against: text, a regex, a JSON Schema, a document id or a number ≥ 0; "
        "is-json takes none.",
    )
    path: str | None = Field(
        default=None,
        description="Dotted path into the response JSON (`.`: all of it); default `answer` (cites: `citations`, "
        "max-cost-usd: `cost_usd`).",
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        description="Weight in the case's reported score; the case passes only when every assertion passes.",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v.removeprefix(NEGATION) not in ASSERTION_TYPES:
            raise ValueError(_type_error(v))
        return v

    @field_validator("value")
    @classmethod
    def _value_fits_type(cls, v: Any, info: ValidationInfo) -> Any:
        kind = str(info.data.get("type", "")).removeprefix(NEGATION)
        if kind not in ASSERTION_TYPES:
            return v  # the type itself is already reported
        return _check_value(kind, v)

    @model_validator(mode="after")
    def _path_allowed(self) -> Assertion:
        if self.kind == "max-latency-ms" and self.path is not None:
            raise ValueError("max-latency-ms uses the latency measured by drillkit; it takes no 'path'")
        return self

    @property
    def kind(self) -> str:
        """The assertion type without its `not-` prefix."""
        return self.type.removeprefix(NEGATION)

    @property
    def negated(self) -> bool:
        return self.type.startswith(NEGATION)

    @property
    def target(self) -> str | None:
        """The dotted path this assertion reads (None for max-latency-ms, which reads no field)."""
        return self.path if self.path is not None else DEFAULT_PATHS.get(self.kind, DEFAULT_PATH)

    @property
    def label(self) -> str:
        """A short human description, e.g. `not-icontains "no information"`."""
        if self.value is None:
            shown = ""
        elif isinstance(self.value, str):
            shown = f" {self.value!r}" if self.kind != "cites" else f" {self.value}"
        elif isinstance(self.value, dict):
            shown = " {schema}"
        else:
            shown = f" {self.value:g}"
        at = f" @{self.path}" if self.path is not None else ""
        return f"{self.type}{shown}{at}"


def _check_value(kind: str, v: Any) -> Any:
    """Validate (and normalise) an assertion's value for its kind; raise ValueError if it does not fit."""
    if kind in ("contains", "icontains", "regex"):
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise ValueError(f"{kind} needs a text value")
        v = str(v)
        if kind == "regex":
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return v
    if kind == "json-schema":
        if not isinstance(v, dict):
            raise ValueError("json-schema needs a JSON schema object as its value")
        try:
            jsonschema.validators.validator_for(v).check_schema(v)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ValueError(f"invalid JSON schema at {where}: {exc.message}") from None
        return v
    if kind == "cites":
        if v is not None and not isinstance(v, str):
            raise ValueError("cites takes a document id, or no value for any citation")
        return v
    if kind in ("max-latency-ms", "max-cost-usd"):
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"{kind} needs a number ≥ 0")
        return float(v)
    if v is not None:  # is-json
        raise ValueError(f"{kind} takes no value")
    return v


class Defaults(Strict):
    """Assertions added to every case of the suite (before the case's own)."""

    assert_: list[Assertion] = Field(
        default_factory=list, alias="assert", description="Assertions every case must pass, checked before its own."
    )


class Case(Strict):
    """One question (or JSON input) for the service and the assertions its response must pass."""

    id: str = Field(min_length=1, description="The case's id, unique in the suite.")
    question: str | None = Field(
        default=None,
        description="The question, sent as `{question: …}`; game-day traffic asking exactly this is judged by this "
        "case.",
    )
    input: dict[str, Any] | None = Field(
        default=None,
        description="A JSON input record instead of `question`: posted as is with `api: json`; the chat APIs read its "
        "`messages` or `question`.",
    )
    tags: list[str] = Field(
        default_factory=list,
        description="Labels: select cases (`eval run --tag`, a runbook's eval step) and break down pass rates.",
    )
    weight: float = Field(
        default=1.0, gt=0, description="Weight in the suite's pass rate (the weighted share of passing cases)."
    )
    assert_: list[Assertion] = Field(
        default_factory=list, alias="assert", description="What the response must pass, after the suite's defaults."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_input(cls, data: Any) -> Any:
        # Before the fields, so a case with other errors still reports this one.
        if isinstance(data, dict) and (data.get("question") is None) == (data.get("input") is None):
            raise ValueError("give exactly one of 'question' (text) or 'input' (a JSON object)")
        return data

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON body posted to the service: `input`, or `{"question": question}`."""
        return self.input if self.input is not None else {"question": self.question}


class EvalSuite(Strict):
    """An eval suite document. Case ids are unique; every case ends up with at least one assertion."""

    apiVersion: Literal["drillkit/v1"] = Field(description="The file format's version: `drillkit/v1`.")
    kind: Literal["EvalSuite"] = Field(description="Always `EvalSuite`.")
    name: str = Field(min_length=1, description="The suite's name, recorded with each eval result.")
    description: str | None = Field(
        default=None, description="Free text about the suite, for people reading the file (drillkit does not show it)."
    )
    defaults: Defaults = Field(default_factory=Defaults, description="Assertions added to every case.")
    cases: list[Case] = Field(min_length=1, description="The cases (at least one).")

    @field_validator("cases")
    @classmethod
    def _unique_ids(cls, cases: list[Case]) -> list[Case]:
        first: dict[str, int] = {}
        errors = []
        for i, case in enumerate(cases):
            if case.id in first:
                message = f"duplicate case id {case.id!r}: cases[{first[case.id]}] already uses it (ids must be unique)"
                errors.append(_error(message, (i, "id")))
            first.setdefault(case.id, i)
        if errors:
            # A ValidationError keeps each error's own location (so its line), unlike a ValueError.
            raise ValidationError.from_exception_data("EvalSuite", errors)
        return cases

    @model_validator(mode="after")
    def _every_case_asserts(self) -> EvalSuite:
        if self.defaults.assert_:
            return self
        message = "no assertions: give the case an 'assert' list or the suite 'defaults.assert' (else it always passes)"
        errors = [_error(message, ("cases", i)) for i, c in enumerate(self.cases) if not c.assert_]
        if errors:
            raise ValidationError.from_exception_data("EvalSuite", errors)
        return self

    def assertions_for(self, case: Case) -> list[Assertion]:
        """The assertions a case must pass: the suite's defaults, then its own."""
        return [*self.defaults.assert_, *case.assert_]

    def select(self, tags: list[str] | tuple[str, ...] | None = None) -> list[Case]:
        """Cases carrying any of `tags` (all cases when `tags` is empty or None), in file order."""
        if not tags:
            return list(self.cases)
        wanted = set(tags)
        return [c for c in self.cases if wanted.intersection(c.tags)]


def _error(message: str, loc: tuple[str | int, ...]) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("eval_suite", message), loc=loc, input=None)


def load_suite(path: Path | str) -> EvalSuite:
    """Read and validate an eval suite; any problem is an `InputError` naming file:line:col: field."""
    return load_model(Path(path), EvalSuite)
