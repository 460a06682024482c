"""`drillkit gameday run PLAN`: a `kind: GameDay` file, or a shipped plan's id (gamedays/)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.markup import escape

from drillkit.cli.options import Env
from drillkit.cli.scenario_files import find_scenario, load_scenario
from drillkit.config.loader import load_model, read_yaml
from drillkit.config.plan import GamePlan
from drillkit.config.scenario import Scenario
from drillkit.data import shipped_files
from drillkit.errors import InputError
from drillkit.gameday.context import Options
from drillkit.gameday.plan import PlanSummary

JUNIT_SUITE = "drillkit.gameday.plan"


def is_plan(path: Path) -> bool:
    """Whether `path` is a game-day plan (`kind: GameDay`) rather than a scenario."""
    try:
        data, _ = read_yaml(path)
    except InputError:
        return False  # the scenario loader reports what is wrong with it
    return isinstance(data, dict) and data.get("kind") == "GameDay"


def shipped_plan(ref: str) -> Path | None:
    return {p.stem: p for p in shipped_files("gamedays")}.get(ref)


def plan_rows(home: Path) -> list[dict[str, object]]:
    """The shipped plans, each with its last day here (from <home>/plans/*/summary.json)."""
    import json

    last: dict[str, dict[str, object]] = {}
    for summary in sorted((home / "plans").glob("*/summary.json")):  # plan run ids sort by start
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
            last[str(data["plan"])] = data
        except (OSError, ValueError, KeyError, TypeError):
            continue
    rows: list[dict[str, object]] = []
    for path in shipped_files("gamedays"):
        plan = load_plan(path)
        day = last.get(plan.id, {})
        rows.append({"kind": "plan", "id": plan.id, "title": plan.title, "file": str(path),
                     "scenarios": len(plan.scenarios), "last_run": day.get("plan_run_id"),
                     "last_verdict": day.get("verdict")})  # fmt: skip
    return rows


def load_plan(path: Path) -> GamePlan:
    plan = load_model(path, GamePlan)
    plan._base_dir = path.resolve().parent
    return plan


def run_plan_file(env: Env, path: Path, options: Options, junit: str | None) -> None:
    from drillkit.gameday.plan import run_plan

    plan = load_plan(path)

    def load(ref: str, folder: Path) -> tuple[Scenario, Path]:
        candidate = folder / ref
        found = candidate if candidate.suffix in (".yaml", ".yml") else find_scenario(ref)
        return load_scenario(found), found

    for entry in plan.scenarios:  # every scenario readable before the first fault: bad input is exit 2
        load(entry.scenario, path.parent)
    summary = asyncio.run(run_plan(plan, path, options, load))
    if junit:
        Path(junit).write_text(plan_junit(summary))
    if env.json:
        env.emit_json(summary.model_dump(mode="json"))
    else:
        _print(env, summary)
    if summary.verdict == "aborted":
        raise SystemExit(3)
    if summary.outcome == "unexpected":
        raise SystemExit(1)


def _print(env: Env, s: PlanSummary) -> None:
    colour = {"pass": "green", "fail": "red", "aborted": "yellow"}[s.verdict]
    env.out.print(f"\n[bold {colour}]{s.verdict.upper()}[/]  game-day {escape(s.plan)}  ({escape(s.plan_run_id)})")
    for run in s.runs:
        mark = "ok" if run["outcome"] == "as_expected" else "[red]UNEXPECTED[/]"
        env.out.print(f"  {mark}  {escape(run['scenario'])} ({run['purpose']}): {run['verdict']}  {run['run_id']}")
    for skipped in s.skipped:
        env.out.print(f"  [yellow]skipped[/]  {escape(skipped['scenario'])}: {escape(skipped['why'])}")
    env.out.print(f"journal: {escape(s.journal)}")


def plan_junit(s: PlanSummary) -> str:
    """One test case per scenario; failures by outcome (a control that failed as designed passes)."""
    suite = ET.Element("testsuite", name=JUNIT_SUITE, tests=str(len(s.runs) + len(s.skipped)),
                       failures=str(sum(r["outcome"] == "unexpected" and r["verdict"] != "aborted" for r in s.runs)),
                       errors=str(sum(r["verdict"] == "aborted" for r in s.runs)), skipped=str(len(s.skipped)),
                       timestamp=s.started_at[:19], hostname="localhost", time=f"{s.duration_s:.3f}")  # fmt: skip
    for run in s.runs:
        case = ET.SubElement(suite, "testcase", classname=f"{JUNIT_SUITE}.{s.plan}", name=run["scenario"])
        if run["verdict"] == "aborted":
            ET.SubElement(case, "error", type="aborted", message="; ".join(run["reasons"])[:500])
        elif run["outcome"] == "unexpected":
            kind = "control-passed" if run["purpose"] == "control" else run["verdict"]
            ET.SubElement(case, "failure", type=kind, message="; ".join(run["reasons"])[:500] or kind)
    for skipped in s.skipped:
        case = ET.SubElement(suite, "testcase", classname=f"{JUNIT_SUITE}.{s.plan}", name=skipped["scenario"])
        ET.SubElement(case, "skipped", message=skipped["why"])
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def dry_run_scenario(env: Env, scenario: Scenario, path: Path, system_file: Path | None) -> None:
    """Print what `gameday run` would do (system, servers, where each fault goes, steps); inject nothing."""
    from drillkit.gameday.dryrun import dry_run
    from drillkit.gameday.run import Options, resolve_system
    from drillkit.home import demo_workdir

    def known_demo() -> tuple[Path, None]:
        manifest = demo_workdir(env.home) / "drillkit.yaml"
        if not manifest.is_file():
            raise InputError("the demo has not run in this home: `drillkit demo up` first to see its servers")
        return manifest, None

    system, _ = resolve_system(scenario, path, Options(home=env.home, start_demo=known_demo, system_path=system_file))
    plan = dry_run(scenario, system)
    if env.json:
        env.emit_json(plan)
        return
    out = env.out.print
    out(f"[bold]dry run[/] {escape(plan['scenario'])} ({plan['purpose']}): nothing will be injected")
    out(f"system   {escape(plan['system']['name'])}  {escape(plan['system']['file'])}  → {plan['system']['service']}")
    for name, url in plan["servers"]["toxiproxy"].items():
        out(f"server   toxiproxy {escape(name)}  {url}")
    out(f"server   llm_proxy  {plan['servers']['llm_proxy']}")
    for f in plan["faults"]:
        where = f"{f['layer']} {f.get('server', '')} {f.get('proxy') or f.get('route') or ''}"
        out(f"fault    {escape(str(f['name']))}: {f['type']} on {f['target']} → {where}")
    for name, why in plan["never_judged"].items():
        out(f"[yellow]warning[/]  {name} can never be judged: {escape(why)}")
    for step in plan["rollback"]["steps"]:
        out(f"rollback {escape(step['name'])}: {escape(' '.join(step['run']) if 'run' in step else step['http'])}")
    for step in plan["restore"]:
        out(f"restore  {escape(step['name'])} ({step['when']})")
