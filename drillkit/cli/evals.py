"""`drillkit eval …`: is the service's output inside the envelope its eval suite accepts?"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from drillkit.cli.lazy import LazyGroup
from drillkit.cli.options import Env, pass_env
from drillkit.cli.validate import validate_files
from drillkit.errors import CheckFailed, InputError, ServiceError
from drillkit.evals.junit import run_junit
from drillkit.evals.measure import Measured, Target, measure, suite_of
from drillkit.evals.record import run_document
from drillkit.evals.runner import DEFAULT_THRESHOLD, CaseResult, ProgressCallback, SuiteResult
from drillkit.evals.sampled import sample_of
from drillkit.evals.stats import percentile
from drillkit.evals.suite import EvalSuite, load_suite


@click.group("eval", cls=LazyGroup, lazy={"compare": ("eval_compare", "compare_command")})
def eval_group() -> None:
    """Evaluation suites: check that an AI service's answers are inside their envelope.

    A suite (evals/suite.yaml) lists questions and assertions on the answers (contains, regex,
    cites a document, is JSON / matches a JSON schema, latency and cost ceilings). The envelope
    is the share of cases that must pass: the manifest's slos.eval_pass_rate.

    `eval compare` puts a candidate (a prompt or model change, another service URL) next to a
    baseline and fails when it is worse by more than the manifest's `gate` allows.

    \b
    Example:
      drillkit eval run                       # the manifest's suite against its service
      drillkit eval run --json > baseline.json
      drillkit eval compare --baseline baseline.json --candidate drillkit.yaml
      drillkit eval validate evals/suite.yaml
    """


def sample_option(f: Callable) -> Callable:
    return click.option(
        "--sample",
        type=click.IntRange(min=0),
        default=0,
        metavar="N",
        help="Also send N lines of the manifest's inputs sample (latency and cost only, no assertions).",
    )(f)


def junit_option(f: Callable) -> Callable:
    return click.option(
        "--junit", type=click.Path(dir_okay=False), metavar="FILE", help="Also write a JUnit XML report to FILE."
    )(f)


@eval_group.command("run")
@click.argument("suite", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight at once."
)
@click.option("--tag", "tags", multiple=True, metavar="T", help="Only cases with this tag (repeatable: any of them).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    metavar="P",
    help=f"Pass rate the run must reach, 0..1 [default: the manifest's slos.eval_pass_rate, else {DEFAULT_THRESHOLD}].",
)
@sample_option
@junit_option
@pass_env(system=True, json=True)
def run(
    env: Env,
    suite: str | None,
    concurrency: int,
    tags: tuple[str, ...],
    threshold: float | None,
    sample: int,
    junit: str | None,
) -> None:
    """Run an eval suite against the system's service and judge the pass rate.

    Each case's input is POSTed as JSON to the manifest's service.url; a case passes when all
    its assertions pass (a non-2xx answer or a timeout fails it). The pass rate is the weighted
    share of passing cases, compared with the envelope. SUITE defaults to the manifest's
    `evals` path.

    Prints a summary per tag (cases, passed, weighted pass rate), the failing cases (which
    assertion failed and why) and a verdict line. Exit 0 inside the envelope, 1 outside it or
    when the service is unreachable, 2 for a bad suite or manifest.

    `--json` prints each case's outcome, latency and cost: saved, it is a baseline for `eval
    compare`. `--junit FILE` writes one JUnit test case per eval case for CI test reports.

    \b
    Examples:
      drillkit eval run
      drillkit eval run evals/suite.yaml --system drillkit.yaml --tag policy
      drillkit eval run --threshold 0.95 --json | jq .pass_rate
      drillkit eval run --json --sample 50 > baseline.json      # a baseline for eval compare
      drillkit eval run --junit eval-results.xml
    """
    system = env.load_system()
    loaded = suite_of(system, suite, env.system_path())
    if threshold is None:
        envelope = system.slos.objective("eval_pass_rate")
        threshold = envelope if envelope is not None else DEFAULT_THRESHOLD
    target = Target.of(system, str(env.system_path()))  # before any request: an unset ${VAR} is exit 2
    sampled = sample_of(system, sample)
    total = len(loaded.select(tags)) + (len(sampled.cases) if sampled else 0)
    with eval_progress(env, total) as advance:
        measured = asyncio.run(
            measure(loaded, [target], sample=sampled, concurrency=concurrency, tags=tags, threshold=threshold,
                    progress=advance)
        )[0]  # fmt: skip
    result = measured.result
    write_report(junit, "--junit", lambda: run_junit(result))
    raise_unreachable(measured)
    if env.json:
        env.emit_json(run_document(result, measured.sampled))
    else:
        _print_report(env, result)
        if measured.sampled is not None:
            env.out.print(Text(_sampled_line(measured.sampled)))
    if not result.inside_envelope:
        raise CheckFailed(
            f"pass rate {_percent(result.pass_rate, 1)} is outside the envelope (≥ {_percent(result.threshold)})"
        )


def write_report(path: str | None, option: str, render: Callable[[], str]) -> None:
    """Write a report file (exit 2 when it cannot be written)."""
    if path is None:
        return
    try:
        Path(path).write_text(render(), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write it ({exc.strerror or exc})") from None


def raise_unreachable(measured: Measured) -> None:
    if measured.unreachable:
        raise ServiceError(
            f"cannot reach the service at {measured.target.url} ({measured.result.cases[0].error}); is it running? "
            "(for the demo: drillkit demo up)"
        )


def _sampled_line(sampled: SuiteResult) -> str:
    latencies = [c.latency_ms for c in sampled.cases if c.latency_ms is not None and c.error is None]
    costs = [c.cost_usd for c in sampled.cases if c.cost_usd is not None and c.error is None]
    p95 = percentile(latencies, 0.95)
    cost = f", mean cost ${sum(costs) / len(costs):.6f}" if costs else ""
    return (
        f"sampled inputs: {sampled.total}, {sampled.errored} without an answer"
        + (f", latency p95 {p95:.1f} ms" if p95 is not None else "")
        + cost
    )


@contextmanager
def eval_progress(env: Env, total: int) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr while cases run, only when stderr is a terminal."""
    if not env.err.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=env.err, transient=True) as bar:
        task = bar.add_task("eval", total=total)

        def advance(result: CaseResult, done: int, total: int) -> None:
            bar.advance(task)  # one call per request, whichever run it belongs to

        yield advance


def _percent(share: float, decimals: int | None = None) -> str:
    """0.969 → `96.9 %` with one decimal; 0.9 → `90 %` with none given."""
    return f"{share * 100:.{decimals}f} %" if decimals is not None else f"{share * 100:g} %"


def _summary(result: SuiteResult) -> str:
    verdict = "inside" if result.inside_envelope else "outside"
    return (
        f"pass rate {_percent(result.pass_rate, 1)} ({result.passed}/{result.total}), "
        f"envelope ≥ {_percent(result.threshold)}: {verdict}"
    )


def _print_report(env: Env, result: SuiteResult) -> None:
    scope = f" (tags: {', '.join(result.tags)})" if result.tags else ""
    env.out.print(
        f"suite [bold]{escape(result.suite)}[/]{escape(scope)} → {escape(result.service_url)}: "
        f"{result.total} case(s) in {result.duration_s:.1f} s"
    )
    tags = Table("tag", title="by tag", title_justify="left")
    for column in ("cases", "passed", "pass rate"):
        tags.add_column(column, justify="right")
    for tag, summary in result.by_tag().items():
        colour = "green" if summary.passed == summary.total else "red" if summary.passed == 0 else "yellow"
        rate = Text(_percent(summary.pass_rate, 1), style=colour)
        tags.add_row(Text(tag), str(summary.total), str(summary.passed), rate)
    env.out.print(tags)
    failing = [c for c in result.cases if not c.passed]
    if failing:
        table = Table("case", "tags", "failed assertions", title="failing cases", title_justify="left")
        for case in failing:
            table.add_row(Text(case.case.id), Text(", ".join(case.case.tags)), _why(case))
        env.out.print(table)
    colour = "green" if result.inside_envelope else "red"
    env.out.print(Text(_summary(result), style=f"bold {colour}"))


def _why(case: CaseResult) -> Text:
    if case.error is not None:
        return Text(case.error, style="red")
    lines = [f"• {c.assertion.label}: {c.result.detail}" for c in case.failures]
    return Text("\n".join(lines))


@eval_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@pass_env(json=True)
def validate(env: Env, files: tuple[str, ...]) -> None:
    """Check eval suite files without running them.

    Each problem is reported as FILE:LINE:COLUMN: FIELD: what was expected (unknown assertion
    types, regexes that do not compile, invalid JSON schemas, duplicate case ids, a case with
    neither question nor input). Exit 0 when every file is valid, 2 otherwise.

    \b
    Example:
      drillkit eval validate evals/suite.yaml
    """

    def describe(s: EvalSuite) -> str:
        assertions = sum(len(s.assertions_for(c)) for c in s.cases)
        tags = sorted({t for c in s.cases for t in c.tags})
        tagged = f"; tags {', '.join(tags)}" if tags else ""
        return f"eval suite {s.name!r}: {len(s.cases)} case(s), {assertions} assertion(s){tagged}"

    validate_files(env, files, load_suite, describe)
