"""What the Markdown reports share: escaping, durations and the jinja2 template environment.

One escaping rule for every Markdown drillkit writes (the review draft, the evidence report), so a
value that is safe in one is safe in the other:

- `md_escape`: text inline in Markdown (a table cell, a list item): one line, HTML specials as
  entities (many viewers render raw HTML), the Markdown specials that make emphasis, code, links,
  images or table cells escaped; redaction placeholders (`<email:1>`) shown as code spans;
- `code`: an identifier as a code span (nothing inside a code span is interpreted);
- `block`: multi-line text (command output) as a fenced block.

Markdown environments pass every `{{ value }}` through `md_escape` (`finalize`), so a template
cannot forget it; markup a template means (`**overdue**`) is written in the template or built with
the `strong` / `code` filters, which return `Markup` and are not escaped again.

Templates are looked up in `--templates DIR`, then `<home>/templates/`, then the shipped
`templates/`, so a team can restyle a report by copying one file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from drillkit.data import shipped_dir
from drillkit.errors import InputError
from drillkit.journal.events import format_seconds  # the one definition: the timeline's sentences use it too

_SPACE = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ESCAPED_PLACEHOLDER = re.compile(r"&lt;([a-z][a-z0-9\\_-]*:\d+)&gt;")


def md_escape(value: Any) -> Markup:
    """Text safe inline in Markdown: one line, HTML and Markdown specials escaped (no links, no
    images, no tags, no table cells), redaction placeholders shown as code (`<email:1>`)."""
    if isinstance(value, Markup):
        return value
    text = _SPACE.sub(" ", "" if value is None else str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _ESCAPED_PLACEHOLDER.sub(lambda m: "`<" + m.group(1).replace("\\_", "_") + ">`", text)
    return Markup(text)


def code(value: Any) -> Markup:
    """An identifier as a code span (no escaping needed inside, whatever it contains)."""
    text = " ".join(("" if value is None else str(value)).split()) or "—"
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markup(f"{fence}{pad}{text}{pad}{fence}")


def block(value: Any) -> Markup:
    """Multi-line text (command output) as a fenced block: nothing in it is interpreted."""
    text = "" if value is None else str(value).rstrip()
    fence = "`" * max(3, max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    return Markup(f"{fence}text\n{text}\n{fence}")


def strong(value: Any) -> Markup:
    """Escaped text in bold."""
    return Markup(f"**{md_escape(value)}**")


def template_environment(home: Path | None, templates: Path | None, *, html: bool) -> jinja2.Environment:
    """Templates from `templates` (checked), then `<home>/templates/`, then the shipped ones.

    HTML is autoescaped; Markdown passes every value through `md_escape`."""
    if templates is not None and not templates.is_dir():
        raise InputError(f"--templates {templates}: no such folder")
    search = [p for p in (templates, home / "templates" if home else None) if p is not None]
    search.append(shipped_dir("templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        autoescape=html,
        finalize=None if html else md_escape,
        undefined=jinja2.StrictUndefined,  # a misspelt field in a team's template fails loudly
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, code=code, block=block, strong=strong, secs=format_seconds)
    return env


def render_template(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render `name`; a broken team template is an InputError naming its file and line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{exc.filename}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"{_template_file(env, name)}: {exc.message}") from None


def _template_file(env: jinja2.Environment, name: str) -> str:
    try:
        return env.loader.get_source(env, name)[1] or name  # type: ignore[union-attr]
    except jinja2.TemplateNotFound:
        return name


__all__ = ["block", "code", "format_seconds", "md_escape", "render_template", "strong", "template_environment"]
