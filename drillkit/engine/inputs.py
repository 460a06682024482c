"""Request bodies for the load generator, and the eval assertions that apply to them.

    bodies = load_inputs("system", system)             # scenario `traffic.inputs`
    cycle = InputCycle(bodies, seed=7)                  # deterministic order, repeats forever
    cycle.next()                                        # -> {"question": "..."}
    evals = assertions_by_question(load_suite(...))     # question -> assertions, for live quality

An inputs file is JSON lines, one JSON object per line (the request body posted as is, typically
`{"question": "..."}`); blank lines are skipped. `traffic.inputs: system` means the system's
`components.inputs.sample`; anything else is a path, relative to `base_dir` (the scenario's folder).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.evals.suite import Assertion, EvalSuite

SYSTEM_INPUTS = "system"


def inputs_path(source: str, system: System | None = None, base_dir: Path | None = None) -> Path:
    """The file `traffic.inputs` names: the system's inputs sample for "system", else a path."""
    if source == SYSTEM_INPUTS:
        sample = system.components.inputs if system is not None else None
        if sample is None:
            raise InputError(
                "traffic.inputs is 'system' but the system manifest has no components.inputs.sample; "
                "give the scenario a path to a JSON-lines file instead"
            )
        path = system.resolve(sample.sample)
        assert path is not None
        return path
    path = Path(source)
    return path if path.is_absolute() or base_dir is None else base_dir / path


def load_inputs(source: str | Path, system: System | None = None, base_dir: Path | None = None) -> list[dict[str, Any]]:
    """Read the request bodies `source` names (see module doc). A bad file is an `InputError` at file:line."""
    path = inputs_path(source, system, base_dir) if isinstance(source, str) else source
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: inputs file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the inputs file ({exc})") from None
    bodies: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(body, dict):
            raise InputError(f'{path}:{n}: expected a JSON object such as {{"question": "..."}}')
        bodies.append(body)
    if not bodies:
        raise InputError(f'{path}: no inputs (expected JSON lines such as {{"question": "..."}})')
    return bodies


class InputCycle:
    """Bodies in a seeded shuffled order, repeated forever: the same seed gives the same traffic.

    `seed=None` keeps file order. Each pass reuses the same order (a fixed order keeps runs
    comparable; the shuffle only spreads repeated questions apart).
    """

    def __init__(self, bodies: Sequence[dict[str, Any]], seed: int | None = 0) -> None:
        if not bodies:
            raise ValueError("InputCycle needs at least one body")
        self._bodies = list(bodies)
        if seed is not None:
            random.Random(seed).shuffle(self._bodies)
        self._i = 0

    def __len__(self) -> int:
        return len(self._bodies)

    def next(self) -> dict[str, Any]:
        body = self._bodies[self._i % len(self._bodies)]
        self._i += 1
        return body


def assertions_by_question(suite: EvalSuite) -> dict[str, list[Assertion]]:
    """question text → the assertions its response must pass (suite defaults first), for live evals.

    Only cases given as `question` (or an `input` with a text `question`) can match traffic.
    """
    index: dict[str, list[Assertion]] = {}
    for case in suite.cases:
        question = case.payload.get("question")
        if isinstance(question, str):
            index.setdefault(question, suite.assertions_for(case))
    return index


__all__ = ["SYSTEM_INPUTS", "InputCycle", "assertions_by_question", "inputs_path", "load_inputs"]
