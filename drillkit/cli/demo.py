"""`drillkit demo …`: start, stop, inspect and steer the embedded demo AI service.

`up` prepares the workdir and starts `drillkit demo up --foreground` as a detached background
process (its own session, output in `<workdir>/run/demo.log`), then waits until every server
answers. The runner's files under `<workdir>/run/` are described in `drillkit.demo.runner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from rich.markup import escape
from rich.table import Table

from drillkit.cli.options import Env, pass_env
from drillkit.demo.runner import (
    DEFAULT_BASE_PORT,
    RunInfo,
    log_path,
    read_run_info,
    remove_run_info,
    run_demo,
    runner_pid,
    spawn_runner,
    start_lock,
    stop_process,
    wait_ports_closed,
)
from drillkit.demo.workdir import check_workdir, prepare_workdir
from drillkit.errors import DrillkitError, InputError, ServiceError
from drillkit.home import demo_workdir

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
#: What each server answers when healthy, and what it is.
PROBES = {
    "service": ("/healthz", "the support assistant (+ /admin)"),
    "primary": ("/v1/models", "sim LLM, OpenAI/Anthropic API"),
    "fallback": ("/v1/models", "sim LLM, the fallback route"),
    "tool": ("/healthz", "order_status: GET /orders/{id}"),
}
ENDPOINT_SUFFIX = {"service": "/v1/answer", "primary": "/v1", "fallback": "/v1", "tool": ""}

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
@pass_env(json=True)
def up(env: Env, workdir: str | None, foreground: bool, reset: bool, port: int, latency_scale: float | None) -> None:
    """Start the demo AI service on loopback, in the background.

    Does nothing (exit 0) when it is already running for this workdir.

    The first start copies the demo's files into the workdir; later starts keep your edits.
    Every start rewrites the workdir's drillkit.yaml with the URLs it bound (a busy default port
    falls back to a free one), so drillkit commands find the demo by default.

    \b
    Examples:
      drillkit demo up
      drillkit demo up --port 0 --latency-scale 0     free ports, instant models (CI)
      drillkit demo up --reset                        start over from the shipped files
      drillkit demo up --workdir /tmp/demo --json
    """
    wd = demo_workdir(env.home, workdir)
    check_workdir(wd)
    if foreground:  # also the background runner itself: it must not wait for the start lock
        if (info := _already_up(env, wd, reset)) is not None:
            _report_up(env, wd, info, "already_running")
            return
        prepare_workdir(wd, reset=reset)
        _run_foreground(env, wd, port, latency_scale)
        return
    with start_lock(wd, START_TIMEOUT_S + 5):
        if (info := _already_up(env, wd, reset)) is not None:
            _report_up(env, wd, info, "already_running")
            return
        prepare_workdir(wd, reset=reset)
        started = time.monotonic()
        info = _start_background(env, wd, port, latency_scale)
    _report_up(env, wd, info, "started", elapsed_s=time.monotonic() - started)


def _already_up(env: Env, wd: Path, reset: bool) -> RunInfo | None:
    """The healthy demo already serving `wd`, or None; errors when one runs but can't be used."""
    where = _wd_arg(env, wd)
    info = _live_info(wd)
    if info is None:
        pid = runner_pid(wd)
        if pid is not None:
            raise ServiceError(f"a demo process (pid {pid}) is starting for {wd}; see drillkit demo status{where}")
        return None
    if reset:
        raise InputError(f"the demo is running (pid {info.pid}); stop it first: drillkit demo down{where}")
    health = probe_all(info.urls)
    if not all(h.ok for h in health.values()):
        raise ServiceError(
            f"a demo process (pid {info.pid}) runs for {wd} but does not answer: {_failures(health)}; "
            f"restart it: drillkit demo down{where} && drillkit demo up{where}"
        )
    return info


def _run_foreground(env: Env, wd: Path, port: int, latency_scale: float | None) -> None:
    def started(info: RunInfo) -> None:
        _report_up(env, wd, info, "started")
        if not env.json:
            env.err.print(f"serving in the foreground (pid {info.pid}): Ctrl-C or `drillkit demo down` stops it")

    try:
        asyncio.run(run_demo(wd, base_port=port, latency_scale=latency_scale, on_started=started))
    except SystemExit as exc:  # uvicorn exits (code 3) when an app's startup fails; it logged why
        raise ServiceError(f"a demo server failed to start (exit {exc.code}); its error is logged above") from None
    if not env.json:
        env.err.print("the demo stopped")


