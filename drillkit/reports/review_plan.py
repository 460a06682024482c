"""The review of a whole game-day (a plan run, `drillkit review draft PLAN_RUN`).

One draft for the day: what ran, in order, with each run's purpose, verdict and outcome; what was
skipped and why; what the rollbacks cost users; which SLOs no window could judge; which
notifications went out. Every statement cites its source: `<plan run id>#<seq>` for the plan's
journal, `<run id>/summary.json` for what only a run's summary holds. Each scenario's own review
is `drillkit review draft <run id>`; judgement is left to the authors as `> _Author: …_` prompts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drillkit.errors import InputError
from drillkit.journal.verify import read_journal
from drillkit.reports.markdown import md_escape


def find_plan(home: Path, ref: str) -> Path | None:
    """The plan run folder `ref` names (a folder, or an id under <home>/plans; a unique prefix)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path if path.parent.name == "plans" and (path / "journal.jsonl").is_file() else None
    parent = home / "plans"
    found = sorted(p for p in parent.iterdir() if p.name.startswith(ref)) if parent.is_dir() else []
    exact = [p for p in found if p.name == ref]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0]
    if len(found) > 1:
        raise InputError(f"{ref!r} matches {len(found)} plan runs: give more of the id")
    return None


def plan_facts(home: Path, folder: Path) -> dict[str, Any]:
    """The day's facts, each with its citation."""
    summary = _read(folder / "summary.json")
    plan_id = folder.name
    entries = read_journal(folder / "journal.jsonl")
    cite = {e.kind: f"{plan_id}#{e.seq}" for e in entries if e.kind in ("plan.started", "plan.finished")}
    runs = []
    for e in (e for e in entries if e.kind == "plan.run"):
        run = _read(home / "runs" / str(e.data.get("run_id")) / "summary.json")
        runs.append({**e.data, "cite": f"{plan_id}#{e.seq}", "summary": f"{e.data.get('run_id')}/summary.json",
                     "rollback_impact": run.get("rollback_impact"), "unjudged": run.get("unjudged", []),
                     "findings": run.get("findings", [])})  # fmt: skip
    skipped = [{**e.data, "cite": f"{plan_id}#{e.seq}"} for e in entries if e.kind == "plan.skipped"]
    sent = [{**e.data, "cite": f"{plan_id}#{e.seq}"} for e in entries if e.kind == "notify.sent"]
    return {"kind": "plan", "id": plan_id, "summary": summary, "cites": cite, "runs": runs, "skipped": skipped,
            "notifications": [{k: n.get(k) for k in ("event", "webhook", "ok", "attempts", "error", "cite")}
                              for n in sent]}  # fmt: skip


def render_plan(facts: dict[str, Any]) -> str:
    s, cites = facts["summary"], facts["cites"]
    e = md_escape
    lines = [f"# Game-day review: {e(s.get('title'))} ({e(s.get('plan'))})", ""]
    lines += [f"- Plan run: `{e(facts['id'])}`, {e(s.get('started_at'))} to {e(s.get('finished_at'))} "
              f"({s.get('duration_s')} s) [{cites.get('plan.started', '')}]",
              f"- Operator: {e(s.get('operator'))}; owner: {e(s.get('owner') or '_not set in the plan_')}; "
              f"system: {e(s.get('system') or 'each scenario’s own')}",
              f"- The day: **{e(str(s.get('verdict')).upper())}** ({e(s.get('outcome'))}): {len(facts['runs'])} ran, "
              f"{len(facts['skipped'])} skipped [{cites.get('plan.finished', '')}]", ""]  # fmt: skip
    lines += ["## What ran", "", "| # | scenario | purpose | verdict | outcome | TTD | rollback | TTR | source |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in facts["runs"]:
        lines.append(f"| {r.get('index')} | {e(r.get('scenario'))} | {e(r.get('purpose'))} | {e(r.get('verdict'))} | "
                     f"{e(r.get('outcome'))} | {_s(r.get('ttd_s'))} | {_s(r.get('rollback_s'))} | {_s(r.get('ttr_s'))} "
                     f"| {r['cite']} |")  # fmt: skip
    lines += ["", "## What went as designed, and what did not", ""]
    lines += _outcomes(facts)
    lines += ["", "## Skipped", ""] + (
        [f"- {e(k.get('scenario'))}: {e(k.get('why'))} [{k['cite']}]" for k in facts["skipped"]] or ["- Nothing."]
    )
    lines += ["", "## What the rollbacks cost, and what was never judged", "", *_costs(facts)]
    lines += ["", "## Notifications", ""] + (
        [f"- {e(n['event'])} to {e(n['webhook'])}: {'sent' if n['ok'] else 'FAILED: ' + e(n['error'])} "
         f"[{n['cite']}]" for n in facts["notifications"]] or ["- None configured."]
    )  # fmt: skip
    lines += ["", "## Each scenario's own review", ""]
    lines += [f"- `drillkit review draft {e(r.get('run_id'))}` ({e(r.get('scenario'))})" for r in facts["runs"]]
    lines += [
        "",
        "## Judgement",
        "",
        "> _Author: what did the day teach, and which rollback path needs work first?_",
        "",
    ]
    return "\n".join(lines)


def _outcomes(facts: dict[str, Any]) -> list[str]:
    e, out = md_escape, []
    for r in facts["runs"]:
        if r.get("purpose") == "control":
            proved = "the rehearsal can fail" if r.get("verdict") == "fail" else "nothing: it passed"
            out.append(f"- {e(r.get('scenario'))} (control) {e(r.get('verdict'))}: proves {proved} [{r['cite']}]")
        elif r.get("outcome") == "as_expected":
            out.append(f"- {e(r.get('scenario'))} ({e(r.get('purpose'))}): {e(r.get('verdict'))} [{r['cite']}]")
        else:
            why = "; ".join(str(x) for x in r.get("reasons") or []) or "see its review"
            out.append(f"- **{e(r.get('scenario'))} did not go as designed** ({e(r.get('verdict'))}): {e(why)} "
                       f"[{r['cite']}]")  # fmt: skip
    return out or ["- Nothing ran."]


def _costs(facts: dict[str, Any]) -> list[str]:
    e, out = md_escape, []
    for r in facts["runs"]:
        impact = r.get("rollback_impact") or {}
        if impact.get("breached"):
            worst = ", ".join(f"{k} {v:g}" for k, v in (impact.get("slos") or {}).items() if k in impact["breached"])
            out.append(f"- {e(r.get('scenario'))}: the rollback itself breached {e(', '.join(impact['breached']))} "
                       f"(worst {e(worst)}) [{r['summary']}]")  # fmt: skip
        if r.get("unjudged"):
            out.append(f"- {e(r.get('scenario'))}: never judged: {e(', '.join(r['unjudged']))} [{r['summary']}]")
    return out or ["- No rollback breached an SLO of its own, and every SLO was judged."]


def _s(value: Any) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
