"""What `drillkit evidence verify` reports: findings, each naming a file, where in it, and what is wrong."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from drillkit.journal.verify import ChainProblem

Severity = Literal["error", "warning"]


class Finding(BaseModel):
    """One problem: the file (relative to the home when inside it), where in it, and what is wrong."""

    severity: Severity
    file: str
    line: int | None = None
    seq: int | None = None
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


class Findings(list[Finding]):
    """The findings collected so far, with one-line adders."""

    def error(self, file: str, kind: str, message: str, line: int | None = None, seq: int | None = None) -> None:
        self.append(Finding(severity="error", file=file, line=line, seq=seq, kind=kind, message=message))

    def warning(self, file: str, kind: str, message: str, line: int | None = None, seq: int | None = None) -> None:
        self.append(Finding(severity="warning", file=file, line=line, seq=seq, kind=kind, message=message))

    def chain(self, file: str, problem: ChainProblem, severity: Severity = "error") -> None:
        self.append(
            Finding(severity=severity, file=file, line=problem.line, seq=problem.seq, kind=problem.kind,
                    message=problem.message)
        )  # fmt: skip


__all__ = ["Finding", "Findings", "Severity"]