def _start_background(env: Env, wd: Path, port: int, latency_scale: float | None) -> RunInfo:
    proc = spawn_runner(wd, base_port=port, latency_scale=latency_scale)
    try:
        with env.err.status("starting the demo…", spinner="dots"):
            info = _wait_healthy(wd, proc)
    except BaseException as exc:
        with contextlib.suppress(DrillkitError):
            stop_process(proc.pid, 3.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)
        remove_run_info(wd, proc.pid)
        excerpt = _log_excerpt(log_path(wd))
        if excerpt and not isinstance(exc, KeyboardInterrupt):
            env.err.print(f"[dim]from {escape(str(log_path(wd)))}:[/]\n{escape(excerpt)}")
        raise
    # Detached on purpose: the runner outlives this process; don't warn that it still runs.
    proc.returncode = 0
    return info


def _wait_healthy(wd: Path, proc: subprocess.Popen[bytes]) -> RunInfo:
    deadline = time.monotonic() + START_TIMEOUT_S
    health: dict[str, Health] = {}
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceError(f"the demo process exited (code {proc.returncode}) before it was up")
            info = read_run_info(wd)
            if info is not None and info.pid == proc.pid:
                health = probe_all(info.urls, client)
                if all(h.ok for h in health.values()):
                    return info
            time.sleep(0.05)
    detail = f": {_failures(health)}" if health else ""
    raise ServiceError(f"the demo was not up within {START_TIMEOUT_S:g}s{detail}")


def _report_up(env: Env, wd: Path, info: RunInfo, status: str, elapsed_s: float | None = None) -> None:
    endpoints = {name: url + ENDPOINT_SUFFIX.get(name, "") for name, url in info.urls.items()}
    if env.json:
        data = {"status": status, **_info_dict(info), "endpoints": endpoints, "log": str(log_path(wd))}
        if elapsed_s is not None:
            data["startup_s"] = round(elapsed_s, 3)
        env.emit_json(data)
        return
    if status == "already_running":
        head = f"the demo is already running (pid {info.pid}, up {_duration(info.uptime_s())})"
    else:
        took = f" in {elapsed_s:.1f}s" if elapsed_s is not None else ""
        head = f"[green]the demo is up[/]{took} (pid {info.pid})"
    env.out.print(head)
    table = Table("server", "URL", "what", box=None, pad_edge=False)
    for name, url in endpoints.items():
        table.add_row(name, url, PROBES.get(name, ("", ""))[1])
    env.out.print(table)
    env.out.print(f"workdir  {escape(str(wd))}\nmanifest {escape(info.manifest or str(wd / 'drillkit.yaml'))}")
    system = "" if wd == demo_workdir(env.home) else f" --system {wd / 'drillkit.yaml'}"
    where = _wd_arg(env, wd)
    steps = [
        (f"drillkit eval run{system}", "is the service inside its evaluation envelope?"),
        (f"drillkit demo ctl pin sim-pro-2025-11{where}", "newer weights under the same name: evals move"),
        (f"drillkit demo status{where}", "health and lever state"),
        (f"drillkit demo down{where}", "stop it"),
    ]
    width = max(len(cmd) for cmd, _ in steps)
    env.out.print("\nnext:\n" + "\n".join(f"  {escape(cmd.ljust(width))}  {what}" for cmd, what in steps))


# -- down --------------------------------------------------------------------------------------


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
    pid = runner_pid(wd)
    info = read_run_info(wd)
    if pid is None:
        remove_run_info(wd)  # stale, if any
        if env.json:
            env.emit_json({"stopped": False, "running": False, "workdir": str(wd)})
        else:
            env.out.print(f"the demo is not running ({escape(str(wd))})")
        return
    started = time.monotonic()
    killed = stop_process(pid, STOP_TIMEOUT_S)
    remove_run_info(wd, pid)
    urls = info.urls if info is not None and info.pid == pid else {}
    busy = wait_ports_closed(urls, 2.0)
    if busy:
        raise ServiceError(f"the demo stopped but something still listens on {', '.join(busy)}")
    elapsed = time.monotonic() - started
    if env.json:
        env.emit_json({"stopped": True, "pid": pid, "killed": killed, "stop_s": round(elapsed, 3), "workdir": str(wd)})
    else:
        how = " (killed: it ignored SIGTERM for 5s)" if killed else ""
        env.out.print(f"stopped the demo (pid {pid}) in {elapsed:.1f}s{how}")


# -- status ------------------------------------------------------------------------------------


@dataclass
class Health:
    ok: bool
    detail: str
    latency_ms: float


def probe_all(urls: dict[str, str], client: httpx.Client | None = None) -> dict[str, Health]:
    """Ask each server its health URL; 2xx within a second is healthy."""
    own = client is None
    client = client or httpx.Client(timeout=1.0, trust_env=False)
    try:
        return {name: _probe(client, url + PROBES.get(name, ("/healthz", ""))[0]) for name, url in urls.items()}
    finally:
        if own:
            client.close()


