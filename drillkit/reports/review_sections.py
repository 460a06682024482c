"""What the run and incident reviews share: the typed record, and the sections built the same way.

    record = Record(entries, folder.name)         # each entry's typed event, parsed once
    record.first(Detected), record.all(Window)    # by model, never by kind string
    record.say("Detected after 2.1 s", entry)     # the text; its cite `<run id>#<seq>` is kept
    record.statements()                           # every sentence said, with its cites
    layers = new_layers(); diff_section(layers, record, against=...)
    review = assemble("run", record, timeline=..., impact=..., ...)

Citations: every statement and figure names the journal entries it was read from as
`<journal id>#<seq>` (the journal id is the run or incident id, the ledger's `id`; seq is the
entry's), so a reader (or a test) can check each against the record; a target the journal does not
hold (the RTO, the scenario's expectations) cites the summary, `<id>/summary.json`.

Sections both kinds build here: the layers (one per `LAYERS` key, a five-input diff's findings
per component), the resolution's judgement against the RTO, and the review itself (its times and
the evidence placeholder `review_facts.collect` fills). What differs (a run's windows and
detector, an incident's envelope checks and triage) is in `review_run` and `review_incident`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from drillkit.components.types import ComponentDiff
from drillkit.journal.events import Diff, Event
from drillkit.journal.writer import JournalEntry
from drillkit.reports.review_model import LAYERS, Evidence, Kind, Layer, Resolution, Review, Statement
from drillkit.reports.summaries import lenient

#: A component (or a scenario's layer) → the review layer it belongs to; anything else is operations.
COMPONENT_LAYER = {"model": "model", "provider": "model", "prompt": "prompt", "retrieval": "retrieval",
                   "tools": "tools", "inputs": "inputs"}  # fmt: skip

E = TypeVar("E", bound=Event)


class Record:
    """A journal's entries with their typed events (`JournalEntry.event`, parsed once), and the
    journal's id its citations name (`<id>#<seq>`)."""

    def __init__(self, entries: list[JournalEntry], fallback_id: str = "") -> None:
        self.entries = entries
        self.events = [e.event for e in entries]
        #: The journal's id: the run or incident id its first entry names (the ledger's id), else
        #: `fallback_id` (the record's folder name, which is the same id for every record drillkit writes).
        self.ident = _ident(self.events[0] if self.events else None) or fallback_id or "journal"
        self.cited: dict[str, list[str]] = {}  # each sentence said → its cites (merged when said twice)

    def __iter__(self) -> Iterator[tuple[JournalEntry, Event]]:
        return iter(zip(self.entries, self.events, strict=True))

    def pairs(self, model: type[E]) -> list[tuple[JournalEntry, E]]:
        """The entries whose event is a `model`, with it."""
        return [(e, ev) for e, ev in self if isinstance(ev, model)]

    def all(self, model: type[E]) -> list[E]:
        return [ev for ev in self.events if isinstance(ev, model)]

    def first(self, model: type[E]) -> E | None:
        return next((ev for ev in self.events if isinstance(ev, model)), None)

    def last(self, model: type[E]) -> E | None:
        return next((ev for ev in reversed(self.events) if isinstance(ev, model)), None)

    def entry(self, model: type[E]) -> JournalEntry | None:
        """The first entry whose event is a `model`."""
        return next((e for e, ev in self if isinstance(ev, model)), None)

    def pair(self, model: type[E], *, last: bool = False) -> tuple[JournalEntry, E] | None:
        """The first (or last) entry whose event is a `model`, with it."""
        pairs = self.pairs(model)
        return (pairs[-1] if last else pairs[0]) if pairs else None

    # -- citations ---------------------------------------------------------------------------

    @property
    def summary_cite(self) -> str:
        """Where a figure the journal does not hold was read: the record's summary."""
        return f"{self.ident}/summary.json"

    def cite(self, *entries: JournalEntry | tuple[JournalEntry, Event] | None) -> list[str]:
        """`<id>#<seq>` of each entry given (pairs and None accepted: None is skipped), in seq order."""
        seqs = sorted({(e[0] if isinstance(e, tuple) else e).seq for e in entries if e is not None})
        return [f"{self.ident}#{seq}" for seq in seqs]

    def say(self, text: str, *entries: JournalEntry | tuple[JournalEntry, Event] | None,
            summary: bool = False) -> str:  # fmt: skip
        """`text`, kept with the cites of `entries` (and the summary, with `summary`)."""
        return self.state(text, self.cite(*entries) + ([self.summary_cite] if summary else []))

    def state(self, text: str, cites: list[str]) -> str:
        """`text`, kept with `cites` (see `statements`)."""
        self.cited[text] = sorted({*self.cited.get(text, []), *cites}, key=_cite_order)
        return text

    def statements(self) -> list[Statement]:
        """Every sentence said so far, with its cites, in the order first said."""
        return [Statement(text=text, cites=cites) for text, cites in self.cited.items()]


