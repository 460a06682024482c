"""Render an `EvidenceReport` as HTML, Markdown or JSON with the jinja2 templates `evidence.html.j2`
and `evidence.md.j2`.

Templates are looked up in `--templates DIR` first, then `<home>/templates/`, then the shipped
`templates/`, so a team can restyle the page or reword a section by copying one file.

Escaping: the HTML template is rendered with autoescape on, so every value (scenario titles,
operator names, reasons quoted from journals: anything a model or a person typed) reaches the page
as text; the chart is drawn from numbers. The Markdown template escapes with the `md` filter, which
also neutralises HTML (many Markdown viewers render raw HTML) and table pipes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import jinja2

from drillkit.data import shipped_dir
from drillkit.errors import InputError
from drillkit.reports.evidence_model import EvidenceReport

Format = Literal["html", "md", "json"]
TEMPLATES = {"html": "evidence.html.j2", "md": "evidence.md.j2"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def environment(home: Path | None = None, templates: Path | None = None, *, html: bool = True) -> jinja2.Environment:
    """A jinja2 environment over the override folders and the shipped templates."""
    search = [p for p in (templates, home / "templates" if home else None) if p is not None]
    if templates is not None and not templates.is_dir():
        raise InputError(f"--templates {templates}: no such folder")
    search.append(shipped_dir("templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        autoescape=html,
        undefined=jinja2.StrictUndefined,  # a misspelt field in a team's template fails loudly
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(secs=format_seconds, md=md_escape, short=short_hash)
    return env


def render(report: EvidenceReport, fmt: Format, *, home: Path | None = None, templates: Path | None = None) -> str:
    """The report as text in `fmt`."""
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"
    env = environment(home, templates, html=fmt == "html")
    try:
        template = env.get_template(TEMPLATES[fmt])
        return template.render(r=report)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{exc.filename}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"{TEMPLATES[fmt]}: {exc.message}") from None


def format_seconds(value: float | None, digits: int = 1) -> str:
    """`1.6 s`, `5 min`; an em dash when there is no measurement."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.{digits}f} s"
    if value < 3600:
        return f"{value / 60:.{digits}f} min"
    return f"{value / 3600:.{digits}f} h"


def md_escape(value: object) -> str:
    """Text safe in a Markdown table cell: Markdown and HTML specials escaped, one line."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\\<", "&lt;").replace("\\>", "&gt;")


def short_hash(value: str | None, n: int = 12) -> str:
    return (value or "")[:n] or "—"


__all__ = ["TEMPLATES", "Format", "environment", "format_seconds", "md_escape", "render", "short_hash"]
