"""`eval compare --markdown FILE`: the comparison as a pull-request comment (GitHub-flavoured Markdown).

A verdict heading, one table row per gate metric (both values, the change with its 95 % interval,
the test, the tolerance, the verdict), the cases that flipped in a collapsed section. Everything
that came from files or services (case ids, labels) is escaped, so a case id cannot break the
table or inject markup into the comment.
"""

from __future__ import annotations

import html
import re

from drillkit.evals.compare import Comparison, Difference

_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
#: Case ids listed per section; the rest is counted (a comment has a size limit).
MAX_LISTED = 50


def compare_markdown(comparison: Comparison) -> str:
    c = comparison
    mark = "✅" if c.passed else "❌"
    scope = f" {_md(c.scope().strip())}" if c.tags else ""
    lines = [
        f"### {mark} drillkit eval compare: {_md(c.summary())}",
        "",
        f"Suite {_md(c.suite)}, {c.paired} paired cases{scope}. "
        f"Baseline: {_md(c.baseline)}. Candidate: {_md(c.candidate)}.",
        "",
        "| metric | baseline | candidate | change [95 % CI] | test | gate | verdict |",
        "| --- | ---: | ---: | --- | --- | --- | --- |",
        *(_row(d) for d in c.differences),
        "",
    ]
    lines += _cases("pass → fail", c.regressed)
    lines += _cases("fail → pass", c.fixed)
    lines += _cases("only in the baseline (not compared)", c.only_baseline)
    lines += _cases("only in the candidate (not compared)", c.only_candidate)
    lines += _cases("assertions changed since the baseline", c.redefined)
    lines.append(
        "<sub>A regression is a change beyond the manifest's `gate` tolerance that is also significant at "
        "95 % (pass rate: Newcombe's paired interval below 0; latency: Mann-Whitney one-sided p < 0.05; "
        "cost: bootstrap interval above 0).</sub>"
    )
    return "\n".join(lines) + "\n"


def _row(d: Difference) -> str:
    if d.change is None:
        cells = [d.label, "—", "—", _md(d.note or "not judged"), "", _md(d.tolerance_text()), "not judged"]
    else:
        test = d.test + (f"; {d.detail}" if d.detail else "")
        verdict = f"**{d.verdict}**" if d.regression else d.verdict
        cells = [
            d.label,
            _md(d.value_text(d.baseline)),
            _md(d.value_text(d.candidate)),
            _md(d.change_text()),
            _md(test),
            _md(d.tolerance_text()),
            verdict,
        ]
    return "| " + " | ".join(cells) + " |"


def _cases(title: str, ids: list[str]) -> list[str]:
    if not ids:
        return []
    listed = ", ".join(_md(i) for i in ids[:MAX_LISTED])
    more = f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
    return [
        f"<details><summary>{len(ids)} case(s) {html.escape(title)}</summary>",
        "",
        listed + more,
        "",
        "</details>",
        "",
    ]


def _md(text: str) -> str:
    """Plain text that renders as itself in Markdown, also inside a table cell."""
    return _SPECIAL.sub(r"\\\1", html.escape(" ".join(text.split()), quote=False))


__all__ = ["compare_markdown"]
