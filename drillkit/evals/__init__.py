"""Eval suites: load a suite file, run it against a service, judge responses with assertions.

    suite = load_suite("evals/suite.yaml")                         # InputError on a bad file
    result = await run_suite(suite, "http://127.0.0.1:8710/v1/answer", threshold=0.9)
    result.pass_rate, result.inside_envelope, result.to_dict()

The suite format and the assertion types are documented in `drillkit.evals.suite` and
`drillkit.evals.assertions` (and in docs/demo.md, "Eval suite").
"""

from __future__ import annotations

from drillkit.evals.assertions import AssertionResult, check
from drillkit.evals.runner import CaseResult, Check, SuiteResult, run_suite
from drillkit.evals.suite import ASSERTION_TYPES, Assertion, Case, EvalSuite, load_suite

__all__ = [
    "ASSERTION_TYPES",
    "Assertion",
    "AssertionResult",
    "Case",
    "CaseResult",
    "Check",
    "EvalSuite",
    "SuiteResult",
    "check",
    "load_suite",
    "run_suite",
]
