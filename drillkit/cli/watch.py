"""`drillkit watch`: the five inputs on a schedule, the change log, the metrics; `drillkit watch rules`."""

from __future__ import annotations

import asyncio
import re
import sys

import click
from rich.markup import escape

from drillkit import signals
from drillkit.cli.options import Env, pass_env
from drillkit.config.system import System
from drillkit.config.types import parse_duration
from drillkit.errors import CheckFailed, InputError
from drillkit.watch import DEFAULT_SAMPLE, WatchOptions, WatchSummary, WatchView, rules_yaml, run_watch

PROM_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def _every(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds < 0.5:
        raise click.BadParameter(f"at least 500ms between looks (got {value!r})")
    return seconds


@click.group("watch", invoke_without_command=True)
@click.option("--every", default="60s", metavar="DURATION", callback=_every, show_default=True,
              help="Time between the starts of two looks (500ms, 5s, 2m, 1h).")  # fmt: skip
@click.option("--once", is_flag=True, help="Look once, write what changed, and exit (for cron).")
@click.option("--metrics", metavar="HOST:PORT",
              help="Expose Prometheus metrics on HOST:PORT (a bare PORT is loopback; 0: a free port).")  # fmt: skip
@click.option("--sample", default=DEFAULT_SAMPLE, show_default=True, type=click.IntRange(min=0), metavar="N",
              help="Eval cases run per look, the same ones each time (0: the whole suite).")  # fmt: skip
@pass_env(system=True, json=True)
def watch(env: Env, every: float, once: bool, metrics: str | None, sample: int) -> None:
    """Watch the five inputs on a schedule; every change is a deployment, logged and evaluated.

    Each look fingerprints model (canaries), prompt, retrieval corpus, tools (contract tests) and
    inputs, as `drillkit snapshot` does, then runs a sample of the eval suite (--sample). A
    component that differs from what the previous look saw is a change: it is appended to
    <home>/changes.jsonl (a hash-chained, redacted journal) with what changed, who changed it
    where git knows, and the evals taken with it. The last known good (<home>/baseline.json)
    moves forward only while the evals hold (healthy: true); while a change breaks them it stays
    where it was. Webhooks in the manifest's `notify` get `changed` and `envelope_broken`.

    \b
    One watch per home; a restarted watch resumes from the change log (nothing logged twice).
    Ctrl-C or SIGTERM stops it cleanly (exit 0): the change log enters the evidence ledger at the
    end of every session, as the longer prefix it now is (`drillkit evidence verify` checks it).
    On a terminal it shows a live table; elsewhere one line per change; --json prints JSON lines.
    `drillkit triage` reads the change log to say what changed since the last good evaluation.

    \b
    Exit 0 when stopped (or --once with the evals holding), 1 for --once with the evals
    outside the envelope, 2 for bad input or another watch on this home.
    Examples:
      drillkit watch --every 60s --metrics 127.0.0.1:9464
      drillkit watch --once                       # from cron
      drillkit watch rules > drillkit-watch.rules.yml
    """
    if click.get_current_context().invoked_subcommand is not None:
        return
    signals.serving = True  # SIGTERM is a service manager's stop: exit 0
    system = env.load_system()
    options = WatchOptions(home=env.home, every_s=every, once=once, sample=sample or None, metrics=metrics)
    view = WatchView(env.err if env.json else env.out, as_json=env.json, write=_print_line)
    with view:
        summary = asyncio.run(run_watch(system, options, view))
    view.summary(summary.model_dump(mode="json"))
    _report(env, summary, once=once)


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _report(env: Env, summary: WatchSummary, *, once: bool) -> None:
    console = env.err if env.json else env.out
    if not env.json:
        changed = f": {', '.join(summary.changed)}" if summary.changed else ""
        console.print(
            f"watch {escape(summary.session)} stopped ({escape(summary.reason or '?')}): {summary.looks} look(s), "
            f"{summary.changes} change(s){escape(changed)}; change log {escape(str(env.home / 'changes.jsonl'))}",
            highlight=False,
        )
    if summary.ledger_error:
        env.err.print(
            f"[yellow]warning:[/] the change log is not in the evidence ledger: {escape(summary.ledger_error)}"
        )
    if once and summary.envelope == "fail":
        raise CheckFailed("the evals are outside the envelope (see the change log)")


@watch.command("rules")
@click.option("--for", "for_", default="2m", show_default=True, metavar="DURATION",
              help="How long the pass rate or canaries must be off before those alerts fire.")  # fmt: skip
@pass_env(system=True)
def rules(env: Env, for_: str) -> None:
    """Print Prometheus alerting rules for the metrics of `drillkit watch --metrics`.

    Thresholds come from the manifest when there is one (the envelope `slos.eval_pass_rate`,
    the canary similarity `components.model.similarity`), else 0.9. The output passes
    `promtool check rules`; add the file to `rule_files` in prometheus.yml.

    \b
    Example:
      drillkit watch rules > drillkit-watch.rules.yml && promtool check rules drillkit-watch.rules.yml
    """
    if not PROM_DURATION.match(for_):
        raise click.BadParameter(
            f"expected a Prometheus duration such as 30s, 2m or 1h (got {for_!r})", param_hint="--for"
        )
    click.echo(rules_yaml(_system_or_none(env), for_=for_), nl=False)


def _system_or_none(env: Env) -> System | None:
    """The manifest when one is named or found; without any, the default thresholds."""
    try:
        path = env.system_path()
    except InputError:
        if env.system_arg is not None:
            raise
        return None
    return env.load_system() if path.exists() or env.system_arg is not None else None
