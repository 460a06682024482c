"""Fingerprints of the five inputs (model, prompt, retrieval corpus, tools, inputs), snapshots and diffs.

    snapshot = await take_snapshot(system)              # every configured component, concurrently
    write_baseline(home, snapshot)                      # <home>/baseline.json: last known good
    report = await diff_live(system, home)              # live state vs the baseline -> DiffReport
    report.changed                                      # ["model", "retrieval"], canonical order

One module per component (`model.py`, `prompt.py`, `retrieval.py`, `tools.py`, `inputs.py`),
each with `async fingerprint(system) -> Fingerprint` and `compare(base, live, system) -> ComponentDiff`.
"""

from drillkit.components.snapshot import diff_live, diff_snapshots, read_baseline, take_snapshot, write_baseline
from drillkit.components.types import COMPONENTS, ComponentDiff, DiffReport, Fingerprint, Snapshot

__all__ = [
    "COMPONENTS",
    "ComponentDiff",
    "DiffReport",
    "Fingerprint",
    "Snapshot",
    "diff_live",
    "diff_snapshots",
    "read_baseline",
    "take_snapshot",
    "write_baseline",
]
