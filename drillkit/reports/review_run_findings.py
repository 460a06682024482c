"""A run review's summary lines and what went well or poorly, each citing its journal entries.

The run's purpose (DESIGN §9.4) frames both: a rehearsal proves a rollback path when it passes; a
control is built to fail, and its review says what it proved (the rehearsal can fail, or, when it
passed, that the rehearsal cannot tell a broken rollback from a working one); an exploratory run
proves nothing about a path and says so.
"""

from __future__ import annotations

from drillkit.journal.events import FaultInjected, RunStarted, Window
from drillkit.journal.events import RollbackStep as RollbackStepDone
from drillkit.journal.events import format_seconds as secs
from drillkit.reports.review_model import Review
from drillkit.reports.review_run_layers import reasons_of
from drillkit.reports.review_run_record import Run


def run_findings(r: Review, run: Run) -> tuple[list[str], list[str], list[str]]:
    well, poorly = _judgement(r, run)
    reasons, cites = reasons_of(run)
    if not (r.purpose == "control" and r.as_expected):  # a control's failure is its design: said in the summary
        poorly.extend(run.record.state(reason, cites) for reason in reasons)
    poorly.extend(_rollback_impact(run))
    return _summary_lines(r, run), well, poorly


# -- the summary -------------------------------------------------------------------------------


def _summary_lines(r: Review, run: Run) -> list[str]:
    record = run.record
    lines = _purpose_lines(r, run)
    faults = record.pairs(FaultInjected)
    if faults:
        named = ", ".join(f"{f.type} on {f.target or f.name}" for _, f in faults)
        lines.append(record.say(f"Faults: {named}.", *faults))
    d, res = r.detection, r.resolution
    if d.ttd_s is not None:
        lines.append(record.state(f"Detected after {d.ttd_s:.1f} s ({', '.join(d.slos)}).", d.cites["ttd_s"]))
    else:
        lines.append(record.state(d.how[:1].upper() + d.how[1:] + ".", d.cites.get("how", [])))
    if res.rollback_s is not None and res.mode != "manual":
        steps = f", {len(res.steps)} step(s)" if res.steps else ""
        text = f"The rollback ({res.mode or 'auto'}{steps}) took {secs(res.rollback_s)}."
        lines.append(record.state(text, [*res.cites["rollback_s"], *record.cite(run.rollback_started)]))
    lines.extend(res.lines)
    if res.ttr_s is not None:
        rto = f" (RTO {secs(res.rto_target_s)})" if res.rto_target_s is not None else ""
        text = f"Recovered {secs(res.ttr_s)} after the fault{rto}."
        lines.append(record.state(text, [*res.cites["ttr_s"], *res.cites.get("rto_target_s", [])]))
    i = r.impact
    if i.requests_affected is not None:
        text = f"{i.requests_affected} of {i.requests_total or '?'} requests fell in the breach."
        lines.append(record.state(text, [*i.cites["requests_affected"], *i.cites.get("requests_total", [])]))
    return lines


def _purpose_lines(r: Review, run: Run) -> list[str]:
    record = run.record
    head = f"{r.source} against {r.system or 'the system'}: verdict {r.outcome}"
    cites = (record.entry(RunStarted), run.finished)
    if r.purpose == "control":
        return [
            record.say(f"Control run {head}. A control is built to fail (a rollback that does nothing, a fallback "
                       "that is down): it shows whether this rehearsal can fail at all.", *cites, summary=True),
            control_proved(r, run),
        ]  # fmt: skip
    if r.purpose == "exploratory":
        return [record.say(f"Exploratory run {head}. It was run to learn, not to prove a rollback path: it counts "
                           "for nothing in the rollback evidence.", *cites, summary=True)]  # fmt: skip
    return [record.say(f"Game-day rehearsal {head}.", *cites)]


