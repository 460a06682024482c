"""JUnit XML for CI test reports (GitHub Actions, GitLab, Jenkins read the same Ant/Surefire shape).

    eval run --junit FILE       one <testcase> per eval case: a failed assertion is a <failure>, no
                                judgeable answer (timeout, non-2xx, not JSON) an <error>; its time is
                                the measured latency
    eval compare --junit FILE   one <testcase> per gate metric: a regression is a <failure>, a metric
                                that could not be judged is <skipped>; the cases that flipped are in
                                the pass rate's <system-out>

Text from the service (answers, error bodies) goes through ElementTree, which escapes it; control
characters that XML 1.0 cannot carry at all are replaced by U+FFFD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from drillkit.evals.compare import Comparison, Difference
from drillkit.evals.runner import CaseResult, SuiteResult

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def run_junit(result: SuiteResult) -> str:
    """One testsuite, one testcase per case (classname: the suite and the case's first tag)."""
    suite = ET.Element(
        "testsuite",
        name=_clean(result.suite),
        tests=str(result.total),
        failures=str(result.failed - result.errored),
        errors=str(result.errored),
        skipped="0",
        time=f"{result.duration_s:.3f}",
    )
    _properties(suite, {"service_url": result.service_url, "pass_rate": f"{result.pass_rate:.4f}"})
    for case in result.cases:
        suite.append(_case_element(result.suite, case))
    return _document([suite])


def _case_element(suite: str, case: CaseResult) -> ET.Element:
    tag = case.case.tags[0] if case.case.tags else "untagged"
    seconds = (case.latency_ms or 0.0) / 1000
    element = ET.Element("testcase", classname=_clean(f"{suite}.{tag}"), name=_clean(case.case.id))
    element.set("time", f"{seconds:.3f}")
    if case.error is not None:
        ET.SubElement(element, "error", message=_clean(case.error), type=case.error_kind or "error")
    elif not case.passed:
        lines = [f"{c.assertion.label}: {c.result.detail}" for c in case.failures]
        failure = ET.SubElement(element, "failure", message=_clean(lines[0]), type="assertion")
        failure.text = _clean("\n".join(lines))
    return element


def compare_junit(comparison: Comparison) -> str:
    """One testsuite `eval compare`, one testcase per gate metric."""
    differences = comparison.differences
    suite = ET.Element(
        "testsuite",
        name="drillkit eval compare",
        tests=str(len(differences)),
        failures=str(len(comparison.regressions)),
        errors="0",
        skipped=str(sum(1 for d in differences if d.change is None)),
    )
    props = {"baseline": comparison.baseline, "candidate": comparison.candidate, "suite": comparison.suite}
    tags = {"tags": ", ".join(comparison.tags)} if comparison.tags else {}
    _properties(suite, props | {"paired_cases": str(comparison.paired)} | tags)
    for d in differences:
        suite.append(_metric_element(d, comparison))
    return _document([suite])


def _metric_element(d: Difference, comparison: Comparison) -> ET.Element:
    element = ET.Element("testcase", classname="gate", name=d.metric)
    if d.change is None:
        ET.SubElement(element, "skipped", message=_clean(d.note or "not judged"))
    elif d.regression:
        failure = ET.SubElement(element, "failure", message=_clean(d.describe()), type="regression")
        failure.text = _clean(d.describe())
    out = [d.describe()]
    if d.metric == "pass_rate":
        out += [f"pass → fail: {', '.join(comparison.regressed) or 'none'}"]
        out += [f"fail → pass: {', '.join(comparison.fixed) or 'none'}"]
    ET.SubElement(element, "system-out").text = _clean("\n".join(out))
    return element


def _properties(parent: ET.Element, values: dict[str, str]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=_clean(value))


def _document(suites: list[ET.Element]) -> str:
    root = ET.Element("testsuites")
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


__all__ = ["compare_junit", "run_junit"]
