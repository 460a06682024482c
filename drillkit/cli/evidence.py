"""`drillkit evidence …`: rollback evidence for risk and compliance readers, and the tamper-evident ledger."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import click
from rich.markup import escape

from drillkit.cli.options import Env, pass_env
from drillkit.config.system import System
from drillkit.errors import CheckFailed, InputError
from drillkit.journal import ledger
from drillkit.journal.ledger_operator import OPERATOR_ENV
from drillkit.journal.signing import KEY_ENV, PUB_FILE, keys_dir, short_fingerprint, signing_key
from drillkit.reports.evidence_verify import Verification, trust_anchors, verify_home

KEY_HELP = f"Ed25519 signing key file (PEM, 32 raw bytes or 64 hex) [env {KEY_ENV}; default <home>/keys/ledger.key]."


@click.group()
def evidence() -> None:
    """Rollback evidence: the signed ledger of rehearsals and incidents, its check, the report.

    \b
    Every finished game-day run and triage incident is entered in <home>/ledger.jsonl (hash-chained,
    with each journal's Merkle root) under an Ed25519-signed checkpoint.
      drillkit evidence verify                        nothing edited, dropped or reordered? (exit 1 if so)
      drillkit evidence report --since 2026-01-01 --out evidence.html
      drillkit evidence key                           the key fingerprint to publish outside the home
    """


@evidence.command("verify")
@click.option("--key", "key", metavar="FILE", help=KEY_HELP + " Its public half is trusted.")
@click.option("--pubkey", "pubkeys", metavar="FILE", multiple=True, help="Trust only this public key (repeatable).")
@click.option(
    "--fingerprint", "pins", metavar="FP", multiple=True, help="Trust only this key fingerprint, ed25519:<hex>."
)
@click.option(
    "--checkpoint",
    "external",
    metavar="FILE",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A copy of an earlier ledger.checkpoint.json kept elsewhere: the ledger must still extend it.",
)
@pass_env(json=True)
def verify(
    env: Env, key: str | None, pubkeys: tuple[str, ...], pins: tuple[str, ...], external: tuple[str, ...]
) -> None:
    """Check offline that no journal, summary or ledger entry was edited, dropped or reordered.

    Recomputes every recorded journal's hash chain, entry count, Merkle root and last-entry hash
    and compares them with the ledger; checks the ledger's own chain and the Ed25519 signature of
    its checkpoint (and that the signing key is trusted: this home's key, --key, or the pinned
    --pubkey/--fingerprint); checks files held as incident evidence. Prints one line per problem
    naming the file, the line and what is wrong. Journals not in the ledger (a run killed before it
    was recorded, or still running) are warnings.

    Exit 0 when all is intact, 1 when anything was edited, dropped or reordered.

    \b
    Examples:
      drillkit evidence verify
      drillkit evidence verify --fingerprint ed25519:3f2a… --checkpoint ~/audit/checkpoint-2026-q3.json
      drillkit evidence verify --json | jq '.findings[] | select(.severity == "error")'
    """
    _require_home(env)
    anchors = trust_anchors(env.home, key=key, pubkeys=[Path(p) for p in pubkeys], pins=list(pins))
    result = verify_home(env.home, anchors=anchors, external=[Path(p) for p in external])
    if env.json:
        env.emit_json(result.model_dump(mode="json"))
    else:
        print_verification(env, result)
    if not result.ok:
        n = len(result.errors)
        raise CheckFailed(f"{n} problem{'s' if n != 1 else ''}: the evidence under {env.home} is not intact")


def print_verification(env: Env, result: Verification) -> None:
    out = env.out
    cp = result.checkpoint
    out.print(f"ledger      {result.ledger_entries} entries ({escape(str(env.home / ledger.LEDGER_FILE))})")
    if cp is not None:
        sig = "signature valid" if cp.signature_ok else "[red]signature INVALID[/]"
        trust = f"trusted: {escape(cp.trusted_by)}" if cp.trusted_by else "[yellow]key not trusted[/]"
        out.print(f"checkpoint  {cp.size} entries, signed {escape(cp.ts)}; {sig}; {trust}")
        out.print(f"key         {escape(cp.key_fingerprint)}")
    for saved in result.external_checkpoints:
        out.print(f"saved       {escape(saved.file)}: {saved.size} entries, signed {escape(saved.ts)}")
    unrecorded = f", {result.journals_unrecorded} not in the ledger" if result.journals_unrecorded else ""
    out.print(f"journals    {result.journals_recorded} recorded{unrecorded}; {result.journal_entries} entries checked")
    for finding in result.findings:
        style = "bold red" if finding.severity == "error" else "yellow"
        out.print(f"[{style}]{finding.severity}:[/] {escape(str(finding))}")
    if result.ok:
        note = " (with warnings)" if result.warnings else ""
        out.print(f"[bold green]INTACT[/]{note}: nothing was edited, dropped or reordered")


@evidence.command("report")
@click.option("--since", metavar="DATE", help="First day of the period (runs selected by start time), e.g. 2026-01-01.")
@click.option(
    "--until", metavar="DATE", help="Last day of the period, inclusive [default: now]; overdue is judged here."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "json"]),
    help="Output format [default: from --out's extension, else html].",
)
@click.option("--out", metavar="FILE", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option(
    "--templates",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Folder with evidence.html.j2 / evidence.md.j2 overriding the shipped ones (also read: <home>/templates/).",
)
@pass_env(system=True, json=True)
def report(
    env: Env,
    since: str | None,
    until: str | None,
    fmt: str | None,
    out: str | None,
    templates: str | None,
) -> None:
    """The rollback-evidence report for risk and compliance readers: HTML, Markdown or JSON.

    For the period: the rehearsal cadence of each rollback path (model, prompt, retrieval,
    provider fallback, tools) with the last rehearsal and an overdue flag (> 90 days); every
    game-day run with TTD, rollback time, TTR, RTO target, verdict, operator and journal digest; a
    chart of rollback time against the target; incidents; failures and open gaps; a mapping to
    DORA, the EU AI Act, NIST AI RMF, ISO/IEC 42001 and SOC 2 clauses; and the integrity check of
    the record (as `drillkit evidence verify`). The HTML page is self-contained and prints cleanly.
    The manifest (--system), when found, adds each path's designed rollback.

    \b
    Examples:
      drillkit evidence report --since 2026-01-01 --out evidence.html
      drillkit evidence report --since 2026-07-01 --until 2026-09-30 --format md --out q3.md
      drillkit evidence report --json | jq '.cadence[] | select(.status != "ok")'
    """
    from drillkit.reports.evidence import build_report
    from drillkit.reports.evidence_render import render

    _require_home(env)
    start = parse_date(since, end=False, option="--since")
    end = parse_date(until, end=True, option="--until")
    if start and end and start > end:
        raise InputError(f"--since {since} is after --until {until}")
    if env.json:
        fmt = "json"
    elif fmt is None:
        suffix = Path(out).suffix.lower() if out else ""
        fmt = {".md": "md", ".markdown": "md", ".json": "json"}.get(suffix, "html")
    system = _optional_system(env)
    data = build_report(env.home, since=start, until=end, system=system)
    text = render(data, fmt, home=env.home, templates=Path(templates) if templates else None)  # type: ignore[arg-type]
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write the report ({exc.strerror or exc})") from None
        state = "intact" if data.integrity.ok else "NOT intact"
        env.err.print(
            f"wrote {escape(out)} ({fmt}): {data.totals.runs} rehearsal(s), {data.totals.incidents} incident(s), "
            f"{len(data.gaps)} gap(s); record {state}"
        )
    else:
        click.echo(text, nl=False)
    if not data.integrity.ok:
        env.err.print("[yellow]warning:[/] the record is not intact; see 'drillkit evidence verify'")


def _require_home(env: Env) -> None:
    """A home that does not exist holds no evidence: saying it is intact would mislead (a typo in
    --home, a wrong DRILLKIT_HOME)."""
    if not env.home.is_dir():
        raise InputError(f"{env.home}: no drillkit home here (give --home or set DRILLKIT_HOME)")


def _optional_system(env: Env) -> System | None:
    """The manifest when one is given or found; the report does without (it only adds designs)."""
    try:
        return env.load_system()
    except InputError:
        if env.system_arg:
            raise
        return None


@evidence.command("record")
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Record every run, incident and plan on disk the ledger does not list, and the change log's new lines.",
)
@click.option("--key", "key", metavar="FILE", help=KEY_HELP)
@click.option(
    "--operator",
    metavar="NAME",
    help=f"Who enters these records; signed into each ledger entry [env {OPERATOR_ENV}; default the OS user].",
)
@pass_env(json=True)
def record_(env: Env, folders: tuple[str, ...], all_: bool, key: str | None, operator: str | None) -> None:
    """Enter runs, incidents or plans in the ledger that were not recorded when they finished.

    Game-days, plans, triage sessions and watch sessions record themselves; this is for one
    stopped before it could (SIGKILL, a crash), or journals from before the ledger existed.
    FOLDERS are run, incident or plan folders (<home>/runs/<id>, <home>/incidents/<id>,
    <home>/plans/<id>); --all also enters the change log (<home>/changes.jsonl) when it has lines
    the ledger does not cover yet. Recording the same folder twice changes nothing. A journal
    whose own hash chain is broken is refused: it would be signed as it is. Each entry names who
    entered it (--operator, else DRILLKIT_OPERATOR, else the OS user), and the signed checkpoint
    covers that name.

    \b
    Examples:
      drillkit evidence record .drillkit/runs/20261128T082331Z-silent-model-swap-b5c8
      drillkit evidence record --all --operator "Dana Reyes"
    """
    from drillkit.journal.writer import Journal, JournalBusy
    from drillkit.reports.summaries import read_json_object

    targets = [Path(f) for f in folders]
    if all_:
        recorded = {ledger.resolve_recorded(env.home, e.journal).absolute() for e in ledger.read_ledger(env.home)}
        for folder in ("runs", "incidents", "plans"):
            for journal in sorted((env.home / folder).glob("*/journal.jsonl")):
                if journal.absolute() not in recorded:
                    targets.append(journal.parent)
    if not targets and not all_:
        raise InputError("name the run, incident or plan folders to record, or pass --all")
    done = []
    for folder in targets:
        journal = folder / "journal.jsonl"
        if not journal.is_file():
            raise InputError(f"{folder}: no journal.jsonl here (expected a run, incident or plan folder)")
        kind = {"incidents": "incident", "plans": "plan"}.get(folder.absolute().parent.name, "run")
        try:
            # Opening the journal as its writer would cuts a crash's partial last line and journals
            # the repair; it also refuses (JournalBusy) a journal a live run is still writing.
            Journal(journal).close()
        except JournalBusy:
            raise CheckFailed(f"{journal}: still being written by a running drillkit process; not recorded") from None
        _refuse_broken(journal)
        summary = read_json_object(folder / "summary.json") or {}
        entry = ledger.record(env.home, kind, folder.name, journal, summary, key=key, operator=operator)
        done.append(entry)
        _print_recorded(env, entry)
    if all_:
        entry = _record_change_log(env, key, operator)
        if entry is not None:
            done.append(entry)
            _print_recorded(env, entry)
    if env.json:
        env.emit_json([e.model_dump() for e in done])
    elif not done:
        env.out.print("nothing to record: every run, incident, plan and change on disk is in the ledger")


def _refuse_broken(journal: Path) -> None:
    """CheckFailed when a journal's own hash chain is broken: it would be signed as it is."""
    from drillkit.journal.verify import verify_chain

    broken = verify_chain(journal)
    if broken:
        raise CheckFailed(f"{journal}: {broken[0].message}; not recorded (run 'drillkit evidence verify')")


def _print_recorded(env: Env, entry: ledger.LedgerEntry) -> None:
    if not env.json:
        env.out.print(
            f"recorded  {entry.kind} {escape(entry.id)}  (ledger line {entry.seq}, {entry.entries} entries, "
            f"by {escape(entry.operator or '?')})"
        )


def _record_change_log(env: Env, key: str | None, operator: str | None) -> ledger.LedgerEntry | None:
    """The change log's lines the ledger does not cover yet, entered as a longer prefix (the way a
    watch session records it as it ends); None when there are none, or a watch is writing it."""
    from drillkit.components.changelog import changes_path
    from drillkit.journal.writer import Journal, JournalBusy
    from drillkit.watch.session import LEDGER_ID

    path = changes_path(env.home)
    if not path.is_file():
        return None
    previous = ledger.latest_by_id(ledger.read_ledger(env.home)).get(LEDGER_ID)
    try:
        Journal(path).close()
    except JournalBusy:
        env.err.print(f"[yellow]skipped:[/] {escape(str(path))}: a running `drillkit watch` is writing it; "
                      "it records the log itself when it stops")  # fmt: skip
        return None
    _refuse_broken(path)
    entry = ledger.record(env.home, "changes", LEDGER_ID, path, {}, key=key, operator=operator)
    return None if previous is not None and entry.seq == previous.seq else entry


@evidence.command("key")
@click.option("--key", "key", metavar="FILE", help=KEY_HELP)
@pass_env(json=True)
def key_(env: Env, key: str | None) -> None:
    """Show the ledger signing key's fingerprint (created on first use; the private key is never shown).

    Publish the fingerprint outside the drillkit home (a wiki page, a commit, the evidence report)
    so that `drillkit evidence verify --fingerprint FP` can prove the checkpoint was signed by it.
    A team supplies its own key with --key FILE or DRILLKIT_SIGNING_KEY (e.g. from a CI secret);
    create one with `openssl genpkey -algorithm ed25519 -out team.key`.
    """
    signer = signing_key(env.home, key)
    public = keys_dir(env.home) / PUB_FILE
    info = {
        "fingerprint": signer.fingerprint,
        "key_file": signer.source,
        "public_key_file": str(public) if public.exists() and key is None else None,
    }
    if env.json:
        env.emit_json(info)
        return
    env.out.print(f"fingerprint  {signer.fingerprint}")
    env.out.print(f"short        {short_fingerprint(signer.fingerprint)}")
    env.out.print(f"key file     {escape(signer.source)}  (private: never share it)")


def parse_date(value: str | None, *, end: bool, option: str) -> datetime | None:
    """`2026-01-01` (a whole day: its start, or its end for --until) or an ISO 8601 time, as UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").date()
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value}: expected a date like 2026-01-31 or a time like 2026-01-31T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
