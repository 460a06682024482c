"""A finished eval run as `eval compare` reads it: the output of `drillkit eval run --json`.

```json
{"suite": "support-assistant", "service_url": "http://…/v1/answer", "pass_rate": 1.0, …,
 "cases":   [{"id": "returns-window", "weight": 1.0, "passed": true, "latency_ms": 97.5,
              "cost_usd": 0.00195, "error": null, "tags": ["policy"],
              "assertions": [{"type": …, "value": …, "path": …}]}],
 "sampled": [{"id": "input:3f2a…", "passed": true, "latency_ms": 88.0, "cost_usd": 0.0012, …}]}
```

`cases` are the suite's cases (pass/fail, latency, cost each); `sampled` (only with `--sample N`)
are lines of the manifest's inputs sample, which have no assertions and add latency and cost only.
A live run is turned into the same model (`RunRecord.of`), so a saved baseline and a live one are
compared by the same code. Keys this model does not know are ignored: the output may grow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drillkit.errors import InputError
from drillkit.evals.runner import SuiteResult


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class AssertionRecord(_Lenient):
    type: str
    value: Any = None
    path: str | None = None


class CaseRecord(_Lenient):
    """One case's outcome. `latency_ms` and `cost_usd` are None when not measured."""

    id: str
    weight: float = Field(default=1.0, gt=0)
    passed: bool
    latency_ms: float | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    error: str | None = None
    tags: list[str] = []
    assertions: list[AssertionRecord] = []

    def definition(self) -> list[tuple[str, str, str | None]]:
        """What the case asserted, to tell a case whose assertions changed between two runs."""
        return [(a.type, json.dumps(a.value, sort_keys=True), a.path) for a in self.assertions]


class RunRecord(_Lenient):
    suite: str
    service_url: str
    cases: list[CaseRecord] = Field(min_length=1)
    sampled: list[CaseRecord] = []

    @classmethod
    def of(cls, result: SuiteResult, sampled: SuiteResult | None = None) -> RunRecord:
        return cls.model_validate(run_document(result, sampled))

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        """A saved `eval run --json`; InputError (exit 2) when it is not one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the saved results ({exc.strerror or exc})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not JSON ({exc})") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: Any, where: str) -> RunRecord:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise InputError(f"{where}: not the output of `drillkit eval run --json` ({at}: {first['msg']})") from None


def run_document(result: SuiteResult, sampled: SuiteResult | None = None) -> dict[str, Any]:
    """What `eval run --json` prints: the suite result, and the sampled inputs when there are any."""
    data = result.to_dict()
    if sampled is not None:
        data["sampled"] = [c.to_dict() for c in sampled.cases]
    return data


def looks_like_results(text: str) -> bool:
    """Whether a file's text is saved results (a JSON object with `cases`) rather than a manifest."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and "cases" in data and "kind" not in data


__all__ = ["AssertionRecord", "CaseRecord", "RunRecord", "looks_like_results", "run_document"]
