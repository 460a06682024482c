"""`drillkit eval …`: is the service's output inside the envelope its eval suite accepts?"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from drillkit.cli.options import Env, pass_env
from drillkit.cli.validate import validate_files
from drillkit.errors import CheckFailed, InputError, ServiceError
from drillkit.evals.runner import DEFAULT_THRESHOLD, CaseResult, ProgressCallback, SuiteResult, run_suite
from drillkit.evals.suite import EvalSuite, load_suite
from drillkit.evals.wire import Wire


@click.group("eval")
def eval_group() -> None:
    """Evaluation suites: check that an AI service's answers are inside their envelope.

    A suite (evals/suite.yaml) lists questions and assertions on the answers (contains, regex,
    cites a document, is JSON / matches a JSON schema, latency and cost ceilings). The envelope
    is the share of cases that must pass: the manifest's slos.eval_pass_rate.

    \b
    Example:
      drillkit eval run                       # the manifest's suite against its service
      drillkit eval validate evals/suite.yaml
    """


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
@pass_env(system=True, json=True)
def run(env: Env, suite: str | None, concurrency: int, tags: tuple[str, ...], threshold: float | None) -> None:
    """Run an eval suite against the system's service and judge the pass rate.

    Each case's input is POSTed as JSON to the manifest's service.url; a case passes when all
    its assertions pass (a non-2xx answer or a timeout fails it). The pass rate is the weighted
    share of passing cases, compared with the envelope. SUITE defaults to the manifest's
    `evals` path.

    Prints a summary per tag (cases, passed, weighted pass rate), the failing cases (which
    assertion failed and why) and a verdict line. Exit 0 inside the envelope, 1 outside it or
    when the service is unreachable, 2 for a bad suite or manifest.

    \b
    Examples:
      drillkit eval run
      drillkit eval run evals/suite.yaml --system drillkit.yaml --tag policy
      drillkit eval run --threshold 0.95 --json | jq .pass_rate
    """
    system = env.load_system()
    if suite is None:
        suite_path = system.resolve(system.evals)
        if suite_path is None:
            raise InputError(f"{env.system_path()}: no 'evals' path in the manifest; pass SUITE (a suite file)")
    else:
        suite_path = Path(suite)
    loaded = load_suite(suite_path)
    if threshold is None:
        envelope = system.slos.objective("eval_pass_rate")
        threshold = envelope if envelope is not None else DEFAULT_THRESHOLD
    url = str(system.service.url)
    wire = Wire.of(system)  # before any request: an unset ${VAR} in service.headers is exit 2
    total = len(loaded.select(tags))

    with _progress(env, total) as advance:
        result = asyncio.run(
            run_suite(
                loaded,
                url,
                concurrency=concurrency,
                timeout=system.service.timeout,
                tags=tags,
                threshold=threshold,
                progress=advance,
                wire=wire,
            )
        )
    if result.unreachable:
        raise ServiceError(
            f"cannot reach the service at {url} ({result.cases[0].error}); is it running? "
            "(for the demo: drillkit demo up)"
        )
    if env.json:
        env.emit_json(result.to_dict())
    else:
        _print_report(env, result)
    if not result.inside_envelope:
        raise CheckFailed(
            f"pass rate {_percent(result.pass_rate, 1)} is outside the envelope (≥ {_percent(result.threshold)})"
        )


@contextmanager
def _progress(env: Env, total: int) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr while cases run, only when stderr is a terminal."""
    if not env.err.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=env.err, transient=True) as bar:
        task = bar.add_task("eval", total=total)

        def advance(result: CaseResult, done: int, total: int) -> None:
            bar.update(task, completed=done)

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


COMMANDS = [eval_group]
