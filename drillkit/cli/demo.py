"""`drillkit demo …`: start, stop, inspect and steer the embedded demo AI service.

Options and rendering only: the work is `drillkit.demo.control`. Every command the output
suggests ("next:", "start it with: …") carries the `--workdir`/`--home` this one was given, so
it works when pasted into another folder.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.markup import escape
from rich.table import Table

from drillkit import signals
from drillkit.cli.options import Env, allow_host_option, pass_env
from drillkit.demo import control
from drillkit.demo.admin import describe_state
from drillkit.demo.process import RunInfo
from drillkit.demo.runner import DEFAULT_BASE_PORT, SERVER_BY_NAME, endpoints
from drillkit.demo.sim.models import NEWER
from drillkit.errors import InputError
from drillkit.home import demo_workdir

workdir_option = click.option(
    "--workdir",
    metavar="DIR",
    help="The demo's folder (manifest, prompts, corpus, evals, run/) [default: <home>/demo].",
)


@click.group()
def demo() -> None:
    """The embedded demo: a small, real AI service on loopback, no API keys needed.

    A support assistant (retrieval, a tool call, a versioned prompt, a provider router with
    fallback) talks to two simulated LLM providers and an order-status tool. Its files live in the
    workdir and are read live: edit a corpus document or a prompt there and drillkit notices.

    \b
    Examples:
      drillkit demo up                        start it in the background, print its URLs
      drillkit eval run                       is it inside its evaluation envelope?
      drillkit demo ctl pin sim-pro-2025-11   pull a lever (here: pin newer model weights)
      drillkit demo status                    health and lever state
      drillkit demo down                      stop it
    """


@dataclass(frozen=True)
class Where:
    """How to name this demo in a suggested command: `--workdir`/`--home` for demo commands,
    `--system` for the others; empty when the defaults already lead there."""

    demo: str
    system: str

    def command(self, sub: str) -> str:
        return f"drillkit {sub}{self.demo if sub.startswith('demo') else self.system}"

    @classmethod
    def of(cls, env: Env, wd: Path) -> Where:
        manifest = f" --system {shlex.quote(str(wd / 'drillkit.yaml'))}"
        if wd != demo_workdir(env.home):
            return cls(f" --workdir {shlex.quote(str(wd))}", manifest)
        ctx = click.get_current_context(silent=True)
        if ctx is not None and ctx.get_parameter_source("home") is ParameterSource.COMMANDLINE:
            return cls(f" --home {shlex.quote(str(env.home))}", manifest)
        # DRILLKIT_HOME carries over to the next command; a local or DRILLKIT_SYSTEM manifest
        # would take precedence over the demo's for `eval run`.
        other = os.environ.get("DRILLKIT_SYSTEM") or Path("drillkit.yaml").is_file()
        return cls("", manifest if other else "")


@contextlib.contextmanager
def hinted(where: Where) -> Iterator[None]:
    """Append the fixing command (`hint: drillkit demo down …`) to control errors that have one."""
    try:
        yield
    except (control.NotRunning, control.StillStarting, control.Unhealthy, control.RunningNow) as exc:
        commands = " && ".join(where.command(c) for c in exc.commands)
        raise type(exc)(f"{exc}; {exc.hint}: {commands}") from None


# -- up ----------------------------------------------------------------------------------------


@demo.command("up")
@workdir_option
@click.option("--foreground", is_flag=True, help="Serve in this process until Ctrl-C instead of in the background.")
@click.option("--reset", is_flag=True, help="Put every demo file and lever back as shipped (your edits are lost).")
@click.option(
    "--port",
    type=click.IntRange(0, 65532),
    metavar="N",
    default=DEFAULT_BASE_PORT,
    show_default=True,
    help="Base port: service on N, providers on N+1 and N+2, tool on N+3; 0 = free ports.",
)
@click.option(
    "--latency-scale",
    type=click.FloatRange(min=0),
    metavar="X",
    envvar="DRILLKIT_SIM_LATENCY_SCALE",
    help="Multiply the sim models' latency (0 = instant) [env DRILLKIT_SIM_LATENCY_SCALE; default 1].",
)
@allow_host_option
@pass_env(json=True)
def up(
    env: Env,
    workdir: str | None,
    foreground: bool,
    reset: bool,
    port: int,
    latency_scale: float | None,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Start the demo AI service on loopback, in the background.

    Does nothing (exit 0) when it is already running for this workdir.

    Its servers answer loopback Host names only (add more with --allow-host, e.g. behind a
    tunnel) and refuse requests from web pages (a foreign `Origin`).

    The first start copies the demo's files into the workdir (a missing or empty folder); later
    starts keep your edits. Every start rewrites the workdir's drillkit.yaml with the URLs it
    bound (a busy default port falls back to a free one), so drillkit commands find the demo.

    \b
    Examples:
      drillkit demo up
      drillkit demo up --port 0 --latency-scale 0     free ports, instant models (CI)
      drillkit demo up --reset                        start over from the shipped files
      drillkit demo up --workdir /tmp/demo --json
    """
    wd = demo_workdir(env.home, workdir)
    where = Where.of(env, wd)
    options: dict[str, Any] = {"base_port": port, "latency_scale": latency_scale, "allowed_hosts": allowed_hosts}
    with hinted(where):
        if foreground:
            _up_foreground(env, wd, where, reset=reset, **options)
            return
        try:
            with env.err.status("starting the demo…", spinner="dots"):
                started = control.start(wd, reset=reset, **options)
        except control.StartFailed as exc:
            if exc.log_excerpt:
                env.err.print(f"[dim]from {escape(str(exc.log))}:[/]\n{escape(exc.log_excerpt)}")
            raise
    control.detach(started)  # the runner outlives this command
    _report_up(env, wd, where, started)


