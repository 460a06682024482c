"""The facts of a game-day run's review, read from its journal and summary.json.

Definitions (game-day runs; windows are the engine's SLO windows, see `drillkit.traffic.slo`):

- the breach: from the first window after the fault that breached an SLO to the last one that
  did; *requests affected* are every request in the windows of that span (the SLO judges the
  whole window), with the errors and the failed answers (eval count × (1 − pass rate)) among them;
- *served during the breach*: the providers and models the answers of that span named, each
  count said with the number of answers it is out of (the answers that named one);
- *time outside an SLO*: windows that breached that SLO × the window length (the median spacing
  of the window entries), after the fault;
- *extra cost*: Σ (cost per request − the pre-fault cost per request) × requests, over the breach;
- detection, rollback and recovery times are the engine's (`detected.ttd_s`, `rollback_s`,
  `ttr_s`): the rollback time is how long the rollback took (its steps, or the operator's
  confirmation in a manual run), the recovery time runs from the fault to the first healthy
  streak after the rollback; only the recovery is judged against the system's RTO.

Every figure and sentence cites the journal entries it was read from (`Record.say`,
`Review.citations`). What the sections read is `review_run_record.Run`; one function per section:
`run_impact` and `run_detection` (`review_run_impact`), `run_layers` and `run_resolution`
(`review_run_layers`), `run_findings` (`review_run_findings`); what they share with incident
reviews is in `review_sections`.
"""

from __future__ import annotations

from drillkit.reports.review_model import Review
from drillkit.reports.review_run_findings import run_findings
from drillkit.reports.review_run_impact import run_detection, run_impact
from drillkit.reports.review_run_layers import run_layers, run_resolution
from drillkit.reports.review_run_record import Run
from drillkit.reports.review_sections import Record, assemble
from drillkit.reports.review_timeline import run_timeline
from drillkit.reports.summaries import RunRecord


def run_review(record: Record, summary: RunRecord | None) -> Review:
    run = Run.of(record, summary)
    s, started = run.summary, run.started
    review = assemble(
        "run",
        record,
        id=s.run_id or started.run_id or "",
        title=s.title or started.title or "",
        outcome=run.verdict,
        purpose=run.purpose,
        as_expected=run.as_expected,
        severity=s.severity or started.severity or "",
        system=s.system or started.system or "",
        operator=s.operator or started.operator or "",
        source=s.scenario or started.scenario or "",
        layer=s.layer or "",
        rollback_path=s.rollback_path or started.rollback_path or s.layer or "",
        mode=started.mode or "",
        impact=run_impact(run),
        detection=run_detection(run),
        timeline=run_timeline(record, dict(started.slos)),
        layers=run_layers(run),
        resolution=run_resolution(run),
    )
    review.summary, review.went_well, review.went_poorly = run_findings(review, run)
    review.citations = record.statements()
    return review


__all__ = ["run_review"]
