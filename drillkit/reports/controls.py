"""Which regulatory clauses the rollback evidence speaks to, and how much of each it supports.

Each control states, in our own words, what the clause asks (paraphrased from the texts; the
report says so and points to the official wording), and an assessment that looks at the report's
data and answers with a status and one sentence naming the evidence:

- `supported`: the evidence in this report covers what the clause asks, for the period;
- `partial`: some evidence, or evidence that covers only part of the clause (the sentence says which);
- `gap`: nothing in the period supports it.

An assessment is a reading aid for a risk reviewer, not a legal opinion; the sentence always names
the runs, paths or records it counted so the reader can check it. Only rehearsals count as evidence
of a rollback path (DESIGN §9.4); controls are named where they show the rehearsals can fail, and
every journal, whatever its run's purpose, counts as a logged event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from drillkit.reports.evidence_chart import seconds_label
from drillkit.reports.evidence_model import PATHS, ControlRow, parse_time

if TYPE_CHECKING:
    from drillkit.reports.evidence_model import EvidenceReport

Assessment = tuple[str, str]  # (status, evidence sentence)


@dataclass(frozen=True)
class Facts:
    """What the assessments count, computed once from the report."""

    report: EvidenceReport
    reviews: int
    paths_ok: list[str]
    paths_year: list[str]
    scenarios: list[str]

    @property
    def runs(self) -> int:
        return self.report.totals.runs


@dataclass(frozen=True)
class Control:
    framework: str
    clause: str
    asks: str
    assess: Callable[[Facts], Assessment]


def _paths(names: list[str]) -> str:
    return ", ".join(PATHS.get(n, n).lower() for n in names) or "none"


def _level(count: int, full: int) -> str:
    return "supported" if count >= full else "partial" if count else "gap"


def _dora_11_6(f: Facts) -> Assessment:
    n, t = len(f.paths_year), f.report.totals
    controls = (
        f" {t.controls_as_expected} of {t.controls} control run(s) failed as designed, showing the rehearsals can "
        "fail; controls are not counted as rehearsals."
        if t.controls
        else ""
    )
    return _level(n, len(PATHS)), (
        f"{n} of {len(PATHS)} rollback paths passed a rehearsal in the 12 months before the end of the period "
        f"({_paths(f.paths_year)}); each rehearsal is a dated, hash-chained journal. Re-rehearsing after a "
        f"substantive change is a team practice this report cannot see.{controls}"
    )


def _dora_12_2(f: Facts) -> Assessment:
    t = f.report.totals
    if not t.runs:
        return "gap", "No rollback rehearsal in the period."
    median = seconds_label(t.median_rollback_s) if t.median_rollback_s is not None else "n/a"
    status = "supported" if t.passed and t.within_rto == t.runs else "partial"
    return status, (
        f"{t.runs} rehearsal(s) restored service through a rollback path with measured times: {t.passed} passed, "
        f"median rollback {median}, {t.within_rto} of {t.runs} recovered within the RTO target."
    )


def _dora_13_2(f: Facts) -> Assessment:
    incidents = f.report.totals.incidents
    if not incidents and not f.reviews:
        return "gap", "No incident and no review draft in the period."
    status = "supported" if f.reviews and f.reviews >= incidents else "partial"
    return status, (
        f"{f.reviews} review draft(s) compare what the journals show with the runbook steps; "
        f"{incidents} incident journal(s) record which step ran, when, and with what outcome."
    )


def _dora_24_25(f: Facts) -> Assessment:
    n, paths = len(f.scenarios), len({r.path for r in f.report.runs})
    status = "supported" if n >= 3 and paths >= 3 else "partial" if n else "gap"
    listed = ", ".join(f.scenarios[:8]) + (" …" if n > 8 else "")
    return status, (
        f"{n} distinct scenario(s) over {paths} layer(s), each an end-to-end test under load against the "
        f"running service ({listed or 'none'})."
    )


def _ai_act_12(f: Facts) -> Assessment:
    i = f.report.integrity
    if not i.ok:
        return "gap", f"Journals exist but the integrity check found {i.errors} problem(s): see the integrity section."
    runs = [*f.report.runs, *f.report.control_runs, *f.report.exploratory_runs]
    recorded = sum(r.recorded for r in runs) + sum(x.recorded for x in f.report.incidents)
    total = len(runs) + f.report.totals.incidents
    status = "supported" if total and recorded == total else "partial"
    return status, (
        f"Every run and incident writes its events as they happen to an append-only, hash-chained journal; "
        f"{recorded} of {total} in the period are entered in the signed ledger ({i.ledger_entries} entries)."
    )


def _ai_act_14_4_e(f: Facts) -> Assessment:
    stops = [r for r in f.report.runs if r.verdict == "pass" and _is_stop(r.scenario + " " + r.title)]
    if stops:
        best = min((r.rollback_s for r in stops if r.rollback_s is not None), default=None)
        took = f", fastest {seconds_label(best)}" if best is not None else ""
        return "supported", f"{len(stops)} passing rehearsal(s) of stopping the system into a safe state{took}."
    fallback = "provider" in f.paths_ok
    return ("partial" if fallback or f.paths_ok else "gap"), (
        "Rollback rehearsals show the system can be put back into a known state "
        f"({_paths(f.paths_ok)}); no scenario in the period rehearses a full stop (kill switch)."
    )


def _ai_act_15_4(f: Facts) -> Assessment:
    have = [p for p in ("provider", "model") if p in f.paths_ok]
    return _level(len(have), 2), (
        f"Redundancy rehearsed and current: {_paths(have)} (the provider fallback and the previous model "
        "version kept warm are the two backup plans this report looks for)."
    )


def _ai_act_20_1(f: Facts) -> Assessment:
    done = sum(rb.ok is True for i in f.report.incidents for rb in i.rollbacks)
    return _level(len(f.paths_ok), len(PATHS)), (
        f"Corrective rollbacks rehearsed and current on {len(f.paths_ok)} of {len(PATHS)} paths "
        f"({_paths(f.paths_ok)}); {done} rollback(s) carried out during incidents."
    )


def _ai_act_73(f: Facts) -> Assessment:
    incidents = f.report.incidents
    if not incidents:
        return "partial", (
            "No incident in the period. The triage runbook timestamps every step (the incident clock) and holds "
            "evidence before any rollback."
        )
    with_rollback = [i for i in incidents if i.rollbacks]
    held = [i for i in with_rollback if i.evidence_held]
    status = "supported" if len(held) == len(with_rollback) else "partial"
    return status, (
        f"{len(incidents)} incident(s) with a timestamped journal from the first step; evidence was held before "
        f"altering the system in {len(held)} of the {len(with_rollback)} that rolled something back."
    )


def _nist_2_3(f: Facts) -> Assessment:
    resolved = sum(i.outcome == "resolved" for i in f.report.incidents)
    status = "supported" if resolved else "partial" if f.runs else "gap"
    return status, (
        f"{resolved} incident(s) resolved by following a runbook's layered diagnosis; {f.runs} rehearsal(s) "
        "practise the response itself (detect, diagnose, roll back), which does not depend on knowing the "
        "risk in advance."
    )


def _nist_2_4(f: Facts) -> Assessment:
    return _level(len(f.paths_ok), 3), (
        f"Mechanisms to supersede or disengage a component, rehearsed and current: {_paths(f.paths_ok)}; "
        "each run names its operator."
    )


def _nist_4_1(f: Facts) -> Assessment:
    detected = sum(r.ttd_s is not None for r in f.report.runs)
    status = "supported" if detected and f.report.totals.incidents else "partial" if detected else "gap"
    return status, (
        f"SLO monitoring detected the injected failure in {detected} rehearsal(s); "
        f"{f.report.totals.incidents} incident(s) went through triage, recovery and change review."
    )


def _nist_4_3(f: Facts) -> Assessment:
    incidents = f.report.incidents
    if not incidents:
        return "partial", "No incident in the period; incidents are tracked as journals in the signed ledger."
    recorded = sum(i.recorded for i in incidents)
    status = "supported" if recorded == len(incidents) else "partial"
    return status, f"{len(incidents)} incident(s) documented, {recorded} in the signed ledger; {f.reviews} review(s)."


def _iso_a626(f: Facts) -> Assessment:
    status = "supported" if f.runs else "partial"
    return status, (
        "Operation is documented as executable runbooks and scenarios with SLO objectives; "
        f"{f.runs} rehearsal(s) and {f.report.totals.incidents} incident(s) show them in use."
    )


def _iso_a628(f: Facts) -> Assessment:
    status, _ = _ai_act_12(f)
    journals = f.report.totals.all_runs + f.report.totals.incidents
    state = "intact" if f.report.integrity.ok else "FAILED"
    return status, (
        f"Event logs: {journals} journal(s) in the period, kept under the drillkit home and bound by the signed "
        f"ledger (integrity {state})."
    )


def _soc2_cc74(f: Facts) -> Assessment:
    n = f.report.totals.incidents
    return ("supported" if n else "partial"), (
        f"{n} incident response(s) executed step by step from a defined runbook, with the steps' outcomes journaled."
        if n
        else "No incident in the period; the response programme is rehearsed by the game-days listed."
    )


def _soc2_cc75(f: Facts) -> Assessment:
    return _level(len(f.paths_ok), len(PATHS)), (
        f"Recovery is tested periodically: {len(f.paths_ok)} of {len(PATHS)} rollback paths proven by a passing "
        "rehearsal within their cadence (the manifest's rehearse_every, default "
        f"{f.report.overdue_days} days)."
    )


def _is_stop(text: str) -> bool:
    text = text.lower()
    return any(word in text for word in ("kill switch", "kill-switch", "disable", "safe state", "shutdown", "stop"))


CONTROLS = (
    Control("DORA", "Art. 11(6)", "Test the ICT response and recovery plans at least yearly and after substantive "
            "changes.", _dora_11_6),
    Control("DORA", "Art. 12(2)", "Test backup, restoration and recovery procedures periodically.", _dora_12_2),
    Control("DORA", "Art. 13(2)", "Review incidents to check that procedures were followed and actions were "
            "effective.", _dora_13_2),
    Control("DORA", "Art. 24–25", "Run a resilience testing programme, including scenario-based and end-to-end "
            "tests.", _dora_24_25),
    Control("EU AI Act", "Art. 12", "Log events automatically over the lifetime of the system.", _ai_act_12),
    Control("EU AI Act", "Art. 14(4)(e)", "Provide a way to interrupt the system or bring it to a halt in a safe "
            "state.", _ai_act_14_4_e),
    Control("EU AI Act", "Art. 15(4)", "Achieve robustness through redundancy, such as backup or fail-safe plans.",
            _ai_act_15_4),
    Control("EU AI Act", "Art. 20(1)", "Take corrective action at once: bring the system into conformity, withdraw, "
            "disable or recall it.", _ai_act_20_1),
    Control("EU AI Act", "Art. 73", "Report serious incidents within the deadlines, and do not alter the system in a "
            "way that affects its later evaluation before informing the authorities.", _ai_act_73),
    Control("NIST AI RMF", "MANAGE 2.3", "Have procedures to respond to and recover from risks not known in advance.",
            _nist_2_3),
    Control("NIST AI RMF", "MANAGE 2.4", "Have mechanisms to supersede, disengage or deactivate AI systems that "
            "behave outside their intended use.", _nist_2_4),
    Control("NIST AI RMF", "MANAGE 4.1", "Monitor after deployment, including incident response, recovery and change "
            "management.", _nist_4_1),
    Control("NIST AI RMF", "MANAGE 4.3", "Track and document incidents and errors.", _nist_4_3),
    Control("ISO/IEC 42001", "A.6.2.6", "Define and document how the AI system is operated and monitored.",
            _iso_a626),
    Control("ISO/IEC 42001", "A.6.2.8", "Record event logs and keep them while the system is in use.", _iso_a628),
    Control("SOC 2", "CC7.4", "Respond to identified incidents by executing a defined incident-response programme.",
            _soc2_cc74),
    Control("SOC 2", "CC7.5", "Recover from identified incidents, including periodic testing of recovery plans.",
            _soc2_cc75),
)  # fmt: skip


def assess_controls(report: EvidenceReport, home: Path) -> list[ControlRow]:
    until = parse_time(report.period.until)
    paths_year = [
        c.path
        for c in report.cadence
        if c.path in PATHS and c.last_pass and until and (until - parse_time(c.last_pass)) <= timedelta(days=366)
    ]
    facts = Facts(
        report=report,
        reviews=count_reviews(home, report),
        paths_ok=[c.path for c in report.cadence if c.status == "ok" and c.path in PATHS],
        paths_year=paths_year,
        scenarios=sorted({r.scenario for r in report.runs if r.scenario}),
    )
    rows = []
    for control in CONTROLS:
        status, evidence = control.assess(facts)
        rows.append(
            ControlRow(framework=control.framework, clause=control.clause, asks=control.asks, evidence=evidence,
                       status=status)
        )  # fmt: skip
    return rows


def count_reviews(home: Path, report: EvidenceReport) -> int:
    """Runs and incidents in the period with a review draft (`drillkit review draft --out`): a file
    named review* next to the journal, or a file under <home>/reviews/ naming the run or incident id."""
    ids = [(r.id, Path(home) / r.journal) for r in report.runs] + [
        (i.id, Path(home) / i.journal) for i in report.incidents
    ]
    shelf = [p for p in (Path(home) / "reviews").glob("**/*") if p.is_file()]
    texts = {p: _head(p) for p in shelf}
    return sum(
        any(journal.parent.glob("review*")) or any(ident in p.name or ident in texts[p] for p in shelf)
        for ident, journal in ids
    )


def _head(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.read(20_000)
    except OSError:
        return ""


__all__ = ["CONTROLS", "Control", "assess_controls", "count_reviews"]