def _up_foreground(env: Env, wd: Path, where: Where, **options: Any) -> None:
    signals.serving = True  # SIGTERM is a service manager's (or `demo down`'s) stop: exit 0

    def on_started(info: RunInfo) -> None:
        _report_up(env, wd, where, control.Started(info, already_running=False))
        if not env.json:
            env.err.print(f"serving in the foreground (pid {info.pid}): Ctrl-C or `drillkit demo down` stops it")

    info = control.run_foreground(wd, on_started=on_started, **options)
    if info is not None:
        _report_up(env, wd, where, control.Started(info, already_running=True))
    elif not env.json:
        env.err.print("the demo stopped")


def _report_up(env: Env, wd: Path, where: Where, started: control.Started) -> None:
    if env.json:
        env.emit_json(started.to_dict())
        return
    info = started.info
    if started.already_running:
        env.out.print(f"the demo is already running (pid {info.pid}, up {_duration(info.uptime_s())})")
    else:
        took = f" in {started.elapsed_s:.1f}s" if started.elapsed_s is not None else ""
        env.out.print(f"[green]the demo is up[/]{took} (pid {info.pid})")
    table = Table("server", "URL", "what", box=None, pad_edge=False)
    for name, url in endpoints(info.urls).items():
        table.add_row(name, url, SERVER_BY_NAME[name].what if name in SERVER_BY_NAME else "")
    env.out.print(table)
    env.out.print(f"workdir  {escape(str(wd))}\nmanifest {escape(info.manifest or str(wd / 'drillkit.yaml'))}")
    steps = [
        (where.command("eval run"), "is the service inside its evaluation envelope?"),
        (where.command(f"demo ctl pin {NEWER}"), "newer weights under the same name: evals move"),
        (where.command("demo status"), "health and lever state"),
        (where.command("demo down"), "stop it"),
    ]
    width = max(len(cmd) for cmd, _ in steps)
    env.out.print("\nnext:\n" + "\n".join(f"  {escape(cmd.ljust(width))}  {what}" for cmd, what in steps))


# -- down and status ---------------------------------------------------------------------------


@demo.command("down")
@workdir_option
@pass_env(json=True)
def down(env: Env, workdir: str | None) -> None:
    """Stop the demo and check its ports are free.

    Sends SIGTERM, waits up to 5 s for a graceful stop, then SIGKILL.

    Not running is not an error. Your workdir files and lever state are kept for the next `up`.

    \b
    Example:
      drillkit demo down
    """
    wd = demo_workdir(env.home, workdir)
    stopped = control.stop(wd)
    if env.json:
        env.emit_json({**stopped.to_dict(), "workdir": str(wd)})
    elif not stopped.running:
        env.out.print(f"the demo is not running ({escape(str(wd))})")
    else:
        how = f" (killed: it ignored SIGTERM for {control.STOP_TIMEOUT_S:g}s)" if stopped.killed else ""
        env.out.print(f"stopped the demo (pid {stopped.pid}) in {stopped.elapsed_s:.1f}s{how}")


@demo.command("status")
@workdir_option
@pass_env(json=True)
def status(env: Env, workdir: str | None) -> int:
    """Show whether the demo runs and is healthy, its URLs and its levers' state.

    Exit 0 when it runs and every server answers, 1 otherwise.

    \b
    Examples:
      drillkit demo status
      drillkit demo status --json | jq .state
    """
    wd = demo_workdir(env.home, workdir)
    st = control.status(wd)
    code = 0 if st.healthy else 1
    if env.json:
        env.emit_json({**st.to_dict(), "workdir": str(wd)})
        return code
    if st.info is None:
        start = Where.of(env, wd).command("demo up")
        env.out.print(f"the demo is not running ({escape(str(wd))}); start it with: {escape(start)}")
        return code
    word = "[green]healthy[/]" if st.healthy else "[red]unhealthy[/]"
    up_for = _duration(st.info.uptime_s())
    env.out.print(f"the demo is running, {word} (pid {st.info.pid}, up {up_for}) in {escape(str(wd))}")
    table = Table("server", "URL", "health", box=None, pad_edge=False)
    for name, h in st.health.items():
        mark = f"[green]ok[/] {h.latency_ms:g}ms" if h.ok else f"[red]{escape(h.detail)}[/]"
        table.add_row(name, st.info.urls[name], mark)
    env.out.print(table)
    _print_state(env, st.state)
    return code


