"""The redaction step every incident record passes through before it touches disk.

Wraps `drillkit.journal.redact.Redactor.for_system(system)` (the built-in rules plus the
manifest's `redaction.rules`): one redactor per session, so the same value gets the same
placeholder across the journal, the summary and the evidence files of one incident. `policy`
is what `incident.started` records (`{"version", "rules"}`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drillkit.config.system import System


@dataclass
class Redaction:
    redact: Callable[[dict[str, Any]], dict[str, Any]]
    policy: dict[str, Any]

    @classmethod
    def for_system(cls, system: System | None) -> Redaction:
        from drillkit.journal.redact import Redactor

        redactor = Redactor.for_system(system)
        return cls(redact=redactor, policy=dict(redactor.policy))

    def text(self, text: str) -> str:
        """Redact free text (e.g. a file's content) the same way as a JSON string value."""
        return self.redact({"text": text})["text"]


__all__ = ["Redaction"]
