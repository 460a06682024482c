"""The demo service's prompt templates: `<prompts_dir>/<version>.md`, jinja2, read live.

`PromptTemplates.render(version, context)` renders the template with one variable, `context`
(the document and tool blocks of `drillkit.demo.context`), in jinja's sandbox: `context` is a
value, never template source, so corpus text cannot inject template code.  A template is
compiled again when its file changes (`drillkit.demo.files.WatchedFile`).

Every failure is a `PromptError` (the service answers 500 `prompt_error`): a version whose file
would lie outside `prompts_dir` (a name with a path in it, a symlink out), a missing or
unreadable file, a file that is not UTF-8, a template that does not compile or render.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from drillkit.demo.files import WatchedFile
from drillkit.errors import ServiceError


class PromptError(ServiceError):
    """The active prompt version cannot be read or rendered."""


class PromptTemplates:
    """The prompt versions of one folder, compiled once per change of their file."""

    def __init__(self, prompts_dir: Path) -> None:
        self.prompts_dir = Path(prompts_dir)
        self._env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
        self._files: dict[str, WatchedFile[Template]] = {}

    def path(self, version: str) -> Path:
        """The file of `version`; PromptError unless it is a file directly inside `prompts_dir`."""
        path = self.prompts_dir / f"{version}.md"
        if path.resolve().parent != self.prompts_dir.resolve():
            raise PromptError(f"prompt {version!r} is not a file in {self.prompts_dir}")
        return path

    def render(self, version: str, context: str) -> str:
        """The rendered template of `version` (see the module doc for what raises PromptError)."""
        path = self.path(version)  # checked every time: the file may become a symlink later
        try:
            watched = self._files.get(version)
            if watched is None:
                watched = self._files[version] = WatchedFile(path, self._compile)
            return watched.get().render(context=context)
        except OSError as exc:
            raise PromptError(f"prompt {version!r} cannot be read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise PromptError(f"prompt {version!r} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        except TemplateError as exc:
            raise PromptError(f"prompt {version!r} cannot be rendered: {exc}") from None

    def _compile(self, path: Path) -> Template:
        return self._env.from_string(path.read_text(encoding="utf-8"))


__all__ = ["PromptError", "PromptTemplates"]
