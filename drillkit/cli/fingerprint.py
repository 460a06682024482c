"""`drillkit snapshot` and `drillkit diff`: the five inputs against their last known good state."""

from __future__ import annotations

import asyncio

import click
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env, pass_env
from drillkit.components import COMPONENTS, DiffReport, Snapshot, diff_live
from drillkit.components.health import Health
from drillkit.components.snapshot import describe, problems, replace_baseline, take_baseline
from drillkit.errors import CheckFailed

component_option = click.option(
    "--component",
    "components",
    multiple=True,
    type=click.Choice(COMPONENTS),
    help="Only this component (repeatable) [default: every component the manifest configures].",
)


@click.command("snapshot")
@component_option
@click.option("--allow-partial", is_flag=True, help="Write the baseline even when a component cannot be fingerprinted.")
@click.option(
    "--force",
    is_flag=True,
    help="Write the baseline even while the evals fail; it is marked unhealthy (healthy: false).",
)
@pass_env(system=True, json=True)
def snapshot(env: Env, components: tuple[str, ...], allow_partial: bool, force: bool) -> None:
    """Record the live state of the five inputs as the last known good baseline.

    Fingerprints every component the manifest's `components` section configures — model
    (canary prompts at temperature 0 to each provider, reported names and system_fingerprint),
    prompt (file hashes, active version, git commit and author), retrieval (a per-document
    manifest), tools (contract tests) and inputs (the sample's distribution) — and writes them
    to <home>/baseline.json (the previous one is kept as baseline.previous.json).

    A last known good must be good: the manifest's eval suite runs at the same time, and while
    its pass rate is outside the envelope (slos.eval_pass_rate) nothing is written, unless
    --force, which records the baseline marked unhealthy (`healthy: false`; triage says so when
    it compares against it). Without an eval suite the baseline's health is not judged
    (`healthy: null`).

    Take it when the system is known good: after a release passed its evals, or after an incident
    is resolved. `drillkit diff` compares the live system with it.

    Exit 1 (and nothing written) while the evals fail, unless --force, or when a component cannot
    be fingerprinted, unless --allow-partial.
    """
    system = env.load_system()
    snap, health = asyncio.run(take_baseline(system, components=components or None))
    failed = problems(snap)
    refused = []
    if failed and not allow_partial:
        refused.append(
            "cannot fingerprint " + "; ".join(f"{k} ({v})" for k, v in failed.items())
            + " — fix it, or record what can be with --allow-partial"
        )  # fmt: skip
    if health.healthy is False and not force:
        refused.append(
            f"the evals fail: {health.describe()}; a last known good must be good — fix it, "
            "or record it marked unhealthy with --force"
        )
    written = None if refused else replace_baseline(env.home, snap)
    if env.json:
        env.emit_json({**snap.model_dump(mode="json"), "written": str(written) if written else None, "failed": failed})
    else:
        _print_snapshot(env, snap, health)
        if written:
            state = {True: "healthy", False: "[red]marked unhealthy[/]", None: "health not judged"}[snap.healthy]
            env.out.print(f"baseline of {escape(system.name)} written to {escape(str(written))} ({state})")
    if refused:
        raise CheckFailed("not written: " + "; ".join(refused))


def _print_snapshot(env: Env, snap: Snapshot, health: Health) -> None:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for col in ("component", "state", "took"):
        table.add_column(col)
    for name, fp in snap.components.items():
        table.add_row(name, escape(describe(fp)), f"{fp.took_s:.2f}s")
    colour = {True: "green", False: "red", None: "yellow"}[health.healthy]
    table.add_row("evals", f"[{colour}]{escape(health.describe())}[/]", "")
    env.out.print(table)


@click.command("diff")
@component_option
@pass_env(system=True, json=True)
def diff(env: Env, components: tuple[str, ...]) -> None:
    """Compare the live five inputs with the last known good baseline (`drillkit snapshot`).

    For each component: changed, unchanged or unknown (could not be reached: the reason is
    given), the evidence — which canaries answer differently and by how much, which prompt files
    and documents were edited, added or removed, which tool contract broke and how, how far the
    inputs drifted (PSI) — and a confidence.

    A silent model swap that keeps the model name is caught by the canaries; a prompt or corpus
    version switched through a lever is caught by the `active` probe.

    \b
    Exit 0 nothing changed, 1 something changed, 2 no baseline or bad manifest.
    Example:
      drillkit snapshot && drillkit chaos inject provider:primary model_swap --set serve_model=sim-pro-2025-11
      drillkit diff                         # model: changed, 10 of 10 canaries answer differently
    """
    system = env.load_system()
    report = asyncio.run(diff_live(system, env.home, components=components or None))
    if env.json:
        env.emit_json(report.to_json())
    else:
        print_report(env, report)
    if report.changed:
        raise CheckFailed(f"changed: {', '.join(report.changed)}")


def print_report(env: Env, report: DiffReport) -> None:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for col in ("component", "", "confidence", "evidence"):
        table.add_column(col)
    marks = {True: "[red]changed[/]", False: "[green]unchanged[/]", None: "[yellow]unknown[/]"}
    for name, d in report.components.items():
        table.add_row(name, marks[d.changed], f"{d.confidence:.0%}" if d.changed is not None else "", escape(d.summary))
    env.out.print(table)
    if report.baseline_healthy is False:
        env.err.print(
            "[yellow]the baseline is unhealthy:[/] it was recorded with --force while the evals failed; "
            "a change against it may be a fix"
        )
    if report.unknown:
        env.err.print(f"[yellow]not checked:[/] {', '.join(report.unknown)} (see the reasons above)")
    env.out.print(
        f"against the baseline of {escape(report.baseline_at or '?')}; took {report.took_s:.2f}s",
        style="dim",
    )
