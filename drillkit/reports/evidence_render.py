"""Render an `EvidenceReport` as HTML, Markdown or JSON with the jinja2 templates `evidence.html.j2`
and `evidence.md.j2`.

Templates are looked up in `--templates DIR` first, then `<home>/templates/`, then the shipped
`templates/`, so a team can restyle the page or reword a section by copying one file.

Escaping: the HTML template is rendered with autoescape on, so every value (scenario titles,
operator names, reasons quoted from journals: anything a model or a person typed) reaches the page
as text; the chart is drawn from numbers. The Markdown template passes every value through
`markdown.md_escape`, which also neutralises HTML (many Markdown viewers render raw HTML) and table
pipes; identifiers go through `code`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import jinja2

from drillkit.reports.evidence_model import EvidenceReport, days_label
from drillkit.reports.markdown import format_seconds, md_escape, render_template, template_environment

Format = Literal["html", "md", "json"]
TEMPLATES = {"html": "evidence.html.j2", "md": "evidence.md.j2"}


def environment(home: Path | None = None, templates: Path | None = None, *, html: bool = True) -> jinja2.Environment:
    """A jinja2 environment over the override folders and the shipped templates (see `markdown`)."""
    env = template_environment(home, templates, html=html)
    env.filters.update(short=short_hash, days=days_label)
    return env


def render(report: EvidenceReport, fmt: Format, *, home: Path | None = None, templates: Path | None = None) -> str:
    """The report as text in `fmt`."""
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"
    return render_template(environment(home, templates, html=fmt == "html"), TEMPLATES[fmt], r=report)


def short_hash(value: str | None, n: int = 12) -> str:
    return (value or "")[:n] or "—"


__all__ = ["TEMPLATES", "Format", "environment", "format_seconds", "md_escape", "render", "short_hash"]
