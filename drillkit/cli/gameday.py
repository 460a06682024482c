"""`drillkit gameday …`: rehearse a failure of an AI service under load (scenario files)."""

from __future__ import annotations

import functools
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Column, Table

from drillkit.cli.gameday_plan import dry_run_scenario, is_plan, plan_rows, run_plan_file, shipped_plan
from drillkit.cli.lazy import LazyGroup
from drillkit.cli.options import Env, pass_env
from drillkit.cli.scenario_files import find_scenario, load_scenario
from drillkit.cli.validate import validate_files
from drillkit.config.scenario import Scenario
from drillkit.config.slos import Slos
from drillkit.config.system import load_system
from drillkit.data import shipped_files
from drillkit.errors import InputError
from drillkit.gameday.judgeable import refused, unjudgeable
from drillkit.gameday.summary import Summary
from drillkit.traffic.slo import effective_slos


@click.group(cls=LazyGroup, lazy={"due": ("gameday_due", "due")})
def gameday() -> None:
    """Game-days: inject a fault into an AI service under load and time the rollback."""


@gameday.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_env(json=True)
def validate(env: Env, files: tuple[str, ...]) -> None:
    """Check scenario files against the contract.

    Each problem is reported as FILE:LINE:COLUMN: FIELD: what was expected. Exit 0 when every
    file is valid, 2 otherwise.

    \b
    Example:
      drillkit gameday validate scenarios/*.yaml
    """

    def load(path: Path) -> tuple[Scenario, list[str]]:
        scenario = load_scenario(path)
        system_slos, paths = _system_of(scenario, path)
        slos = effective_slos(system_slos, scenario.slos)
        problems = refused(scenario, slos)
        if problems:
            raise InputError("\n".join(f"{path}: {p}" for p in problems))
        warnings = [f"{name} can never be judged: {why}" for name, why in unjudgeable(scenario, slos).items()]
        if paths is not None and scenario.rollback_path not in paths:
            warnings.append(
                f"rollback path {scenario.rollback_path!r} is not among the system's rollbacks "
                f"({', '.join(paths) or 'none'}): evidence reports will show it as a path with no designed rollback"
            )
        return scenario, warnings

    def describe(loaded: tuple[Scenario, list[str]]) -> str:
        s, warnings = loaded
        faults = ", ".join(f.type for f in s.faults)
        path = f", rollback path {s.rollback_path}" if s.rollback_path != s.layer else ""
        text = f"scenario {s.id!r} ({s.layer}{path}, {s.severity}): {faults}; rollback {s.rollback.mode}"
        return text + "".join(f"\n    warning: {w}" for w in warnings)

    validate_files(env, files, load, describe)


def _system_of(scenario: Scenario, path: Path) -> tuple[Slos, list[str] | None]:
    """The SLOs and rollback paths of the system the scenario names (the demo's as shipped; a
    manifest it can't read: no SLOs, paths unknown)."""
    from drillkit.demo.workdir import CHAT_SLOS, SLOS, rollback_paths

    if scenario.system in ("demo", "demo:chat"):
        return Slos(**SLOS, **(CHAT_SLOS if scenario.system == "demo:chat" else {})), rollback_paths()
    manifest = Path(scenario.system)
    try:
        system = load_system(manifest if manifest.is_absolute() else path.parent / manifest)
    except InputError:
        return Slos(), None  # `gameday run` reports an unreadable system; here the scenario's own SLOs still count
    return system.slos, list(system.rollbacks)


