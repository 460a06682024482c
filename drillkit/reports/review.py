"""Post-incident review drafts: the facts of a game-day run or a triage incident, from its journal,
rendered as Markdown with the jinja2 template `review.md.j2`.

    review = draft(home, "20261128T101003Z-silent-model-swap-717c")   # an id or a folder path
    text = render(review, home=home)                                  # Markdown
    review.model_dump(mode="json")                                    # `drillkit review draft --json`

What is filled in and what is left to the author: every number, time and finding comes from the
record (journal, summary.json, the ledger); judgement (why, what to change, who owns it) is left as
prompts marked `> _Author: …_`, because a draft that guesses at causes gets skimmed and signed.
The review spans the layers an AI incident has — model (and provider), prompt, retrieval, tools,
inputs and operational practice — and says for each what the faults, fingerprints and evals showed,
or that nothing was recorded there: a review that looks at one layer under-fixes.

Citations: every sentence and figure names the journal entries it was read from as
`<journal id>#<seq>` (the run or incident id, and the entry's seq; `<id>/summary.json` for a target
only the summary holds): `Review.citations` for the sentences, each section's `cites` for its
figures; the draft prints them after each statement.

Safety: the facts pass the redaction policy again before rendering (records written before
redaction existed, or by an older policy, must not leak through a review), and every value is
escaped for Markdown and HTML (journals carry model output and operator input); identifiers are
rendered as code spans. Templates: `--templates DIR`, then `<home>/templates/`, then the shipped
`templates/` (a team overrides `review.md.j2` by copying it).

The facts' models are in `review_model` (and re-exported here); how they are collected is in
`review_facts`, `review_run`, `review_incident` and `review_sections`.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from markupsafe import Markup

from drillkit.errors import InputError
from drillkit.journal.events import IncidentStarted
from drillkit.reports.markdown import code, render_template, template_environment
from drillkit.reports.review_facts import collect
from drillkit.reports.review_model import (
    LAYERS,
    Detection,
    Evidence,
    Impact,
    Kind,
    Layer,
    LedgerPosition,
    Resolution,
    Review,
    RollbackStep,
    SloImpact,
    Statement,
    TimelineRow,
)

TEMPLATE = "review.md.j2"
#: How many entries a citation lists before it elides the middle (the JSON lists them all).
CITE_SHOWN = 8


# -- finding the record ------------------------------------------------------------------------


def locate(home: Path, ref: str) -> tuple[Kind, Path]:
    """The record `ref` names: a folder path, or a run/incident id (a unique prefix will do)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "journal.jsonl").is_file():
            raise InputError(f"{path}: not a run or incident folder (no journal.jsonl)")
        return _kind_of(path), path
    candidates = [
        (kind, folder)
        for kind, parent in (("run", home / "runs"), ("incident", home / "incidents"))
        if parent.is_dir()
        for folder in sorted(parent.iterdir())
        if folder.name.startswith(ref) and (folder / "journal.jsonl").is_file()
    ]
    exact = [c for c in candidates if c[1].name == ref]
    if len(exact) == 1 or len(candidates) == 1:
        kind, folder = (exact or candidates)[0]
        return kind, folder  # type: ignore[return-value]
    if not candidates:
        raise InputError(f"no run or incident {ref!r} under {home} (runs/, incidents/); give an id or a folder")
    names = ", ".join(folder.name for _, folder in candidates[:5])
    raise InputError(f"{ref!r} matches {len(candidates)} records ({names}…): give more of the id")


def _kind_of(folder: Path) -> Kind:
    if folder.parent.name == "incidents":
        return "incident"
    if folder.parent.name == "runs":
        return "run"
    with open(folder / "journal.jsonl", "rb") as f:
        first = f.readline()
    return "incident" if f'"{IncidentStarted.KIND}"'.encode() in first else "run"


def draft(home: Path, ref: str) -> Review:
    """The review facts of the run or incident `ref` (see `locate`), redacted."""
    kind, folder = locate(home, ref)
    return collect(home, kind, folder)


# -- rendering ---------------------------------------------------------------------------------


def offset(value: float | None) -> str:
    """`+3.1 s` from the origin, `-5.0 s` before it; `0.0 s` for what rounds to it (never `-0.0`)."""
    if value is None:
        return ""
    return "0.0 s" if round(value, 1) == 0 else f"{value:+.1f} s"


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def usd(value: float | None) -> str:
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):.4f}" if abs(value) < 1 else f"{sign}${abs(value):,.2f}"


def objective(value: float | None, slo: str) -> str:
    """An SLO value in its unit: `90.0 %`, `800 ms`, `$0.0020`."""
    if value is None:
        return "—"
    if slo in ("eval_pass_rate", "error_rate"):
        return pct(value)
    if slo.endswith("_ms"):
        return f"{value:,.0f} ms"
    if slo.endswith("_usd"):
        return usd(value)
    return f"{value:g}"


def cites(values: list[str] | None, *more: list[str] | None) -> Markup:
    """A statement's sources after it: ` (`<id>#6, #9–#11`)`, one code span per journal (and one for
    a summary), consecutive entries as a range, a long list elided in the middle; "" for none.
    `more` lists are merged in (a sentence that rests on several figures)."""
    by_journal: dict[str, list[int]] = {}
    other: list[str] = []
    for cite in [c for group in (values, *more) for c in group or []]:
        ident, _, seq = cite.rpartition("#")
        if ident and seq.isdigit():
            by_journal.setdefault(ident, []).append(int(seq))
        elif cite not in other:
            other.append(cite)
    spans = [code(f"{ident}#" + ", #".join(_ranges(sorted(set(seqs))))) for ident, seqs in by_journal.items()]
    spans += [code(c) for c in other]
    return Markup(" (" + "; ".join(spans) + ")") if spans else Markup("")


def _ranges(seqs: list[int]) -> list[str]:
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][-1] + 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    shown = [f"{r[0]}" if len(r) == 1 else f"{r[0]}–#{r[-1]}" for r in runs]
    if len(shown) > CITE_SHOWN:
        shown = [*shown[: CITE_SHOWN - 2], f"… {len(seqs)} entries …", *shown[-2:]]
    return shown


def environment(home: Path | None = None, templates: Path | None = None) -> jinja2.Environment:
    """Templates from `templates` (checked), then `<home>/templates/`, then the shipped ones."""
    env = template_environment(home, templates, html=False)
    env.filters.update(pct=pct, usd=usd, objective=objective, offset=offset, cites=cites)
    return env


def render(review: Review, *, home: Path | None = None, templates: Path | None = None) -> str:
    """The review as Markdown. The template gets `cited`: each sentence's cites (`Review.citations`)."""
    cited = {s.text: s.cites for s in review.citations}
    text = render_template(environment(home, templates), TEMPLATE, r=review, layers=LAYERS, cited=cited)
    return re.sub(r"\n{3,}", "\n\n", text)


__all__ = [
    "LAYERS",
    "TEMPLATE",
    "Detection",
    "Evidence",
    "Impact",
    "Kind",
    "Layer",
    "LedgerPosition",
    "Resolution",
    "Review",
    "RollbackStep",
    "SloImpact",
    "Statement",
    "TimelineRow",
    "cites",
    "draft",
    "environment",
    "locate",
    "render",
]
