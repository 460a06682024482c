"""Request bodies for the load generator, and the eval assertions that apply to them.

    bodies = load_inputs("system", system)             # scenario `traffic.inputs`
    cycle = InputCycle(bodies, seed=7)                  # deterministic order, repeats forever
    cycle.next()                                        # -> {"question": "..."}
    evals = assertions_by_question(load_suite(...))     # question -> assertions, for live quality

An inputs file is JSON lines, one JSON object per line (the request body posted as is, typically
`{"question": "..."}`); blank lines are skipped. `traffic.inputs: system` means the system's
`components.inputs.sample`; anything else is a path, relative to `base_dir` (the scenario's folder)
or, when no such file is there, to the system manifest's folder.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drillkit.config.safe_yaml import read_text_file
from drillkit.config.system import System
from drillkit.errors import InputError
from drillkit.evals.suite import Assertion, EvalSuite
from drillkit.evals.wire import question_of

SYSTEM_INPUTS = "system"
#: Inputs samples may be larger than other files (they are JSON lines, parsed by the C json module).
MAX_INPUTS_BYTES = 32 * 1024 * 1024


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
    if path.is_absolute():
        return path
    # The scenario's folder first, then the system's (shipped scenarios name the demo's files).
    folders = [d for d in (base_dir, system.base_dir if system is not None else None) if d is not None]
    for folder in folders:
        if (folder / path).exists():
            return folder / path
    return folders[0] / path if folders else path


def load_inputs(source: str | Path, system: System | None = None, base_dir: Path | None = None) -> list[dict[str, Any]]:
    """Read the request bodies `source` names (see module doc). A bad file is an `InputError` at file:line."""
    path = inputs_path(source, system, base_dir) if isinstance(source, str) else source
    # Size, UTF-8 and binary checks as for every file drillkit reads.
    text = read_text_file(path, what="inputs file", max_bytes=MAX_INPUTS_BYTES)
    bodies: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except (RecursionError, ValueError) as exc:  # nesting too deep; an integer of 4,300+ digits
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise InputError(f"{path}:{n}: not a usable JSON object ({why})") from None
        if not isinstance(body, dict):
            raise InputError(
                f'{path}:{n}: expected a JSON object such as {{"question": "..."}} or {{"messages": [...]}}'
            )
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
        self._shift: InputCycle | None = None
        self._share = 0.0
        self._shift_rng = random.Random(0)

    def __len__(self) -> int:
        return len(self._bodies)

    def next(self) -> dict[str, Any]:
        if self._shift is not None and self._shift_rng.random() < self._share:
            return self._shift.next()
        body = self._bodies[self._i % len(self._bodies)]
        self._i += 1
        return body

    def shift(self, bodies: Sequence[dict[str, Any]], share: float = 1.0, seed: int = 1) -> None:
        """From now on draw `share` of the bodies from `bodies` instead (an `input_shift` fault)."""
        self._shift = InputCycle(bodies, seed=seed)
        self._share = share
        self._shift_rng = random.Random(seed)

    def unshift(self) -> None:
        self._shift = None

    @property
    def shifted(self) -> bool:
        return self._shift is not None


def assertions_by_question(suite: EvalSuite) -> dict[str, list[Assertion]]:
    """question text → the assertions its response must pass (suite defaults first), for live evals.

    A case matches traffic by its question: `question`, an `input` with a text `question`, or an
    `input` with chat `messages` (the last user message), as `evals.wire.question_of` reads it.
    """
    index: dict[str, list[Assertion]] = {}
    for case in suite.cases:
        question = question_of(case.payload)
        if question is not None:
            index.setdefault(question, suite.assertions_for(case))
    return index


__all__ = ["SYSTEM_INPUTS", "InputCycle", "assertions_by_question", "inputs_path", "load_inputs"]