# -- ctl ---------------------------------------------------------------------------------------


def ctl_command(name: str, *params: Any) -> Any:
    """A `ctl` subcommand with its click parameters, `--workdir` and the shared options."""

    def decorate(f: Any) -> Any:
        for param in reversed(params):
            f = param(f)
        return ctl.command(name)(workdir_option(pass_env(json=True)(f)))

    return decorate


@demo.group("ctl")
def ctl() -> None:
    """Pull the demo service's levers (the rollback paths in its drillkit.yaml).

    Each lever answers with the new state. A bad value (an unknown provider, a missing prompt
    version) exits 2; a demo that is not running exits 1.

    \b
    Examples:
      drillkit demo ctl route fallback          send traffic to the fallback provider first
      drillkit demo ctl pin sim-pro-2025-06     pin the primary provider's model version
      drillkit demo ctl pin --unpin             back to the manifest's model
      drillkit demo ctl prompt v4-terse         activate prompts/v4-terse.md
      drillkit demo ctl prompt previous         undo the last prompt activation
      drillkit demo ctl corpus                  list corpus versions
      drillkit demo ctl corpus previous         put the previous corpus version back
      drillkit demo ctl reset                   route, pin and prompt back to defaults
    """


@ctl_command("route", click.argument("provider"))
def ctl_route(env: Env, provider: str, workdir: str | None) -> None:
    """Send traffic to PROVIDER first (the rollback path for a provider incident).

    PROVIDER is a name under `providers:` in drillkit.yaml: primary or fallback. The other
    providers stay behind it as fallbacks.

    \b
    Example:
      drillkit demo ctl route fallback
    """
    _lever(env, workdir, control.route, provider)


@ctl_command(
    "pin",
    click.argument("model", required=False),
    click.option("--unpin", is_flag=True, help="Remove the pin: the primary provider uses the manifest's model."),
)
def ctl_pin(env: Env, model: str | None, unpin: bool, workdir: str | None) -> None:
    """Pin the model version the primary provider is asked for (the model rollback path).

    \b
    Examples:
      drillkit demo ctl pin sim-pro-2025-06     the reference weights
      drillkit demo ctl pin sim-pro-2025-11     newer weights (drops citations, gets facts wrong)
      drillkit demo ctl pin --unpin             no pin: the manifest's model again
    """
    if (model is None) == (not unpin):
        raise InputError("give either MODEL or --unpin (not both)")
    _lever(env, workdir, control.pin, None if unpin else model)


@ctl_command("prompt", click.argument("version"))
def ctl_prompt(env: Env, version: str, workdir: str | None) -> None:
    """Activate a prompt version (the prompt rollback path).

    VERSION is a file stem under prompts/ (v1, v2, v3, v4-terse), or `previous` to undo the
    last activation (again to go back further).

    \b
    Examples:
      drillkit demo ctl prompt v4-terse
      drillkit demo ctl prompt previous
    """
    _lever(env, workdir, control.activate_prompt, version)


@ctl_command("corpus", click.argument("version", required=False))
def ctl_corpus(env: Env, version: str | None, workdir: str | None) -> None:
    """List corpus versions, or put one back (the retrieval rollback path).

    Every content of corpus/ the service has seen is snapshotted under a version id. VERSION is
    such an id, or `previous`; it is copied back into corpus/. Without VERSION, list them.

    \b
    Examples:
      drillkit demo ctl corpus
      drillkit demo ctl corpus previous
    """
    if version is None:
        _lever(env, workdir, control.corpus_versions)
    else:
        _lever(env, workdir, control.activate_corpus, version)


@ctl_command("reset")
def ctl_reset(env: Env, workdir: str | None) -> None:
    """Put route, pinned model and prompt back to their defaults.

    The corpus is left as it is (use `ctl corpus previous` for that).
    """
    _lever(env, workdir, control.reset)


def _lever(env: Env, workdir: str | None, call: Any, *args: Any) -> None:
    wd = demo_workdir(env.home, workdir)
    with hinted(Where.of(env, wd)):
        state = call(wd, *args)
    if env.json:
        env.emit_json(state)
    else:
        _print_state(env, state)


def _print_state(env: Env, state: Any) -> None:
    """The levers (or the corpus versions) in a few readable lines."""
    if isinstance(state, dict) and isinstance(state.get("versions"), list):  # GET /admin/corpus
        table = Table("corpus version", "documents", "created", "", box=None, pad_edge=False)
        for v in state["versions"]:
            mark = "[green]active[/]" if v.get("active") else ""
            table.add_row(str(v.get("version")), str(len(v.get("documents", []))), str(v.get("created_at", "")), mark)
        env.out.print(table)
        return
    for key, line in describe_state(state).items():
        env.out.print(f"{escape(key):<9} {escape(line)}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


COMMANDS = [demo]
