"""Redaction policy drillkit-redact/1: what is replaced, what must survive, stable placeholders,
the manifest's extra rules, the journal wiring, and the cost per journal entry."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import pytest
import yaml

from drillkit.config.system import load_system
from drillkit.errors import InputError
from drillkit.journal import Journal, read_journal, verify_chain
from drillkit.journal.redact import PLACEHOLDER, POLICY_VERSION, Redactor, iban_ok, is_card_number, key_label

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SHA1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"

# (label, text containing the value, the value that must disappear)
SENSITIVE = [
    ("email", "write to jane.doe+orders@example.co.uk today", "jane.doe+orders@example.co.uk"),
    ("phone", "call +1 415 555 0134 after 5pm", "+1 415 555 0134"),
    ("phone", "call +14155550134", "+14155550134"),
    ("phone", "or (415) 555-0134.", "(415) 555-0134"),
    ("phone", "or 415-555-0134", "415-555-0134"),
    ("phone", "London 020 7946 0958", "020 7946 0958"),
    ("phone", "Berlin +49 30 901820", "+49 30 901820"),
    ("card", "card 4111 1111 1111 1111 expires", "4111 1111 1111 1111"),
    ("card", "card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
    ("card", "mc 5500005555555559 ok", "5500005555555559"),
    ("card", "amex 378282246310005", "378282246310005"),
    ("ipv4", "client 203.0.113.7 connected", "203.0.113.7"),
    ("ipv4", "from 10.1.2.3:443", "10.1.2.3"),
    ("ipv6", "client 2001:db8::8a2e:370:7334 connected", "2001:db8::8a2e:370:7334"),
    ("api_key", "key sk-proj-AbC123xyZ987qwErty654uiop", "sk-proj-AbC123xyZ987qwErty654uiop"),
    ("api_key", "key sk-ant-api03-abcdefghijklmnopqrstuv_wxyz", "sk-ant-api03-abcdefghijklmnopqrstuv_wxyz"),
    ("api_key", "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("api_key", "slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("aws_key", "id AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    ("jwt", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk ok",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
    ("bearer", "Authorization: Bearer abc123.def-456_ghi", "abc123.def-456_ghi"),
    ("secret", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("secret", "login with password=hunter2now", "hunter2now"),
    ("secret", '{"api_key": "abcd-1234-efgh"}', "abcd-1234-efgh"),
    ("secret", "GET /v1/x?access_token=t0k3nValue&x=1", "t0k3nValue"),
    ("credentials", "postgres://admin:s3cr3t@db.internal:5432/app", "admin:s3cr3t"),
    ("private_key", f"here is a key:\n{PEM}\nthat was it", "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePz"),
    ("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ (cut)",
     "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("private_key", "...tail of output\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n-----END PRIVATE KEY-----",
     "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u"),
    # AWS secret access keys: labelled (any 40 characters of the alphabet, hex included)...
    ("aws_secret", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f"SecretAccessKey: {AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f'{{"SecretAccessKey": "{AWS_SECRET}", "Expiration": "2026-12-02T10:00:00Z"}}', AWS_SECRET),
    ("aws_secret", f"AWS Secret Access Key [None]: {AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f"aws configure set aws_secret_access_key {AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f"aws_secret_key: {AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f"secret_access_key: {SHA1}", SHA1),
    # ...and unlabelled next to an access key id (the red team's pair; CLI text, CSV, JSON-escaped).
    ("aws_secret", f"{AWS_ID} {AWS_SECRET}", AWS_SECRET),
    ("aws_key", f"{AWS_ID} {AWS_SECRET}", AWS_ID),
    ("aws_secret", f"{AWS_SECRET}\n{AWS_ID}", AWS_SECRET),
    ("aws_secret", f"ACCESSKEY\t{AWS_ID}\t2026-11-28T10:10:03Z\t{AWS_SECRET}\tActive\tbob", AWS_SECRET),
    ("aws_secret", f"User name,Access key ID,Secret access key\nbob,{AWS_ID},{AWS_SECRET}", AWS_SECRET),
    ("aws_secret", f'stdout: "rotated\\n{AWS_ID}\\n{AWS_SECRET}\\n"', AWS_SECRET),
    ("aws_key", f'stdout: "rotated\\n{AWS_ID}\\n"', AWS_ID),
    ("aws_secret", f"ASIAZ7QWERTYUIOP4XYZ {'x' * 150} {AWS_SECRET}", AWS_SECRET),
    # IBANs, spaced or not, whole (no phone or card placeholder inside).
    ("iban", "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00"),
    ("iban", "IBAN DE89370400440532013000.", "DE89370400440532013000"),
    ("iban", "pay to GB29 NWBK 6016 1331 9268 19 by Friday", "GB29 NWBK 6016 1331 9268 19"),
    ("iban", "NL91ABNA0417164300", "NL91ABNA0417164300"),
    ("iban", "Norway NO93 8601 1117 947", "NO93 8601 1117 947"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606 (Paris)", "FR14 2004 1010 0505 0001 3M02 606"),
    ("iban", "MT84 MALT 0110 0001 2345 MTLC AST0 01S", "MT84 MALT 0110 0001 2345 MTLC AST0 01S"),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00 1234 5678", "DE89 3704 0044 0532 0130 00"),
    ("iban", "ref AB12 DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("iban", 'stdout: "refund to\\nDE89370400440532013000\\n"', "DE89370400440532013000"),
    # Phone numbers: formatted ones anywhere...
    ("phone", "call +4915112345678", "+4915112345678"),
    ("phone", "call +1 415 555 2671 now", "+1 415 555 2671"),
    ("phone", "or 415.555.2671", "415.555.2671"),
    ("phone", "London +44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "Berlin 030 12345678", "030 12345678"),
    ("phone", "mobile 07911 123456", "07911 123456"),
    # ...bare digit runs only next to a phone word.
    ("phone", "phone: 4155552671", "4155552671"),
    ("phone", "Phone number: 4155552671", "4155552671"),
    ("phone", "PHONE NUMBER 4155552671", "4155552671"),
    ("phone", "MY PHONE NUMBER IS 4155552671", "4155552671"),
    ("phone", "my phone is 4155552671", "4155552671"),
    ("phone", "tel 4155552671", "4155552671"),
    ("phone", "Tel.: 4155552671", "4155552671"),
    ("phone", "tel:4155552671", "4155552671"),
    ("phone", "mobile: 4155552671", "4155552671"),
    ("phone", "cell # 4155552671", "4155552671"),
    ("phone", "call me at 4155552671.", "4155552671"),
    ("phone", "text me on 4155552671", "4155552671"),
    ("phone", "Contact phone no. 4155552671", "4155552671"),
    ("phone", '{"phone_number": "4155552671"}', "4155552671"),
    ("phone", '{"mobilePhone": "4155552671"}', "4155552671"),
    ("phone", "reach me on 4155552671 (mobile)", "4155552671"),
    ("phone", "4155552671 (mobile)", "4155552671"),
    ("phone", "whatsapp 004915112345678", "004915112345678"),
]  # fmt: skip

# Strings that must come out byte for byte as they went in.
KEPT = [
    "Order A1003 is shipped via DHL, expected 2026-12-02.",
    "SKU KB-200 and PB-050, 2 × USB-C cable",
    "price $1,299.00 (was 1.299,00 EUR); cost 0.00165885 USD per request",
    "2026-11-28T10:10:03.372Z",
    "2026-11-28T10:10:03+00:00",
    "2026-11-28 10:15:00",
    "run 20261128T101003Z-silent-model-swap-717c",
    "prev 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "trace df2f52acbf7b4897a106fed7ee00efec",
    "uuid 12345678-1234-1234-1234-123456789012",
    "drillkit 0.1.0, litellm 1.108.7, python 3.11.9, sim-pro-2025-06",
    "TTD 3.067s, rollback 2.389s, TTR 8.973s, RTO 300s, 320 requests, p95 21.2 ms",
    "http://127.0.0.1:8715/faults and [::1]:8080 and 0.0.0.0:8474",
    "input_tokens: 577, output_tokens: 14, max_tokens=256",
    "not a card: 4111 1111 1111 1112 (Luhn fails) nor 1234567890123456 (no network prefix)",
    "epoch ms 1764324603123 and ns 1764324603123456789",
    "route primary (tried in order: primary → fallback); prompt v3; corpus c33679623",
    "10:15:00 and 00:1a:2b:3c:4d:5e",
    "the basic plan and a token budget; tokens: 12",
    "<email:1> and <card:2> stay placeholders",
    # 40-character strings without a label or a key id nearby: git SHA-1s, and even an AWS secret
    f"commit {SHA1} (HEAD -> main)",
    "commit 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B",
    f"a lone {AWS_SECRET} with no key id near it is not recognised",
    # not IBANs: a failed mod-97 check, an unregistered length or country, lower case, hex digests
    "DE88370400440532013000 and GB29NWBK60161331926818",
    "DE8937040044053201300 and XX89370400440532013000 and de89370400440532013000",
    "prev ad0156a3bf4f1b2b0b822cd15d6c15b0f00a08de89370400440532013000",
    # bare digit runs without a phone word: epoch seconds, ids, sizes, metrics
    "epoch 1733300000 at 2026-12-04T08:13:20Z; took 1733300000 ns; id 4155552671; 1234567890 bytes",
    "tool call 1733300000 ok; string 1733300000; hotel 4155552671; intel 4155552671",
    "cellular 4155552671 and telemetry 1733300000; the phone rang 3 times at 1733300000",
    "ORD-10023 and ORD-1002345678 shipped; port 8080, :8474, 127.0.0.1:8715; v1.108.7, 2.0.1",
    "build 2026-11-28 0100 1234567; window 20261128 101003; seq 1234567",
    "requests_total 1733300000 latency_ms_sum 4155552671 p95 21.2 ms",
]


@pytest.mark.parametrize(("label", "text", "value"), SENSITIVE)
def test_sensitive_values_are_replaced_by_a_labelled_placeholder(label: str, text: str, value: str) -> None:
    out = Redactor().text(text)
    assert value not in out, out
    assert f"<{label}:1>" in out, out


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_survive_untouched(text: str) -> None:
    assert Redactor().text(text) == text


def test_surrounding_text_is_kept() -> None:
    out = Redactor().text("Hi, I'm jane@example.com; order A1003, card 4111 1111 1111 1111, thanks!")
    assert out == "Hi, I'm <email:1>; order A1003, card <card:1>, thanks!"


def test_same_value_same_placeholder_within_one_redactor_only() -> None:
    r = Redactor()
    a = r.text("from a@example.com and b@example.com")
    b = r.text("again b@example.com, then a@example.com")
    assert a == "from <email:1> and <email:2>"
    assert b == "again <email:2>, then <email:1>"
    assert Redactor().text("again b@example.com") == "again <email:1>"  # a new run starts over


def test_dicts_are_deep_copied_keys_kept_and_secret_keys_replaced_whole() -> None:
    data = {
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "short", "Accept": "application/json"},
        "client_secret": "plain-looking",
        "db": {"password": "p"},
        "credentials": {"user": "u", "pin": 1234},
        "email": "not even an address",
        "phone_number": "555 0100",
        "usage": {"input_tokens": 577, "output_tokens": 14},
        "answers": ["mail jane@example.com", {"card": 4111111111111111}, 1.5, True, None],
        "count": 20,
    }
    before = repr(data)
    out = Redactor()(data)
    assert repr(data) == before  # the input is not touched
    assert out["headers"] == {"Authorization": "<secret:1>", "X-Api-Key": "<secret:2>", "Accept": "application/json"}
    assert out["client_secret"] == "<secret:3>" and out["db"] == {"password": "<secret:4>"}
    assert out["credentials"] == {"user": "<secret:5>", "pin": "<secret:6>"}
    assert out["email"] == "<email:1>" and out["phone_number"] == "<phone:1>"
    assert out["usage"] == {"input_tokens": 577, "output_tokens": 14} and out["count"] == 20
    assert out["answers"] == ["mail <email:2>", {"card": "<card:1>"}, 1.5, True, None]


def test_redacting_twice_changes_nothing() -> None:
    r = Redactor()
    once = r({"q": "jane@example.com 4111 1111 1111 1111 sk-abcdefghijklmnopqrstu", "password": "x"})
    assert Redactor()(once) == once and r(once) == once
    assert all(PLACEHOLDER.fullmatch(t) for t in ("<email:1>", "<card:12>", "<my-rule_2:3>"))


def test_card_numbers_need_luhn_length_and_a_network_prefix() -> None:
    assert is_card_number("4111111111111111") and is_card_number("378282246310005")
    assert not is_card_number("4111111111111112")  # Luhn
    assert not is_card_number("1234567812345670")  # Luhn-valid, no card network starts with 1
    assert not is_card_number("411111111111")  # too short


def test_a_card_inside_a_run_of_numbers_is_found() -> None:
    out = Redactor().text("items 12 4111 1111 1111 1111 3 left")
    assert "4111" not in out and out.startswith("items 12 <card:1>")


def test_the_red_team_strings() -> None:
    r = Redactor()
    assert r.text(f"{AWS_ID} {AWS_SECRET}") == "<aws_key:1> <aws_secret:1>"
    assert r.text("IBAN DE89 3704 0044 0532 0130 00") == "IBAN <iban:1>"  # was "DE89 3704 <phone:1> 00"
    assert r.text("IBAN DE89370400440532013000") == "IBAN <iban:2>"  # another spelling: another value
    assert r.text("phone: 4155552671, mobile 4155552672") == "phone: <phone:1>, mobile <phone:2>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{AWS_ID} {SHA1}", f"<aws_key:1> {SHA1}"),  # a git SHA-1 next to a key id is kept
        (f"{AWS_ID} {SHA1.upper()}", f"<aws_key:1> {SHA1.upper()}"),
        (f"{AWS_ID} {AWS_SECRET}plus", f"<aws_key:1> {AWS_SECRET}plus"),  # 44 characters: not a secret
        (f"{AWS_ID} {'x' * 201} {AWS_SECRET}", f"<aws_key:1> {'x' * 201} {AWS_SECRET}"),  # too far away
        (f"{AWS_ID} ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN", "<aws_key:1> ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN"),
        # an invalid IBAN is no IBAN (the phone rule still takes what looks like a national number)
        ("IBAN DE88 3704 0044 0532 0130 00", "IBAN DE88 3704 <phone:1> 00"),
    ],
)
def test_near_misses_are_not_redacted_as_secrets_or_ibans(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_iban_check() -> None:
    assert iban_ok("DE89 3704 0044 0532 0130 00") and iban_ok("DE89370400440532013000")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and iban_ok("NO9386011117947")
    assert not iban_ok("DE88 3704 0044 0532 0130 00")  # check digits
    assert not iban_ok("DE89 3704 0044 0532 0130 0")  # Germany's IBANs have 22 characters
    assert not iban_ok("ZZ89 3704 0044 0532 0130 00")  # no such country in the registry
    assert not iban_ok("DE0137040044053201300")


def test_labelled_dict_values_and_the_same_secret_in_text_share_a_placeholder() -> None:
    assert [key_label(k) for k in ("SecretAccessKey", "aws_secret_access_key", "iban", "IBAN", "mobile")] == [
        "aws_secret", "aws_secret", "iban", "iban", "phone"]  # fmt: skip
    r = Redactor()
    out = r({"Keys": {"AccessKeyId": AWS_ID, "SecretAccessKey": AWS_SECRET}, "iban": "DE89 3704 (typo)",
             "log": f"aws_secret_access_key={AWS_SECRET}"})  # fmt: skip
    assert out == {"Keys": {"AccessKeyId": "<aws_key:1>", "SecretAccessKey": "<aws_secret:1>"},
                   "iban": "<iban:1>", "log": "aws_secret_access_key=<aws_secret:1>"}  # fmt: skip
    # Under a secret-ish key everything is a secret, as before (`Credentials` from `sts assume-role`).
    assert r({"Credentials": {"SecretAccessKey": AWS_SECRET}}) == {"Credentials": {"SecretAccessKey": "<secret:1>"}}


def test_many_matches_in_one_long_text_stay_linear() -> None:
    text = " ".join(f"user{i}@example.com id 4155552671" for i in range(20_000))  # ~0.7 MB, 20,000 matches
    t0 = time.perf_counter()
    out = Redactor().text(text)
    elapsed = time.perf_counter() - t0
    assert "<email:20000>" in out and "@example.com" not in out and out.count("id 4155552671") == 20_000
    assert elapsed < 5, f"{elapsed:.1f} s"  # ~0.2 s; the all-pairs overlap check it replaces took ~13 s


def manifest(tmp_path: Path, rules: list[dict[str, str]]) -> Path:
    path = tmp_path / "drillkit.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "drillkit/v1",
                "kind": "System",
                "name": "acme",
                "service": {"url": "http://127.0.0.1:1/v1/answer"},
                "redaction": {"rules": rules},
            }
        )
    )
    return path


def test_manifest_rules_are_applied_and_recorded_in_the_policy(tmp_path: Path) -> None:
    system = load_system(
        manifest(
            tmp_path,
            [{"name": "customer", "pattern": r"CUST-\d{6}"}, {"name": "member", "pattern": r"member (?P<value>\w+)"}],
        )
    )
    r = Redactor.for_system(system)
    assert r.policy == {
        "version": POLICY_VERSION,
        "rules": ["private_key", "jwt", "bearer", "credentials", "aws_secret", "secret", "api_key", "aws_key",
                  "email", "iban", "card", "phone", "ipv4", "ipv6", "customer", "member"],
    }  # fmt: skip
    out = r.text("CUST-004211 (member gold7) wrote from a@example.com; CUST-004211 again")
    assert out == "<customer:1> (member <member:1>) wrote from <email:1>; <customer:1> again"
    assert Redactor.for_system(None).policy["rules"][-1] == "ipv6"


def test_a_bad_manifest_rule_is_an_input_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"redaction\.rules\.0\.pattern|redaction\.rules\[0\]\.pattern"):
        load_system(manifest(tmp_path, [{"name": "broken", "pattern": "CUST-(\\d"}]))


def test_journal_with_redactor_writes_no_secret_and_keeps_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    redactor = Redactor()
    with Journal(path, fsync=False, redact=redactor) as journal:
        journal.append("run.started", {"redaction": redactor.policy, "run_id": "20261128T101003Z-x-717c"})
        journal.append("note", {"text": "jane@example.com paid with 4111 1111 1111 1111", "at": "2026-12-02"})
        journal.append("note", {"text": "jane@example.com again"})
    raw = path.read_bytes()
    assert b"jane@example.com" not in raw and b"4111 1111" not in raw
    assert verify_chain(path) == []
    entries = read_journal(path)
    assert entries[0].data["redaction"]["version"] == POLICY_VERSION
    assert entries[0].data["run_id"] == "20261128T101003Z-x-717c"
    assert entries[1].data == {"text": "<email:1> paid with <card:1>", "at": "2026-12-02"}
    assert entries[2].data["text"] == "<email:1> again"
    assert entries[2].prev == entries[1].hash  # `prev` is outside `data`: never redacted


def test_concurrent_use_gives_one_placeholder_per_value() -> None:
    r = Redactor()
    results: list[str] = []

    def work(i: int) -> None:
        for n in range(50):
            results.append(r.text(f"user{(i * 50 + n) % 20}@example.com"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 20  # 20 distinct addresses, 20 distinct placeholders
    assert {r.text(f"user{k}@example.com") for k in range(20)} == set(results)


def window_with_answer(i: int) -> dict:
    return {
        "index": i, "count": 20, "errors": 0, "error_rate": 0.0, "latency_p95_ms": 21.2, "latency_p99_ms": 53.5,
        "eval_count": 8, "eval_pass_rate": 1.0, "cost_per_request_usd": 0.00165885, "state": "healthy",
        "by_provider": {"primary": 20}, "by_model": {"sim-pro": 20}, "breached": [],
        "example": {
            "question": f"Where is order A10{i % 100:02d}? Mail jane{i}@example.com or +1 415 555 01{i % 100:02d}.",
            "answer": (
                f"Order A10{i % 100:02d} is shipped via DHL, expected 2026-12-02. Under our returns policy "
                "[returns-policy] you can return most items within 30 days of delivery for a full refund to the "
                f"original payment method. Trace df2f52acbf7b4897a106fed7ee00{i % 10000:04d}."
            ),
            "failed": ["cites", "contains 'DHL'"],
        },
    }  # fmt: skip


def test_a_window_entry_with_an_answer_costs_well_under_a_millisecond() -> None:
    r = Redactor()
    r(window_with_answer(0))  # warm up (regex caches)
    timings = []
    for i in range(1, 301):  # every entry new: the text cache cannot help
        entry = window_with_answer(i)
        t0 = time.perf_counter()
        out = r(entry)
        timings.append(time.perf_counter() - t0)
        assert f"jane{i}@example.com" not in out["example"]["question"]
    median_ms = statistics.median(timings) * 1000
    assert median_ms < 0.5, f"median {median_ms:.3f} ms per window entry with an answer"