def _probe(client: httpx.Client, url: str) -> Health:
    t0 = time.perf_counter()
    try:
        r = client.get(url)
    except httpx.HTTPError as exc:
        return Health(False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 0.0)
    ms = (time.perf_counter() - t0) * 1000
    return Health(r.is_success, f"HTTP {r.status_code}", round(ms, 1))


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
    info = _live_info(wd)
    if info is None:
        if env.json:
            env.emit_json({"running": False, "healthy": False, "workdir": str(wd)})
        else:
            where = _wd_arg(env, wd)
            env.out.print(f"the demo is not running ({escape(str(wd))}); start it with: drillkit demo up{where}")
        return 1
    health = probe_all(info.urls)
    healthy = all(h.ok for h in health.values())
    state: Any
    try:
        state = _admin(info, "GET", "/admin/state")
    except (ServiceError, InputError) as exc:
        state = {"error": str(exc)}
    if env.json:
        env.emit_json(
            {
                "running": True,
                "healthy": healthy,
                **_info_dict(info),
                "uptime_s": round(info.uptime_s(), 1),
                "health": {name: asdict(h) for name, h in health.items()},
                "state": state,
            }
        )
        return 0 if healthy else 1
    word = "[green]healthy[/]" if healthy else "[red]unhealthy[/]"
    env.out.print(f"the demo is running, {word} (pid {info.pid}, up {_duration(info.uptime_s())}) in {escape(str(wd))}")
    table = Table("server", "URL", "health", box=None, pad_edge=False)
    for name, h in health.items():
        mark = f"[green]ok[/] {h.latency_ms:g}ms" if h.ok else f"[red]{escape(h.detail)}[/]"
        table.add_row(name, info.urls[name], mark)
    env.out.print(table)
    _print_state(env, state)
    return 0 if healthy else 1


# -- ctl ---------------------------------------------------------------------------------------


@demo.group("ctl")
def ctl() -> None:
    """Pull the demo service's levers (the rollback paths in its drillkit.yaml).

    Each lever answers with the new state. A bad value (an unknown provider, a missing prompt
    version) exits 2; a demo that is not running exits 1.

    \b
    Examples:
      drillkit demo ctl route fallback          send traffic to the fallback provider first
      drillkit demo ctl pin sim-pro-2025-06     pin the primary provider's model version
      drillkit demo ctl prompt v4-terse         activate prompts/v4-terse.md
      drillkit demo ctl prompt previous         undo the last prompt activation
      drillkit demo ctl corpus                  list corpus versions
      drillkit demo ctl corpus previous         put the previous corpus version back
      drillkit demo ctl reset                   route, pin and prompt back to defaults
    """


@ctl.command("route")
@click.argument("provider")
@workdir_option
@pass_env(json=True)
def ctl_route(env: Env, provider: str, workdir: str | None) -> None:
    """Send traffic to PROVIDER first (the rollback path for a provider incident).

    PROVIDER is a name under `providers:` in drillkit.yaml: primary or fallback. The other
    providers stay behind it as fallbacks.

    \b
    Example:
      drillkit demo ctl route fallback
    """
    _lever(env, workdir, "/admin/route", {"provider": provider})


@ctl.command("pin")
@click.argument("model")
@workdir_option
@pass_env(json=True)
def ctl_pin(env: Env, model: str, workdir: str | None) -> None:
    """Pin the model version the primary provider is asked for (the model rollback path).

    \b
    Examples:
      drillkit demo ctl pin sim-pro-2025-06     the reference weights
      drillkit demo ctl pin sim-pro-2025-11     newer weights (drops citations, gets facts wrong)
    """
    _lever(env, workdir, "/admin/pin", {"model": model})


@ctl.command("prompt")
@click.argument("version")
@workdir_option
@pass_env(json=True)
def ctl_prompt(env: Env, version: str, workdir: str | None) -> None:
    """Activate a prompt version (the prompt rollback path).

    VERSION is a file stem under prompts/ (v1, v2, v3, v4-terse), or `previous` to undo the
    last activation (again to go back further).

    \b
    Examples:
      drillkit demo ctl prompt v4-terse
      drillkit demo ctl prompt previous
    """
    _lever(env, workdir, "/admin/prompt", {"version": version})


@ctl.command("corpus")
@click.argument("version", required=False)
@workdir_option
@pass_env(json=True)
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
        _lever(env, workdir, "/admin/corpus", None, method="GET")
    else:
        _lever(env, workdir, "/admin/corpus", {"version": version})


