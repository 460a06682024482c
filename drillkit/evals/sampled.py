"""Sampled inputs: lines of the manifest's inputs sample (`components.inputs.sample`) sent as they are,
to measure latency and cost on the real traffic mix next to the eval cases.

They have no assertions: a sampled input "passes" when the service answered (2xx, JSON). The pick is
deterministic: `count` distinct records spread evenly over the file, each named `input:<hash of the
record>`, so two runs (today's and a saved baseline's) pick and pair the same inputs as long as the
file holds them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.evals.suite import Case, Defaults, EvalSuite

SAMPLE_SUITE = "inputs sample"


def sample_of(system: System, count: int) -> EvalSuite | None:
    """`count` lines of the manifest's inputs sample (None for 0; InputError when it names none)."""
    if count == 0:
        return None
    inputs = system.components.inputs
    path = system.resolve(inputs.sample) if inputs is not None else None
    if path is None:
        raise InputError("--sample needs the manifest's components.inputs.sample (a JSON-lines file of requests)")
    return load_sampled(path, count)


def load_sampled(path: Path, count: int) -> EvalSuite:
    """`count` records of a JSON-lines sample as a suite without assertions (InputError on a bad file)."""
    records = _distinct_records(path)
    if not records:
        raise InputError(f"{path}: no JSON object on any line; nothing to sample")
    step = len(records) / min(count, len(records))
    picked = [records[int(i * step)] for i in range(min(count, len(records)))]
    try:
        cases = [Case(id=_name(r), input=r) for r in picked]
    except ValidationError as exc:
        raise InputError(f"{path}: a line is not an input record ({exc.errors()[0]['msg']})") from None
    # Built without validation: the suite file's rule that every case asserts something does not
    # apply to traffic, which is judged only on getting an answer.
    return EvalSuite.model_construct(
        apiVersion="drillkit/v1", kind="EvalSuite", name=SAMPLE_SUITE, defaults=Defaults(), cases=cases
    )


def _distinct_records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the inputs sample ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the inputs sample is not UTF-8 text") from None
    seen: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if isinstance(record, dict):
            seen.setdefault(_name(record), record)
    return list(seen.values())


def _name(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "input:" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


__all__ = ["SAMPLE_SUITE", "load_sampled", "sample_of"]
