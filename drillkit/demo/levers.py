"""The demo service's levers (its rollback paths), persisted in `<workdir>/state.json`.

State (JSON, written atomically: temp file in the same folder + `os.replace`)::

    {"route": "primary",                 # provider the router tries first
     "pinned_model": null,               # override of the FIRST manifest provider's model; null = manifest
     "prompt": {"active": "v3", "history": ["v3", "v4-terse"]},
     "corpus": {"active": "c1a2b3c4d", "history": ["c0f9e8d7c", "c1a2b3c4d"]},
     "degrade": false,                   # graceful degradation (below)
     "kill_switch": false,               # the AI feature off: a static answer (below)
     "updated_at": "2026-11-28T07:30:00Z"}

`history` is a stack whose last entry is the active version: activating a version pushes it
(activating the active one again is a no-op), and `previous` pops the top so the version below it
becomes active again; a second `previous` goes back one more step.  With nothing below the top,
`previous` is an error (`LeverError`, HTTP 400).  History keeps the last `HISTORY_LIMIT` entries.

`degrade` trades a little quality for time, for as long as it is on: the fast provider (the last
one in manifest order: the demo's `fallback`, a small model that answers in one sentence) is tried
first whatever the route says, and the service asks for less (a shorter context, a shorter
answer: `drillkit.demo.answer_modes`).  `kill_switch` turns the AI feature off: every answer is
a static one, no provider is called.  The kill switch wins over everything else.

`reset` puts route, pin and prompt back to their defaults (first provider, no pin, `v3`, pushed on
the prompt history so it is itself undoable) and turns `degrade` and `kill_switch` off; the corpus
is left alone because resetting it would overwrite documents an operator edited on purpose; roll
it back with the corpus lever instead.

Writers: the demo service is the only program that writes the file (`drillkit demo ctl` goes
through its HTTP API).  A hand edit is picked up (the file is re-read when its inode, mtime or
size changes), and every entry is validated on load: prompt versions must be file stems
(`VERSION_NAME`), corpus versions ids (`VERSION_ID`).  A file that does not validate is ignored
and the defaults apply, as for a corrupt one; the next lever write replaces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationError, computed_field

from drillkit.demo.files import WatchedFile, write_text_atomic
from drillkit.errors import InputError

DEFAULT_PROMPT = "v3"
HISTORY_LIMIT = 100
PREVIOUS = "previous"
#: Version names are file stems: no path separators, no leading dot.
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Corpus version ids: "c" + 8 hex digits of the content hash (`drillkit.demo.corpus`).
VERSION_ID = re.compile(r"^c[0-9a-f]{8}$")
PromptVersion = Annotated[str, StringConstraints(pattern=VERSION_NAME.pattern)]
CorpusVersion = Annotated[str, StringConstraints(pattern=VERSION_ID.pattern)]


class LeverError(InputError):
    """A lever was given a bad value; `status` is the HTTP status the admin API answers (400/404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class VersionHistory(BaseModel):
    """A stack of activated versions; the last one is active."""

    history: list[str] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> str | None:
        return self.history[-1] if self.history else None

    def push(self, version: str) -> None:
        if self.active != version:
            self.history.append(version)
            del self.history[:-HISTORY_LIMIT]

    def previous(self, what: str) -> str:
        """The version `previous` refers to (the one below the top); LeverError if there is none."""
        if len(self.history) < 2:
            raise LeverError(f"no previous {what} version to go back to (history: {self.history})")
        return self.history[-2]

    def pop(self) -> None:
        if len(self.history) >= 2:
            self.history.pop()


class PromptHistory(VersionHistory):
    history: list[PromptVersion] = []


class CorpusHistory(VersionHistory):
    history: list[CorpusVersion] = []


class LeverState(BaseModel):
    route: str
    pinned_model: str | None = None
    prompt: PromptHistory = Field(default_factory=lambda: PromptHistory(history=[DEFAULT_PROMPT]))
    corpus: CorpusHistory = Field(default_factory=CorpusHistory)
    degrade: bool = False
    kill_switch: bool = False
    updated_at: str | None = None


class Levers:
    """Lever state of one demo workdir.

    `providers` are the manifest's provider names in manifest order (the first is the default
    route and the one `pinned_model` applies to); `prompts_dir` holds `<version>.md` templates.
    Every mutator validates, persists and returns the new state.  Corpus versions are validated by
    `drillkit.demo.corpus.LiveCorpus`, which owns the corpus files and calls `record_corpus`.
    """

    def __init__(self, path: Path, providers: Sequence[str], prompts_dir: Path) -> None:
        if not providers:
            raise InputError("the demo service needs at least one provider in drillkit.yaml")
        self.path = path
        self.providers = list(providers)
        self.prompts_dir = prompts_dir
        self._file = WatchedFile(path, self._read, self._defaults)

    # -- reading -------------------------------------------------------------------------------

    @property
    def state(self) -> LeverState:
        """The current state (re-read from disk when the file changed)."""
        return self._file.get()

    def provider_order(self, state: LeverState | None = None) -> list[str]:
        """Provider names in the order the router tries them: route first, then manifest order;
        with `degrade` on, the fast provider (the last in manifest order) before them all."""
        state = state or self.state
        order = [state.route, *(p for p in self.providers if p != state.route)]
        if state.degrade:
            fast = self.providers[-1]
            order = [fast, *(p for p in order if p != fast)]
        return order

    # -- levers --------------------------------------------------------------------------------

    def set_route(self, provider: str) -> LeverState:
        if not isinstance(provider, str) or provider not in self.providers:
            raise LeverError(f"unknown provider {provider!r}; expected one of {self.providers}", 404)

        def apply(s: LeverState) -> None:
            s.route = provider

        return self._update(apply)

    def pin(self, model: str | None) -> LeverState:
        """Pin the first provider's model (None unpins). Any name is accepted: an unknown model
        fails at the provider, which is exactly what a bad pin does in a real system."""
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise LeverError("model must be a non-empty string (or null to unpin)")

        def apply(s: LeverState) -> None:
            s.pinned_model = model.strip() if model else None

        return self._update(apply)

    def set_degrade(self, on: bool) -> LeverState:
        """Graceful degradation on or off (module doc)."""

        def apply(s: LeverState) -> None:
            s.degrade = _flag(on)

        return self._update(apply)

    def set_kill_switch(self, on: bool) -> LeverState:
        """The AI feature off (`on`: every answer is the static one) or back on."""

        def apply(s: LeverState) -> None:
            s.kill_switch = _flag(on)

        return self._update(apply)

    def activate_prompt(self, version: str) -> LeverState:
        """Activate `prompts/<version>.md`, or go back one step with `previous`."""
        if version == PREVIOUS:
            self.state.prompt.previous("prompt")  # raises before anything is written
            return self._update(lambda s: s.prompt.pop())
        self.prompt_path(version)  # validates
        return self._update(lambda s: s.prompt.push(version))

    def prompt_path(self, version: str) -> Path:
        """The template file of a prompt version; LeverError (404) if it does not exist."""
        if not isinstance(version, str) or not VERSION_NAME.match(version):
            raise LeverError(f"bad prompt version name {version!r}")
        path = self.prompts_dir / f"{version}.md"
        if not path.is_file():
            available = sorted(p.stem for p in self.prompts_dir.glob("*.md"))
            raise LeverError(f"no prompt version {version!r} (available: {available})", 404)
        return path

    def record_corpus(self, version: str, *, rollback: bool = False) -> LeverState:
        """Record that corpus `version` is now live: pushed, or with `rollback` the top popped."""

        def apply(s: LeverState) -> None:
            if rollback and len(s.corpus.history) >= 2 and s.corpus.history[-2] == version:
                s.corpus.pop()
            else:
                s.corpus.push(version)

        state = self.state
        if state.corpus.active == version and not rollback:
            return state  # the common case on every refresh: nothing to write
        return self._update(apply)

    def reset(self) -> LeverState:
        """Route, pin and prompt back to defaults, degrade and kill switch off; the corpus is
        untouched (see module doc)."""

        def apply(s: LeverState) -> None:
            s.route = self.providers[0]
            s.pinned_model = None
            s.prompt.push(DEFAULT_PROMPT)
            s.degrade = s.kill_switch = False

        return self._update(apply)

    # -- persistence ---------------------------------------------------------------------------

    def _defaults(self) -> LeverState:
        return LeverState(route=self.providers[0])

    def _update(self, change: Callable[[LeverState], None]) -> LeverState:
        state = self.state.model_copy(deep=True)
        change(state)
        state.updated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        write_text_atomic(self.path, json.dumps(state.model_dump(mode="json"), indent=2) + "\n")
        self._file.wrote(state)
        return state

    def _read(self, path: Path) -> LeverState:
        try:
            state = LeverState.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError):
            # A corrupt, half-edited or invalid file must not take the service down (nor steer
            # it to files outside its folders): the defaults apply until the next lever write.
            return self._defaults()
        if state.route not in self.providers:
            state.route = self.providers[0]
        if not state.prompt.history:
            state.prompt.history = [DEFAULT_PROMPT]
        return state


def _flag(on: object) -> bool:
    if not isinstance(on, bool):
        raise LeverError(f"expected true or false (got {on!r})")
    return on


__all__ = [
    "DEFAULT_PROMPT",
    "PREVIOUS",
    "VERSION_ID",
    "VERSION_NAME",
    "LeverError",
    "LeverState",
    "Levers",
    "VersionHistory",
]
