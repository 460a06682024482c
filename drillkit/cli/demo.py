"""`drillkit demo …`: start, stop, inspect and steer the embedded demo AI service.

Options and rendering only: the work is `drillkit.demo.control`; the `ctl` subcommands are
`drillkit.cli.demo_ctl`, what both share `drillkit.cli.demo_common`. Every command the output
suggests ("next:", "start it with: …") carries the `--workdir`/`--home` this one was given, so
it works when pasted into another folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from drillkit import signals
from drillkit.cli.demo_common import Where, duration, hinted, print_state, workdir_option
from drillkit.cli.demo_ctl import ctl, ctl_command, ctl_corpus, ctl_pin, ctl_prompt, ctl_reset, ctl_route
from drillkit.cli.options import Env, allow_host_option, pass_env
from drillkit.demo import control
from drillkit.demo.process import RunInfo
from drillkit.demo.runner import BASE_PORT_ENV, DEFAULT_BASE_PORT, SERVER_BY_NAME, endpoints
from drillkit.demo.sim.models import NEWER
from drillkit.home import demo_workdir


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
    envvar=BASE_PORT_ENV,
    show_default=True,
    help="Base port: service on N, providers on N+1 and N+2, tool on N+3, fault servers after them;"
    f" 0 = free ports [env {BASE_PORT_ENV}, also read when a game-day starts the demo].",
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
        env.out.print(f"the demo is already running (pid {info.pid}, up {duration(info.uptime_s())})")
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
    up_for = duration(st.info.uptime_s())
    env.out.print(f"the demo is running, {word} (pid {st.info.pid}, up {up_for}) in {escape(str(wd))}")
    table = Table("server", "URL", "health", box=None, pad_edge=False)
    for name, h in st.health.items():
        mark = f"[green]ok[/] {h.latency_ms:g}ms" if h.ok else f"[red]{escape(h.detail)}[/]"
        table.add_row(name, st.info.urls[name], mark)
    env.out.print(table)
    print_state(env, st.state)
    return code


demo.add_command(ctl)

__all__ = [
    "Where",
    "ctl",
    "ctl_command",
    "ctl_corpus",
    "ctl_pin",
    "ctl_prompt",
    "ctl_reset",
    "ctl_route",
    "demo",
    "down",
    "hinted",
    "status",
    "up",
    "workdir_option",
]
