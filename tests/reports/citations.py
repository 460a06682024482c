"""Checking a review draft's citations against the journals they name (issue 15 item 7).

    check_review(home, facts)     # facts: `drillkit review draft --json`; raises AssertionError

Every sentence of the draft (summary, findings, resolution, what went well or poorly, notes) must
have a citation, every cite must name an entry that exists (`<journal id>#<seq>`) or the record's
summary (`<id>/summary.json`), and every number the sentence states must be one the cited sources
hold: a value (or a number inside a recorded string), a sum of one key over the cited entries, a
count of cited entries of one kind, a list's length or a position in it, or the time between two
cited entries — shown as a percentage, in minutes or hours, at the precision the text prints it.
A time of day (`10:00:12`) must be a cited entry's. The figures of the impact, detection and
resolution sections are checked the same way against their own cites (`CHECKED`, the SLO rows,
each rollback step, the answers served during the breach).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from drillkit.journal.verify import read_journal

#: A number standing on its own: not part of a name (`p95`, `sim-pro-2025-06`, `l7`, `8s`).
NUMBER = re.compile(r"(?<![\w.\-/#])\d+(?:\.\d+)?(?![\w\-/])")
CLOCK = re.compile(r"\b(\d{2}):(\d{2}):(\d{2})\b")
SCALES = (1.0, 100.0, 1 / 60, 1 / 3600)
#: The figures checked as values (costs and the window length are derived by formulas, not read).
CHECKED = ("requests_total", "requests_affected", "errors_affected", "ttd_s", "detect_lag_s", "target_s",
           "diagnosed_s", "rollback_s", "ttr_s", "rto_target_s", "envelope_s", "traffic_minutes")  # fmt: skip


class Sources:
    """The journals and summaries of the records under a home, loaded as cites ask for them."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._journals: dict[str, dict[int, Any]] = {}

    def folder(self, ident: str) -> Path:
        for parent in ("runs", "incidents"):
            if (self.home / parent / ident).is_dir():
                return self.home / parent / ident
        raise AssertionError(f"cite names {ident!r}: no such run or incident under {self.home}")

    def entry(self, cite: str) -> Any:
        ident, _, seq = cite.rpartition("#")
        if ident not in self._journals:
            self._journals[ident] = {e.seq: e for e in read_journal(self.folder(ident) / "journal.jsonl")}
        entries = self._journals[ident]
        assert seq.isdigit() and int(seq) in entries, f"{cite}: no such entry"
        return entries[int(seq)]

    def resolve(self, cites: list[str]) -> tuple[list[Any], list[dict[str, Any]]]:
        """The cited entries and the cited summaries."""
        entries, summaries = [], []
        for cite in cites:
            if cite.endswith("/summary.json"):
                path = self.folder(cite.removesuffix("/summary.json")) / "summary.json"
                assert path.is_file(), f"{cite}: no summary"
                summaries.append(json.loads(path.read_text()))
            else:
                entries.append(self.entry(cite))
        return entries, summaries


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """(path, number) of every number in `value`, numbers inside strings included."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, float(value)
    elif isinstance(value, str):
        for token in re.findall(r"\d+(?:\.\d+)?", value):
            yield f"{path}~", float(token)
    elif isinstance(value, dict):
        numbers = [v for v in value.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers:
            yield f"{path}.*", float(sum(numbers))  # the total of a breakdown (answers by provider)
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        yield f"{path}#len", float(len(value))
        for i, v in enumerate(value, 1):
            yield f"{path}#pos", float(i)
            yield from _leaves(v, f"{path}[]")


def candidates(entries: list[Any], summaries: list[dict[str, Any]]) -> set[float]:
    """Every number the cited sources hold or directly add up to (see the module doc)."""
    found: set[float] = set()
    sums: Counter[str] = Counter()
    for data in [e.data for e in entries] + summaries:
        for path, number in _leaves(data):
            found.add(number)
            if not path.endswith("~") and "#" not in path:
                sums[path] += number
    found.update(sums.values())
    found.update(float(n) for n in Counter(e.kind for e in entries).values())
    found.add(float(len(entries)))
    for a, b in itertools.combinations(entries, 2):
        found.add(abs((b.time - a.time).total_seconds()))
    return found


def shown_as(token: str, found: set[float]) -> bool:
    """Whether `token` (as the text prints it) is one of `found`, at some scale, at its precision."""
    decimals = len(token.partition(".")[2])
    return any(f"{value * scale:.{decimals}f}" == token for value in found for scale in SCALES)


def check_statement(text: str, cites: list[str], sources: Sources, where: str) -> None:
    assert cites, f"{where}: {text!r} cites nothing"
    entries, summaries = sources.resolve(cites)
    found = candidates(entries, summaries)
    clocks = {datetime.fromisoformat(e.ts).strftime("%H:%M:%S") for e in entries}
    for clock in CLOCK.findall(text):
        assert ":".join(clock) in clocks, f"{where}: {text!r}: {':'.join(clock)} is no cited entry's time {cites}"
    bare = CLOCK.sub(" ", text)
    for token in NUMBER.findall(bare):
        assert shown_as(token, found), f"{where}: {text!r}: {token} is not in its sources {cites}"


def sentences(facts: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, text) of every sentence of the draft."""
    for key in ("summary", "went_well", "went_poorly", "notes"):
        for text in facts[key]:
            yield key, text
    for layer in facts["layers"]:
        for text in layer["findings"]:
            yield f"layers.{layer['key']}", text
    for key in ("lines", "verify", "restore"):
        for text in facts["resolution"][key]:
            yield f"resolution.{key}", text


def figures(facts: dict[str, Any]) -> Iterator[tuple[str, Any, list[str]]]:
    """(where, value, cites) of the figures the sections cite."""
    for section in ("impact", "detection", "resolution"):
        data = facts[section]
        for field, cites in data["cites"].items():
            if field.startswith("steps."):
                step = data["steps"][int(field.removeprefix("steps."))]
                yield f"{section}.{field}", step["duration_s"], cites
            elif field.startswith("slos."):
                slo = next(s for s in data["slos"] if s["slo"] == field.removeprefix("slos."))
                yield f"{section}.{field}", [slo["worst"], slo["windows"], data["worst_samples"].get(slo["slo"])], cites
            elif field == "served_during_breach":
                counts = [n for breakdown in data[field].values() for n in breakdown.values()]
                yield f"{section}.{field}", [*counts, *data["served_answers"].values()], cites
            elif field in CHECKED:
                yield f"{section}.{field}", data[field], cites


def check_review(home: Path, facts: dict[str, Any]) -> int:
    """Check every citation of one draft (see the module doc); returns how many sentences it checked."""
    sources = Sources(home)
    cited = {c["text"]: c["cites"] for c in facts["citations"]}
    checked = 0
    for where, text in sentences(facts):
        assert text in cited, f"{where}: {text!r} has no citation"
        check_statement(text, cited[text], sources, where)
        checked += 1
    for where, value, cites in figures(facts):
        entries, summaries = sources.resolve(cites)
        found = candidates(entries, summaries)
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                token = f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)
                assert shown_as(token, found), f"{where} = {v} is not in its sources {cites}"
    for row in facts["timeline"]:
        assert sources.entry(row["cite"]).seq == row["seq"], row
    return checked


__all__ = ["check_review", "check_statement"]