def last_runs(home: Path) -> dict[str, dict]:
    """The newest summary per scenario id, from <home>/runs/*/summary.json."""
    import json

    latest: dict[str, dict] = {}
    for path in sorted((home / "runs").glob("*/summary.json")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and "scenario" in summary:
            latest[summary["scenario"]] = summary  # run ids sort by start time
    return latest


@gameday.command("list")
@pass_env(json=True)
def list_(env: Env) -> None:
    """List the shipped scenarios, with the verdict and timings of each one's last run here."""
    last = last_runs(env.home)
    rows = []
    for path in shipped_files("scenarios"):
        try:
            s = load_scenario(path)
        except InputError as exc:
            raise InputError(f"shipped scenario is invalid: {exc}") from None
        run = last.get(s.id, {})
        rows.append(
            {
                "kind": "scenario",
                "id": s.id,
                "layer": s.layer,
                "rollback_path": s.rollback_path,
                "severity": s.severity,
                "title": s.title,
                "file": str(path),
                "last_run": run.get("run_id"),
                "last_verdict": run.get("verdict"),
                "ttd_s": run.get("ttd_s"),
                "rollback_s": run.get("rollback_s"),
                "ttr_s": run.get("ttr_s"),
            }
        )
    plans = plan_rows(env.home)
    if env.json:
        env.emit_json(rows + plans)
        return
    table = Table("layer", "severity", "last verdict", "TTD", "rollback", "TTR")
    table.columns.insert(0, Column("scenario", no_wrap=True))

    def secs(v: float | None) -> str:
        return "" if v is None else f"{v:.1f}s"

    for r in rows:
        verdict = r["last_verdict"] or "—"
        colour = {"pass": "green", "fail": "red", "aborted": "yellow"}.get(verdict, "dim")
        table.add_row(
            escape(r["id"]),
            r["layer"],
            r["severity"],
            f"[{colour}]{verdict}[/]",
            secs(r["ttd_s"]),
            secs(r["rollback_s"]),
            secs(r["ttr_s"]),
        )
    env.out.print(table)
    for plan in plans:
        env.out.print(f"plan [bold]{escape(plan['id'])}[/]: {escape(plan['title'])} ({plan['scenarios']} scenarios); "
                      f"last day: {plan['last_verdict'] or '—'} {plan['last_run'] or ''}")  # fmt: skip


@gameday.command("run")
@click.argument("scenario_ref", metavar="SCENARIO|PLAN")
@click.option("--auto", "mode", flag_value="auto", help="Run the rollback steps (overrides the scenario's mode).")
@click.option("--manual", "mode", flag_value="manual", help="A person rolls back; drillkit times it until Enter.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write a JUnit XML result (for CI).")
@click.option("--latency-scale", type=float, help="When this starts the demo: sim model latency factor.")
@click.option("--no-live", is_flag=True, help="Plain event lines instead of the live dashboard.")
@click.option(
    "--system",
    "system_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The system manifest to rehearse on, whatever the scenario's `system:` says.",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved system, servers, faults and steps; inject nothing.")
@click.option(
    "--purpose",
    type=click.Choice(["rehearsal", "control", "exploratory"]),
    help="What the run is for, whatever the scenario says: a control must fail; exploratory counts for nothing.",
)
@pass_env(json=True)
def run(
    env: Env,
    scenario_ref: str,
    mode: str | None,
    junit: str | None,
    latency_scale: float | None,
    no_live: bool,
    system_file: Path | None,
    dry_run: bool,
    purpose: str | None,
) -> None:
    """Rehearse SCENARIO (a file, or a shipped id) against its system under load; or run a PLAN.

    A PLAN (`kind: GameDay`, a file or a shipped id: `quarterly`) runs its scenarios in order.

    \b
    Phases: preflight → warmup → inject → detect → rollback → recover → verify → cleanup.
    The fault stays injected during the rollback. Faults are removed on every exit path (errors,
    Ctrl-C, SIGTERM, guardrails). `system: demo` starts the demo if it is not running (and stops
    it afterwards). The run's journal and summary.json land in <home>/runs/<run-id>/.

    Which system: --system FILE, else the scenario's `system:` (relative to the scenario, or
    `demo`), else DRILLKIT_SYSTEM, else the demo; --dry-run shows it (and where each fault goes).

    Exit codes follow the run's purpose (`purpose:`, --purpose): 0 as expected (a rehearsal passed,
    a control such as a no-op rollback failed); 1 unexpected (a rehearsal failed: not detected or
    recovered in time, a step, verify or expect.rollback_impact failed; a control passed); 2 bad
    input; 3 aborted.

    \b
    Examples:
      drillkit gameday run scenarios/silent-model-swap.yaml
      drillkit gameday run provider-outage --auto --junit gameday.xml
      drillkit gameday run quota-exhaustion --json
    """
    import asyncio
    import sys

    from drillkit.cli.systems import demo_starter
    from drillkit.gameday.live import LiveView
    from drillkit.gameday.run import Options, run_gameday, stdin_confirm

    path = shipped_plan(scenario_ref) or find_scenario(scenario_ref)
    plan = is_plan(path)
    scenario = None if plan else load_scenario(path)
    if dry_run and scenario is not None:
        return dry_run_scenario(env, scenario, path, system_file)
    if scenario is not None and (mode or scenario.rollback.mode) == "manual" and not sys.stdin.isatty():
        raise InputError("this scenario's rollback is manual and needs an operator at a terminal; pass --auto")
    view = LiveView(env.err, {}, live=False if (no_live or env.json) else None)  # SLOs come with run.started
    options = Options(home=env.home, mode=mode, confirm=stdin_confirm(functools.partial(_roll_back_now, env)),
                      on_event=view.on_event, start_demo=demo_starter(env.home, latency_scale=latency_scale),
                      system_path=system_file, purpose=purpose)  # fmt: skip
    if scenario is None:
        with view:
            run_plan_file(env, path, options, junit)
        return
    with view:
        summary = asyncio.run(run_gameday(scenario, path, options))
    _report(env, summary, junit)


def _report(env: Env, summary: Summary, junit: str | None) -> None:
    """JUnit file, JSON or the console summary; then the exit code the verdict calls for."""
    from drillkit.gameday.summary import junit_xml

    if junit:
        Path(junit).write_text(junit_xml(summary))
    if env.json:
        env.emit_json(summary.model_dump(mode="json"))
    else:
        _print_summary(env, summary)
    _exit_for(summary)


def _exit_for(summary: Summary) -> None:
    """By outcome, never the raw verdict: 0 as expected (a passing rehearsal, a control that failed
    as designed); 1 unexpected (a failed rehearsal, a control that passed); 3 aborted; or the exit
    code the run itself set (2: bad input found late)."""
    if summary.exit_code is not None:
        raise SystemExit(summary.exit_code)
    if summary.verdict == "aborted":
        raise SystemExit(3)
    if summary.outcome == "unexpected":
        raise SystemExit(1)


def _roll_back_now(env: Env, instructions: str) -> None:
    env.err.print(
        f"\n[bold yellow]ROLL BACK NOW[/] — the timer is running.\n{escape(instructions)}\n"
        "Press Enter when the rollback is done."
    )


def _print_summary(env: Env, s: Summary) -> None:
    colour = {"pass": "green", "fail": "red", "aborted": "yellow"}[s.verdict]
    if s.purpose != "rehearsal" and s.verdict != "aborted":
        colour = "green" if s.outcome == "as_expected" else "red"
    but = f"  [bold yellow]but {len(s.findings)} finding(s)[/]" if s.findings else ""
    why = {"control": " (a control: it should fail)", "exploratory": " (exploratory)"}.get(s.purpose, "")
    env.out.print(f"\n[bold {colour}]{s.verdict.upper()}[/]{why}{but}  {escape(s.scenario)}  ({escape(s.run_id)})")

    def secs(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}s"

    env.out.print(
        f"TTD {secs(s.ttd_s)}   rollback {secs(s.rollback_s)}   TTR {secs(s.ttr_s)}   RTO target {s.rto_target_s:g}s"
    )
    if s.breached:
        env.out.print(f"breached: {', '.join(s.breached)}")
    for reason in s.reasons:
        env.out.print(f"  - {escape(reason)}")
    for finding in s.findings:
        env.out.print(f"  ! {escape(finding)}")
    if s.unjudged:
        env.out.print(f"[yellow]never judged[/] (no window had the signal): {', '.join(s.unjudged)}")
    if s.rollback_impact and s.rollback_impact.get("slos"):
        worst = ", ".join(f"{k} {v:g}" for k, v in s.rollback_impact["slos"].items())
        env.out.print(f"after the rollback began ({s.rollback_impact['windows']} windows), worst: {escape(worst)}")
    env.out.print(f"journal: {escape(s.journal)}")
