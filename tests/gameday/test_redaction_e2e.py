"""Secrets and personal data that pass through the demo during a game-day reach no file under the
drillkit home: the redaction policy runs before anything is persisted.

The seeded values all live outside the home: the scenario's traffic file (requests), a demo
workdir outside the home whose corpus document and order record put them into the service's and
the tool's responses, and a rollback script whose output prints credentials. Every file under the
home is then searched, as bytes, for every seeded value; placeholders in the journal prove the
values did flow there and were replaced (the test cannot pass by recording nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.config.scenario import RestoreStep
from drillkit.config.system import load_system
from drillkit.gameday import leftovers
from drillkit.journal.ledger import read_ledger
from drillkit.journal.verify import read_journal, verify_chain

REPO = Path(__file__).resolve().parents[2]
UP = ["demo", "up", "--port", "0", "--latency-scale", "0"]

EMAIL = "jane.doe.7731@example.org"
CARD = "4111 1111 1111 1111"
API_KEY = "sk-proj-Qz7XbT2mVw9LkR4sNp8DyH3c"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqYW5lIiwiYWRtaW4iOnRydWV9.Tq3c7Xv2kP9wLmN4bR8sYd1FgH6jK0aZ"
AWS_KEY = "AKIAZ7QWERTYUIOP4XYZ"
PHONE = "+1 415 555 0187"
IPV4 = "198.51.100.23"
PEM_BODY = "MIIEpAIBAAKCAQEA3Tz2mQ7uYbFvK9xWc1LpR4sNe8HdJ0gVbQ5tZyXu2a6oPiMk"
ESCALATION_EMAIL = "escalations.vault@acme-support.example"
ESCALATION_PHONE = "+44 20 7946 0958"
CUSTOMER_CARD = "5500 0055 5555 5559"
CUSTOMER_ID = "CUST-904211"
BEARER = "rst-Tq3c7Xv2kP9wLmN4bR8sYd1F"
AWS_SECRET = "Zq3/Xv7kP9wLmN4bR8sYd1FgH6jK0aTu2+eCvBnM"  # printed unlabelled next to AWS_KEY
IBAN = "DE44 5001 0517 5407 3249 31"  # mod-97 valid
ONCALL_PHONE = "4155550199"  # bare 10 digits: only a phone because a phone word labels it

#: Sent as a configured service header (`${DK_E2E_SERVICE_KEY}`): a secret no file may ever hold.
SERVICE_KEY = "sk-svc-e2e-5b0c7f1d9a2e48c6b3"
SEEDED = [SERVICE_KEY, EMAIL, CARD, API_KEY, JWT, AWS_KEY, PHONE, IPV4, PEM_BODY, ESCALATION_EMAIL, ESCALATION_PHONE,
          CUSTOMER_CARD, CUSTOMER_ID, BEARER, AWS_SECRET, IBAN, ONCALL_PHONE]  # fmt: skip
# Other spellings a writer could produce from the same values (digits only, JSON-escaped).
VARIANTS = [CARD.replace(" ", ""), CUSTOMER_CARD.replace(" ", ""), PHONE.replace(" ", ""), "jane.doe.7731",
            IBAN.replace(" ", ""), AWS_SECRET.replace("/", "\\/")]  # fmt: skip

QUESTIONS = [
    f"My email is {EMAIL} and my card {CARD} was charged twice, please refund",
    f"I pasted my key {API_KEY} into the chat by mistake, can you delete it?",
    f"Here is my session token {JWT} and AWS key {AWS_KEY}, is my account safe?",
    f"Call me back on {PHONE}, I am connecting from {IPV4}",
    f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY----- is this yours?",
]
VAULT_DUMP = (
    f"rotated credentials for {EMAIL}\naccess key {AWS_KEY}\napi key {API_KEY}\nsession {JWT}\n"
    f"client ip {IPV4}\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n"
    # as `aws iam create-access-key --output text` prints a new key pair: no label on the secret
    f"ACCESSKEY\t{AWS_KEY}\t2026-11-28T10:10:03Z\t{AWS_SECRET}\tActive\tvault-rotator\n"
    f"billing account IBAN {IBAN}; on-call phone: {ONCALL_PHONE}\n"
)
ESCALATION_DOC = (
    "# Vault escalations\n\nFor a vault escalation, email "
    f"{ESCALATION_EMAIL} or call {ESCALATION_PHONE}; quote the vault escalation reference.\n"
)
CUSTOMER_ORDER = {
    "order_id": "A1099", "status": "shipped", "carrier": "DHL", "eta": "2026-12-04",
    "items": [{"sku": "KB-200", "name": "Wireless keyboard", "quantity": 1}],
    "customer": {"id": CUSTOMER_ID, "email": EMAIL, "phone": PHONE, "card": CUSTOMER_CARD, "refund_to": IBAN},
}  # fmt: skip


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DRILLKIT_HOME": str(home), "DK_E2E_SERVICE_KEY": SERVICE_KEY, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def drillkit(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillkit", *args], env=env_for(home), capture_output=True, text=True, timeout=timeout
    )


def seed_workdir(workdir: Path) -> None:
    """Put the seeded values where the demo's responses will carry them, and a manifest rule."""
    (workdir / "corpus" / "vault-escalations.md").write_text(ESCALATION_DOC)
    orders = json.loads((workdir / "orders.json").read_text())
    orders["A1099"] = CUSTOMER_ORDER
    (workdir / "orders.json").write_text(json.dumps(orders, indent=2))
    manifest = yaml.safe_load((workdir / "drillkit.yaml").read_text())
    manifest["redaction"] = {"rules": [{"name": "customer", "pattern": r"CUST-\d{6}"}]}
    manifest["service"]["headers"] = {"X-Api-Key": "${DK_E2E_SERVICE_KEY}"}
    (workdir / "drillkit.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def scenario(outside: Path, workdir: Path) -> Path:
    system = load_system(workdir / "drillkit.yaml")
    inputs = outside / "inputs.jsonl"
    sample = (workdir / "inputs" / "sample.jsonl").read_text().splitlines()
    inputs.write_text("\n".join([*sample, *(json.dumps({"question": q}) for q in QUESTIONS)]) + "\n")
    dump = outside / "vault-dump.txt"
    dump.write_text(VAULT_DUMP)
    ctl = ["drillkit", "demo", "ctl", "--workdir", str(workdir)]
    spec = {
        "apiVersion": "drillkit/v1", "kind": "Scenario", "id": "redaction-e2e",
        "title": "silent swap with secrets in the traffic", "layer": "model", "severity": "high",
        "system": str(workdir / "drillkit.yaml"),
        "traffic": {"rate": 20, "concurrency": 32, "inputs": str(inputs)},
        "timeline": {"warmup": "3s", "window": "1s", "max_duration": "45s"},
        "faults": [{"type": "model_swap", "target": "provider:primary", "match": {"model": "sim-pro"},
                    "attributes": {"serve_model": "sim-pro-2025-11"}}],
        "rollback": {"mode": "auto", "steps": [
            {"name": "pin previous weights", "run": [*ctl[:3], "pin", "sim-pro-2025-06", *ctl[3:]]},
            # Responses that carry personal data and secrets end up in the step's recorded output.
            {"name": "ask the assistant", "http": {"method": "POST", "url": str(system.service.url),
             "json": {"question": f"How do I reach the vault escalation desk? I am {EMAIL}"}}},
            {"name": "look up the customer's order", "http": {
                "method": "GET", "url": f"{system.tools['order_status'].base_url}".rstrip("/") + "/orders/A1099"}},
            {"name": "rotate vault credentials", "run": [sys.executable, "-c",
             "import sys; print(open(sys.argv[1]).read())", str(dump)]},
        ]},
        "expect": {"detect_within": "15s", "recover_within": "25s", "breach": ["eval_pass_rate"]},
        "verify": {"evals": True, "fingerprint": {"model": "sim-pro-2025-06"}},
        "restore": [
            {"name": "reset", "run": [*ctl[:3], "reset", *ctl[3:]]},
            {"name": "health with a token", "http": {"method": "GET", "url": str(system.service.url),
             "headers": {"Authorization": f"Bearer {BEARER}"}, "expect_status": [200, 405]}},
        ],
    }  # fmt: skip
    path = outside / "redaction-e2e.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def files_under(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


def test_seeded_secrets_and_pii_reach_no_file_under_the_home(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    outside.mkdir()
    workdir = outside / "demo"
    up = drillkit(home, *UP, "--workdir", str(workdir))
    assert up.returncode == 0, up.stderr
    try:
        seed_workdir(workdir)
        # The seeded responses are real: the service quotes the document, the tool returns the record.
        system = load_system(workdir / "drillkit.yaml")
        # The service re-reads its corpus at most every second: ask until the new document is live.
        deadline = time.monotonic() + 10
        while True:
            answer = httpx.post(str(system.service.url), json={"question": "How do I reach the vault escalation desk?"},
                                trust_env=False, timeout=10).json()  # fmt: skip
            if ESCALATION_EMAIL in answer["answer"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert ESCALATION_EMAIL in answer["answer"] and ESCALATION_PHONE in answer["answer"]
        junit = home / "reports" / "gameday.xml"
        junit.parent.mkdir(parents=True)
        run = subprocess.run(
            [sys.executable, "-m", "drillkit", "gameday", "run", str(scenario(outside, workdir)), "--auto",
             "--no-live", "--json", "--junit", str(junit)],
            env=env_for(home), capture_output=True, text=True, timeout=150,
        )  # fmt: skip
    finally:
        down = drillkit(home, "demo", "down", "--workdir", str(workdir))
    assert down.returncode == 0, down.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    run_dir = home / "runs" / summary["run_id"]
    # The review draft of this real run is written under the home too, so the search covers it.
    review = home / "reviews" / "review.md"
    drafted = CliRunner().invoke(cli, ["review", "draft", summary["run_id"], "--out", str(review)],
                                 env={"DRILLKIT_HOME": str(home)}, catch_exceptions=False)  # fmt: skip
    assert drafted.exit_code == 0, drafted.output

    # Nothing seeded anywhere under the home, in any spelling; nor on stdout/stderr.
    files = files_under(home)
    assert run_dir / "journal.jsonl" in files and run_dir / "summary.json" in files and junit in files
    assert review in files
    assert home / "ledger.jsonl" in files
    for path in files:
        raw = path.read_bytes()
        for value in SEEDED + VARIANTS:
            assert value.encode() not in raw, f"{value!r} found in {path.relative_to(home)}"
    for value in SEEDED + VARIANTS:
        assert value not in run.stdout and value not in run.stderr

    # ...because they were replaced, not because nothing was recorded.
    journal = run_dir / "journal.jsonl"
    assert verify_chain(journal) == []
    entries = read_journal(journal)
    started = entries[0].data
    assert started["redaction"]["version"] == "drillkit-redact/1" and "customer" in started["redaction"]["rules"]
    steps = {e.data["name"]: e.data for e in entries if e.kind == "rollback.step"}
    assert all(s["ok"] for s in steps.values()), steps
    assert "<email:" in steps["ask the assistant"]["detail"] and "<phone:" in steps["ask the assistant"]["detail"]
    order = steps["look up the customer's order"]["detail"]
    assert "<customer:1>" in order and "<card:" in order and "A1099" in order and "2026-12-04" in order
    assert "<iban:" in order and "<phone:" not in order.split('"refund_to":')[1], order  # whole, not in part
    vault = steps["rotate vault credentials"]["detail"]
    for label in ("email", "aws_key", "aws_secret", "api_key", "jwt", "ipv4", "private_key", "iban", "phone"):
        assert f"<{label}:" in vault, vault
    assert "on-call phone: <phone:" in vault and "2026-11-28T10:10:03Z" in vault  # the timestamp survives
    # One table per run: the IBAN has the same placeholder in the tool's response and the step's output.
    iban_token = order.split('"refund_to":"')[1].split('"')[0]
    assert iban_token.startswith("<iban:") and f"IBAN {iban_token};" in vault
    # One placeholder table per run: the customer's e-mail is the same token in both outputs.
    token = order.split('"email":"')[1].split('"')[0]
    assert token.startswith("<email:") and token in vault
    # What must survive did: digests, run id, timings.
    assert summary["journal_head"] == entries[-1].hash and summary["run_id"] in str(run_dir)
    assert summary["verdict"] == "pass" and summary["ttd_s"] > 0
    # The ledger recorded the run (after the journal was closed), from the redacted summary.
    assert [e.id for e in read_ledger(home)] == [summary["run_id"]]

    # The review of the real run: timings and layer findings filled in, evidence pointing at the ledger.
    text = review.read_text()
    assert f"Time to detect: **{summary['ttd_s']:.1f} s** after the fault (target 15.0 s: met)" in text
    assert f"Rollback took **{summary['rollback_s']:.1f} s**; recovered **{summary['ttr_s']:.1f} s**" in text
    assert "Fault injected: model\\_swap on primary" in text and "| `eval_pass_rate` | 90.0 % |" in text
    assert "Ledger: entry **1 of 1**" in text and summary["journal_head"] in text
    assert "<customer:1>" in text  # the order lookup's output, as recorded: placeholders, not values


def test_owed_restore_steps_are_stored_redacted_and_run_with_their_real_values(tmp_path: Path) -> None:
    home = tmp_path / "home"
    scenario_file = tmp_path / "s.yaml"
    step = {"name": "reset via api", "http": {"method": "POST", "url": "http://203.0.113.9/admin/reset",
            "headers": {"Authorization": f"Bearer {BEARER}"}}}  # fmt: skip
    spec = {
        "apiVersion": "drillkit/v1", "kind": "Scenario", "id": "s", "title": "t", "layer": "model",
        "severity": "low", "system": "demo", "faults": [{"type": "latency", "target": "provider:primary"}],
        "rollback": {"mode": "manual", "instructions": "do it"}, "restore": [step],
    }  # fmt: skip
    scenario_file.write_text(yaml.safe_dump(spec))
    run_dir = home / "runs" / "20261128T101500Z-s-ab12"
    run_dir.mkdir(parents=True)
    started = {"seq": 1, "kind": "run.started", "data": {"scenario_file": str(scenario_file)}}
    (run_dir / "journal.jsonl").write_text(json.dumps(started) + "\n")

    # as inject() records them:
    owed_steps = [RestoreStep.model_validate(step).model_dump(mode="json", by_alias=True, exclude_none=True)]
    leftovers.owe_restore(home, run_dir.name, owed_steps)
    stored = leftovers.pending_path(home).read_text()
    assert BEARER not in stored and "203.0.113.9" not in stored and '"redacted": true' in stored
    (owed,) = leftovers.read_pending(home)
    assert owed["steps"] == owed_steps  # re-read from the scenario: the restore can still authenticate
    assert RestoreStep.model_validate(owed["steps"][0]).http.headers["Authorization"] == f"Bearer {BEARER}"

    spec["restore"][0]["http"]["headers"]["Authorization"] = "Bearer rotated-token-0000"
    scenario_file.write_text(yaml.safe_dump(spec))
    (owed,) = leftovers.read_pending(home)  # only the secret changed (rotated): the current one is used
    assert owed["steps"][0]["http"]["headers"]["Authorization"] == "Bearer rotated-token-0000"

    spec["restore"][0]["http"]["url"] = "http://203.0.113.9/admin/other"
    scenario_file.write_text(yaml.safe_dump(spec))
    (owed,) = leftovers.read_pending(home)  # the step itself changed since: never run something else
    assert owed["steps"][0]["http"]["headers"]["Authorization"].startswith("<secret:")
    leftovers.paid_restore(home, run_dir.name)
    assert leftovers.read_pending(home) == []


@pytest.mark.parametrize("steps", [[{"name": "reset", "run": ["drillkit", "demo", "ctl", "reset"]}]])
def test_owed_restore_steps_without_secrets_are_stored_as_they_are(tmp_path: Path, steps: list) -> None:
    leftovers.owe_restore(tmp_path, "r1", steps)
    assert json.loads(leftovers.pending_path(tmp_path).read_text()) == [{"run_id": "r1", "steps": steps}]


def test_a_ledger_failure_is_reported_and_never_raised(tmp_path: Path) -> None:
    from drillkit.gameday.run import Options, _record_in_ledger
    from drillkit.gameday.summary import Summary
    from drillkit.journal import Journal
    from drillkit.journal.events import Event, LedgerFailed
    from drillkit.journal.redact import Redactor

    home = tmp_path / "home"
    run_dir = home / "runs" / "20261128T101500Z-x-ab12"
    run_dir.mkdir(parents=True)
    with Journal(run_dir / "journal.jsonl", fsync=False) as journal:
        journal.append("run.started", {"run_id": run_dir.name})
    summary = Summary(run_id=run_dir.name, scenario="x", verdict="pass", ttd_s=1.0, rollback_s=1.0, ttr_s=2.0,
                      rto_target_s=300, faults=[], breached=[], verify={})  # fmt: skip
    summary.write(run_dir / "summary.json")
    events: list[Event] = []
    options = Options(home=home, on_event=events.append)
    (home / "ledger.jsonl").mkdir()  # the ledger cannot be written
    _record_in_ledger(options, run_dir, summary, Redactor())
    assert [type(e) for e in events] == [LedgerFailed] and isinstance(events[0], LedgerFailed) and events[0].error
    assert "not recorded in the evidence ledger" in events[0].describe()
    (home / "ledger.jsonl").rmdir()
    _record_in_ledger(options, run_dir, summary, Redactor())
    assert len(events) == 1 and [e.id for e in read_ledger(home)] == [run_dir.name]
