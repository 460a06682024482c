"""`drillkit demo ctl …`: pull the demo service's levers (its rollback paths)."""

from __future__ import annotations

from typing import Any

import click

from drillkit.cli.demo_common import Where, hinted, print_state, workdir_option
from drillkit.cli.options import Env, pass_env
from drillkit.demo import control
from drillkit.errors import InputError
from drillkit.home import demo_workdir


def ctl_command(name: str, *params: Any) -> Any:
    """A `ctl` subcommand with its click parameters, `--workdir` and the shared options."""

    def decorate(f: Any) -> Any:
        for param in reversed(params):
            f = param(f)
        return ctl.command(name)(workdir_option(pass_env(json=True)(f)))

    return decorate


@click.group("ctl")
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
      drillkit demo ctl degrade on              a slightly worse answer, in time
      drillkit demo ctl kill-switch on          the AI feature off: a static answer
      drillkit demo ctl reset                   every lever back to its default
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


ON_OFF = click.argument("state", type=click.Choice(["on", "off"]))


@ctl_command("degrade", ON_OFF)
def ctl_degrade(env: Env, state: str, workdir: str | None) -> None:
    """Degrade gracefully: a slightly worse answer, in time (the capacity rollback path).

    While on, the fast fallback provider answers first (one sentence from the small model), from
    a shorter context (the best 2 documents, each cut to its 2 sentences closest to the question)
    and with answers capped at 128 tokens. Quality dips but stays inside the eval envelope (about
    93 % on the demo); time drops when the providers are short of capacity. `off` (or `ctl reset`)
    puts the full answers back.

    \b
    Examples:
      drillkit demo ctl degrade on
      drillkit demo ctl degrade off
    """
    _lever(env, workdir, control.switch, "degrade", state == "on")


@ctl_command("kill-switch", ON_OFF)
def ctl_kill_switch(env: Env, state: str, workdir: str | None) -> None:
    """Turn the AI feature off: every question gets a static answer, at once (the safe state).

    While on, no provider, retrieval or tool is called; the answer says the assistant is
    unavailable and points to the help centre. The evals fail on it (quality far below the
    envelope), as they should: users get no answer. `off` (or `ctl reset`) turns the feature on.

    \b
    Examples:
      drillkit demo ctl kill-switch on
      drillkit demo ctl kill-switch off
    """
    _lever(env, workdir, control.switch, "kill-switch", state == "on")


@ctl_command("reset")
def ctl_reset(env: Env, workdir: str | None) -> None:
    """Put route, pinned model and prompt back to their defaults; degrade and kill switch off.

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
        print_state(env, state)


__all__ = [
    "ctl",
    "ctl_command",
    "ctl_corpus",
    "ctl_degrade",
    "ctl_kill_switch",
    "ctl_pin",
    "ctl_prompt",
    "ctl_reset",
    "ctl_route",
]
