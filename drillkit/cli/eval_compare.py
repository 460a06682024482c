"""`drillkit eval compare`: gate a change on the difference between a baseline and a candidate."""

from __future__ import annotations

import asyncio

import click
from rich.markup import escape
from rich.text import Text

from drillkit.cli.evals import eval_progress, junit_option, raise_unreachable, sample_option, write_report
from drillkit.cli.options import Env, pass_env
from drillkit.config.system import System
from drillkit.errors import CheckFailed
from drillkit.evals.compare import Comparison, compare
from drillkit.evals.compare_markdown import compare_markdown
from drillkit.evals.junit import compare_junit
from drillkit.evals.measure import Measured, Target, load_side, measure, suite_of
from drillkit.evals.record import RunRecord
from drillkit.evals.sampled import sample_of


@click.command("compare")
@click.option(
    "--baseline",
    required=True,
    metavar="SYSTEM_OR_RESULTS",
    help="A manifest (its service is run now), or saved results: the output of `eval run --json`.",
)
@click.option(
    "--candidate",
    required=True,
    metavar="SYSTEM_OR_URL",
    help="A manifest, or a service URL (the baseline's manifest, else --system's, with that service.url); "
    "or saved results, to judge two saved runs.",
)
@click.option(
    "--suite", type=click.Path(dir_okay=False), help="The suite both run [default: the candidate manifest's evals]."
)
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight per side."
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="T",
    help="Compare only the suite's cases with this tag (repeatable: any of them); sampled inputs stay.",
)
@sample_option
@junit_option
@click.option("--markdown", type=click.Path(dir_okay=False), metavar="FILE", help="Also write a Markdown report.")
@pass_env(system=True, json=True)
def compare_command(
    env: Env,
    baseline: str,
    candidate: str,
    suite: str | None,
    concurrency: int,
    tags: tuple[str, ...],
    sample: int,
    junit: str | None,
    markdown: str | None,
) -> None:
    """Gate a change: is the candidate worse than the baseline by more than the manifest's `gate`?

    Runs the suite (and with --sample N, N lines of the inputs sample) against the candidate, and
    against the baseline too when it is a manifest (both at once). Cases are paired by id. For the
    pass rate, the p95 latency and the cost per request it prints the difference with its 95 %
    interval and a test suited to a few dozen cases (Newcombe's paired interval and McNemar; the
    Mann-Whitney U test; a paired bootstrap). A regression is a difference beyond the tolerance
    (`gate: {pass_rate_drop: 0.02, latency_p95_increase: 0.2, cost_increase: 0.1}` by default:
    absolute drop, relative increases) that is also significant. The tolerances are the baseline
    manifest's, else the candidate's. `--tag` gates one slice of the suite (e.g. the policy
    cases a prompt change touches) with the same statistics on fewer cases, so wider intervals.

    Exit 0 no regression, 1 a regression (or a service unreachable), 2 bad input.

    \b
    Examples:
      drillkit eval run --json > baseline.json                 # on main
      drillkit eval compare --baseline baseline.json --candidate drillkit.yaml --markdown comment.md
      drillkit eval compare --baseline drillkit.yaml --candidate http://127.0.0.1:8711/v1/answer
      drillkit eval compare --baseline main/drillkit.yaml --candidate branch/drillkit.yaml --junit gate.xml
      drillkit eval compare --baseline baseline.json --candidate drillkit.yaml --tag policy
    """
    comparison = _compare(env, baseline, candidate, suite, concurrency, sample, tags)
    write_report(junit, "--junit", lambda: compare_junit(comparison))
    write_report(markdown, "--markdown", lambda: compare_markdown(comparison))
    if env.json:
        env.emit_json(comparison.to_dict())
    else:
        _print_comparison(env, comparison)
    if not comparison.passed:
        raise CheckFailed(comparison.summary())


def _compare(
    env: Env,
    baseline: str,
    candidate: str,
    suite: str | None,
    concurrency: int,
    sample: int,
    tags: tuple[str, ...] = (),
) -> Comparison:
    """Resolve both sides, run the live ones at once, compare them (`drillkit.evals.measure`)."""
    before = load_side(baseline, "--baseline", env.load_system)
    after = load_side(candidate, "--candidate", lambda: before if isinstance(before, System) else env.load_system())
    sides: list[RunRecord | System] = [before, after]
    live = [i for i, side in enumerate(sides) if isinstance(side, System)]
    if live:
        saved = [side for side in sides if isinstance(side, RunRecord)]
        labels = [(baseline, candidate)[i] for i in live]
        systems = [s for s in sides if isinstance(s, System)]
        measured = _run_live(env, systems, labels, saved, suite, concurrency, sample, tags)
        for i, m in zip(live, measured, strict=True):
            sides[i] = m.record()
    gate_from = next((s for s in (before, after) if isinstance(s, System)), None) or env.load_system()
    old, new = sides
    assert isinstance(old, RunRecord) and isinstance(new, RunRecord)
    return compare(
        old,
        new,
        gate_from.gate,
        baseline_label=f"{baseline} ({old.service_url})",
        candidate_label=f"{candidate} ({new.service_url})",
        tags=tags,
    )


def _run_live(
    env: Env,
    systems: list[System],
    labels: list[str],
    saved: list[RunRecord],
    suite: str | None,
    concurrency: int,
    sample: int,
    tags: tuple[str, ...] = (),
) -> list[Measured]:
    """The suite (--suite, else the last manifest's: the candidate's when it is one) against each
    live side at once; the sampled inputs too."""
    last = systems[-1]
    loaded = suite_of(last, suite, last.path or labels[-1])
    targets = [Target.of(system, label) for system, label in zip(systems, labels, strict=True)]
    sampled = sample_of(last, sample)
    if sampled is not None and any(not r.sampled for r in saved):
        env.err.print("[yellow]warning:[/] saved results without sampled inputs (save them with --sample N)")
    total = len(targets) * (len(loaded.select(tags)) + (len(sampled.cases) if sampled else 0))
    with eval_progress(env, total) as advance:
        measured = asyncio.run(
            measure(loaded, targets, sample=sampled, concurrency=concurrency, tags=tags, progress=advance)
        )
    for m in measured:
        raise_unreachable(m)
    return measured


def _print_comparison(env: Env, c: Comparison) -> None:
    env.out.print(f"eval compare: suite [bold]{escape(c.suite)}[/], {c.paired} paired case(s){escape(c.scope())}")
    env.out.print(Text(f"  baseline   {c.baseline}\n  candidate  {c.candidate}"))
    for d in c.differences:
        colour = "red" if d.regression else "yellow" if d.beyond_tolerance or d.change is None else "green"
        env.out.print(Text(d.describe(), style=colour))
    for title, ids in (("pass → fail", c.regressed), ("fail → pass", c.fixed)):
        if ids:
            env.out.print(Text(f"{title} ({len(ids)}): {', '.join(ids)}"))
    unpaired = len(c.only_baseline) + len(c.only_candidate)
    if unpaired:
        env.out.print(Text(f"not compared: {len(c.only_baseline)} case(s) only in the baseline, "
                           f"{len(c.only_candidate)} only in the candidate"))  # fmt: skip
    if c.redefined:
        env.out.print(Text(f"assertions changed since the baseline: {', '.join(c.redefined)}", style="yellow"))
    if c.passed:
        env.out.print(Text(c.summary(), style="bold green"))