@ctl.command("reset")
@workdir_option
@pass_env(json=True)
def ctl_reset(env: Env, workdir: str | None) -> None:
    """Put route, pinned model and prompt back to their defaults.

    The corpus is left as it is (use `ctl corpus previous` for that).
    """
    _lever(env, workdir, "/admin/reset", {})


def _lever(env: Env, workdir: str | None, path: str, body: dict | None, method: str = "POST") -> None:
    wd = demo_workdir(env.home, workdir)
    info = _live_info(wd)
    if info is None:
        raise ServiceError(f"the demo is not running for {wd}; start it with: drillkit demo up{_wd_arg(env, wd)}")
    state = _admin(info, method, path, body)
    if env.json:
        env.emit_json(state)
    else:
        _print_state(env, state)


def _admin(info: RunInfo, method: str, path: str, body: dict | None = None) -> Any:
    """Call the service's admin API; 4xx → InputError (exit 2), no answer or 5xx → ServiceError."""
    url = info.urls["service"] + path
    try:
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            r = client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        raise ServiceError(f"the demo service did not answer {method} {url}: {exc or type(exc).__name__}") from None
    try:
        data = r.json()
    except ValueError:
        data = None
    if r.is_success:
        return data
    message = data.get("error") if isinstance(data, dict) else None
    message = message if isinstance(message, str) else r.text.strip() or f"HTTP {r.status_code}"
    if 400 <= r.status_code < 500:
        raise InputError(message)
    raise ServiceError(f"the demo service answered {r.status_code} to {method} {path}: {message}")


def _print_state(env: Env, state: Any) -> None:
    """The levers (or the corpus versions) in a few readable lines; unknown keys as they come."""
    if not isinstance(state, dict):
        env.out.print(escape(str(state)))
        return
    if "error" in state and len(state) == 1:
        env.out.print(f"[red]lever state unavailable:[/] {escape(str(state['error']))}")
        return
    if isinstance(state.get("versions"), list):  # GET /admin/corpus
        table = Table("corpus version", "documents", "created", "", box=None, pad_edge=False)
        for v in state["versions"]:
            mark = "[green]active[/]" if v.get("active") else ""
            table.add_row(str(v.get("version")), str(len(v.get("documents", []))), str(v.get("created_at", "")), mark)
        env.out.print(table)
        return
    rows: dict[str, str] = {}
    for key, value in state.items():
        if key in ("updated_at", "pinned_model", "provider_order"):
            continue
        if key == "route":
            order = state.get("provider_order") or []
            value = f"{value}" + (f"   (tried in order: {' → '.join(order)})" if len(order) > 1 else "")
        elif key == "models" and isinstance(value, dict):
            pinned = state.get("pinned_model")
            value = ", ".join(f"{name}: {model}" for name, model in value.items())
            value += f"   (pinned: {pinned})" if pinned else "   (none pinned: manifest models)"
        elif key == "health" and isinstance(value, dict):
            bad = {n: h for n, h in value.items() if isinstance(h, dict) and h.get("cooldown_s")}
            value = ", ".join(f"{n} cooling down {h['cooldown_s']}s" for n, h in bad.items()) or "all providers ok"
        elif isinstance(value, dict) and "active" in value:
            history = value.get("history") or []
            shown = " ← ".join(reversed(history[-5:]))
            value = f"{value['active']}" + (f"   (history, newest first: {shown})" if len(history) > 1 else "")
        rows[key] = str(value)
    for key, value in rows.items():
        env.out.print(f"{escape(key):<9} {escape(value)}")


# -- helpers -----------------------------------------------------------------------------------


def _live_info(wd: Path) -> RunInfo | None:
    """`demo.json` if its runner is alive; a stale one is removed."""
    info = read_run_info(wd)
    if info is None:
        return None
    if runner_pid(wd) != info.pid:
        remove_run_info(wd, info.pid)
        return None
    return info


def _info_dict(info: RunInfo) -> dict[str, Any]:
    return info.model_dump(mode="json")


def _failures(health: dict[str, Health]) -> str:
    return ", ".join(f"{name} {h.detail}" for name, h in health.items() if not h.ok)


def _wd_arg(env: Env, wd: Path) -> str:
    return "" if wd == demo_workdir(env.home) else f" --workdir {wd}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _log_excerpt(path: Path, lines: int = 25) -> str:
    """From the log's first error on (the cause, not the teardown noise after it), else its end."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    first = next((i for i, line in enumerate(text) if line.startswith(("ERROR", "Traceback", "error:"))), None)
    return "\n".join(text[first : first + lines] if first is not None else text[-lines:])


COMMANDS = [demo]