def control_proved(r: Review, run: Run) -> str:
    """What a control proved: that the rehearsal can fail, or nothing."""
    reasons, cites = reasons_of(run)
    if r.outcome == "aborted":
        why = f" ({reasons[0]})" if reasons else ""
        return run.record.state(f"The control was aborted{why}: it proved nothing.", cites)
    if r.outcome == "pass":
        return run.record.state(
            "What the control proved: nothing. It passed, so this rehearsal did not notice that its rollback does "
            "nothing (or that its fallback is down): its passing runs prove nothing about the rollback path until "
            "its detection, recovery or verify checks catch this.",
            cites,
        )
    steps = run.record.pairs(RollbackStepDone)
    how = ", ".join(repr(s.name) for _, s in steps) or r.resolution.mode or "none"
    shown = "; ".join(reasons[:3]) or "see the reasons the verdict records"
    return run.record.state(
        f"What the control proved: the rehearsal can fail. With this rollback ({how}) it failed as designed: "
        f"{shown}. A passing run of the same rehearsal is therefore evidence that its real rollback works.",
        [*cites, *run.record.cite(*steps)],
    )


# -- judgement hints ---------------------------------------------------------------------------


def _judgement(r: Review, run: Run) -> tuple[list[str], list[str]]:
    record = run.record
    well: list[str] = []
    poorly: list[str] = []
    d, res = r.detection, r.resolution
    if d.ttd_s is not None and d.target_s is not None:
        text = f"Detection in {d.ttd_s:.1f} s against a target of {d.target_s:g} s"
        (well if d.ttd_s <= d.target_s else poorly).append(record.state(text, d.cites["ttd_s"] + d.cites["target_s"]))
    if res.steps:
        failed = [i for i, s in enumerate(res.steps) if s.ok is False]
        if failed:
            text = f"Rollback steps failed: {', '.join(res.steps[i].name for i in failed)}"
            poorly.append(record.state(text, [c for i in failed for c in res.cites[f"steps.{i}"]]))
        else:
            text = f"Every rollback step succeeded ({len(res.steps)}), in {secs(res.rollback_s)}"
            steps = [c for i in range(len(res.steps)) for c in res.cites[f"steps.{i}"]]
            well.append(record.state(text, [*steps, *res.cites["rollback_s"]]))
    if res.within_rto is not None and res.ttr_s is not None:
        text = f"Recovery {secs(res.ttr_s)} after the fault, against the RTO of {secs(res.rto_target_s)}"
        (well if res.within_rto else poorly).append(record.state(text, res.cites["ttr_s"] + res.cites["rto_target_s"]))
    if run.absorbed is not None:
        held = run.absorbed[1].held_s
        text = "The system absorbed the fault: no SLO breached" + (f" for {secs(held)}" if held is not None else "")
        well.append(record.say(text, run.absorbed))
    if r.purpose == "control" and r.outcome == "pass":
        poorly.append(control_proved(r, run))
    return well, poorly


def _rollback_impact(run: Run) -> list[str]:
    """The breaches the rollback itself started (the `rollback.impact` entry), said as such, with
    the requests and errors of those windows (the sample its rates rest on)."""
    if run.impact is None or not run.impact[1].breached:
        return []
    entry, impact = run.impact
    worst = ", ".join(f"{name} {impact.slos[name]:g}" for name in impact.breached if name in impact.slos)
    first = impact.first_window
    windows = [(e, w) for e, w in run.record.pairs(Window)
               if first is not None and w.index is not None and w.index >= first and e.seq < entry.seq]  # fmt: skip
    windows = windows[: impact.windows]
    shown = [f"worst {worst}"] if worst else []
    if windows:
        errors, requests = sum(int(w.errors or 0) for _, w in windows), sum(int(w.count or 0) for _, w in windows)
        shown.append(f"{errors} errors of {requests} requests in those windows")
    text = f"The rollback itself breached {', '.join(impact.breached)} in the {impact.windows} windows after it began"
    return [run.record.say(text + (f" ({'; '.join(shown)})" if shown else ""), entry, *windows)]