def _cite_order(cite: str) -> tuple[str, int]:
    ident, _, seq = cite.rpartition("#")
    return (ident, int(seq)) if seq.isdigit() else (cite, 0)


def _ident(start: Event | None) -> str:
    """The journal's id as its first entry names it: the run id or the incident id."""
    if start is None:
        return ""
    return str(extra(start, "run_id") or extra(start, "incident_id") or "")


def extra(event: Event, key: str) -> Any:
    """A key the writer set, whether the event's model names it or keeps it as an extra."""
    if key in type(event).model_fields:
        return getattr(event, key)
    return (event.model_extra or {}).get(key)


def between(a: JournalEntry, b: JournalEntry) -> float:
    return round((b.time - a.time).total_seconds(), 3)


def clock(ts: str) -> str:
    return datetime.fromisoformat(ts).strftime("%H:%M:%S")


def first_line(text: Any) -> str:
    return str(text or "").strip().splitlines()[0][:200] if str(text or "").strip() else ""


# -- layers ------------------------------------------------------------------------------------


def new_layers() -> dict[str, Layer]:
    """One empty layer per `LAYERS` key, in order."""
    return {key: Layer(key=key, title=title) for key, title in LAYERS}


def layer_of(layers: dict[str, Layer], component: str | None) -> Layer:
    """The layer a component (or a scenario layer) belongs to: operations when it is none of the five."""
    return layers[COMPONENT_LAYER.get(component or "", "operations")]


def diff_section(layers: dict[str, Layer], record: Record, against: Callable[[Diff], str]) -> None:
    """Every five-input diff of the record, as findings of the layers it compared."""
    for entry, diff in record.pairs(Diff):
        diff_findings(layers, diff, against(diff), record, entry)


def diff_findings(layers: dict[str, Layer], diff: Diff, against: str, record: Record, entry: JournalEntry) -> None:
    def add(layer: Layer, text: str) -> None:
        layer.findings.append(record.say(text, entry))

    if diff.error:
        add(layers["operations"], f"Five-input diff {against} could not run: {diff.error}")
        return
    for name, data in (extra(diff, "components") or {}).items():
        layer = layer_of(layers, name)
        c = lenient(ComponentDiff, data if isinstance(data, dict) else {})
        if c.changed is True:
            layer.changed = True
            add(layer, f"Changed {against}: {c.summary} (confidence {c.confidence:.0%})")
        elif c.changed is None:
            layer.changed = layer.changed or None
            add(layer, f"Unknown {against}: {c.reason or c.summary or 'no data'}")
        else:
            layer.changed = bool(layer.changed)
            add(layer, f"Unchanged {against}: {c.summary}")


# -- resolution --------------------------------------------------------------------------------


def judge_rto(res: Resolution, measured: float | None) -> None:
    """Within the RTO or not, when there is a target and something measured against it (a run's
    time to recover, an incident's rollback time: never a run's rollback time, which is not a recovery)."""
    if res.rto_target_s is not None and measured is not None:
        res.within_rto = measured <= res.rto_target_s


# -- the review --------------------------------------------------------------------------------


def assemble(kind: Kind, record: Record, *, layers: dict[str, Layer], **sections: Any) -> Review:
    """The review of `record`: its start, end and duration, the sections given, and an empty
    evidence section (`review_facts.collect` fills it from the files)."""
    start, end = record.entries[0], record.entries[-1]
    return Review(
        kind=kind,
        started_at=start.ts,
        finished_at=end.ts,
        duration_s=between(start, end),
        layers=list(layers.values()),
        evidence=Evidence(journal="", entries=0, head="", chain_ok=True),
        **sections,
    )


__all__ = [
    "COMPONENT_LAYER",
    "Record",
    "assemble",
    "between",
    "clock",
    "diff_findings",
    "diff_section",
    "extra",
    "first_line",
    "judge_rto",
    "layer_of",
    "new_layers",
]
