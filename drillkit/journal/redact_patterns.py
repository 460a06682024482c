"""The built-in redaction rules (`drillkit.journal.redact`, whose module doc is the contract), in
priority order: an earlier rule's match wins an overlap."""

from __future__ import annotations

import re

from drillkit.journal.redact_checks import has_digit, ipv4_ok, ipv6_ok, phone_ok
from drillkit.journal.redact_rules import AwsSecretRule, CardRule, IbanRule, PhoneRule, Rule

#: Where a token may start: not right after a letter or digit, except right after an escape (`\n`,
#: `\t`) in text that carries an encoded JSON document: `…\nAKIA…` starts a key id, `…nAKIA…` does not.
_START = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"

_SECRET_WORDS = (
    r"password|passwd|passphrase|secret|client[_-]?secret|secret[_-]?key|private[_-]?key|api[_-]?key|apikey"
    r"|x-api-key|access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token|session[_-]?token|token"
    r"|(?:aws[_-]?)?secret[_-]?access[_-]?key|authorization"
)

_AWS_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA")

# Phone words that label a bare digit run (a bare run is a phone number only next to one of them).
_PHONE_WORDS = (
    r"(?:mobile[_ -]?|cell[_ -]?|home[_ -]?|work[_ -]?|contact[_ -]?)?(?:tele)?phone(?:[_ -]?(?:number|no|num|nr))?"
    r"|tel|mobile|mob|cell|cellphone|fax|sms|whatsapp|handy"
    r"|(?:call|text|ring|reach)\s+(?:me|us|him|her|them|back)(?:\s+(?:at|on))?|call\s+(?:at|on)"
)
# Between the word and the number: punctuation, `number`, `is`, `at`, `on`, `my`, … (at most 6).
_PHONE_GAP = r"(?:[\s:=#\"'()\-]|\.(?!\d)|\b(?:number|no|num|nr|is|at|on|my|our|his|her|their)\b\.?){0,6}"

_DOTTED = re.compile(r"\.\d{1,3}\.\d")  # starts with a literal: sre skips to each "." fast
_API_KEY_PREFIXES = ("sk-", "k_live_", "k_test_", "gh", "github_pat_", "glpat-", "xox", "AIza", "hf_")

BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(
        "private_key",
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
            r"|(?:[A-Za-z0-9+/=]{16,}\r?\n)+-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----",
            re.DOTALL,
        ),
        hint=lambda t: "PRIVATE KEY" in t,
    ),
    Rule(
        "jwt",
        re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),
        hint=lambda t: "eyJ" in t,
    ),
    Rule(
        "bearer",
        re.compile(r"(?i:\bbearer)\s+((?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,})"),
        group=1,
        hint=lambda t: "earer" in t or "EARER" in t,
    ),
    Rule(
        "credentials",
        re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@]+:[^/\s@]+)@"),
        group=1,
        hint=lambda t: "://" in t,
    ),
    AwsSecretRule(
        "aws_secret",
        re.compile(
            r"(?i:(?<![A-Za-z0-9])(?:aws[_ -]?secret[_ -]?(?:access[_ -]?)?|secret[_ -]?access[_ -]?)key)"
            r"[\"']?(?:\s*\[[^\]\n]{0,20}\])?"
            r"\s*(?:[:=]|\bis\b)?\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        group=1,
        key_id=re.compile(rf"{_START}(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{{16}}(?![A-Za-z0-9])"),
        candidate=re.compile(r"(?:(?<![A-Za-z0-9/+=])|(?<=\\[nrt]))[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
        hint=lambda t: "ecret" in t or "ECRET" in t or any(p in t for p in _AWS_KEY_PREFIXES[:4]),
    ),
    Rule(
        "secret",
        re.compile(
            rf"(?i)(?<![\w-])(?:{_SECRET_WORDS})[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?"
            r"([^\s\"'&,;<>]{4,})"
        ),
        group=1,
        hint=lambda t: (
            ("=" in t or ":" in t) and any(w in t.lower() for w in ("pass", "secret", "key", "token", "auth"))
        ),
    ),
    Rule(
        "api_key",
        re.compile(
            r"(?<![\w-])(?:sk-[A-Za-z0-9_-]{16,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{30,}"
            r"|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
            r"|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,})"
        ),
        hint=lambda t: any(p in t for p in _API_KEY_PREFIXES),
    ),
    Rule(
        "aws_key",
        re.compile(rf"{_START}(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{{16}}(?![A-Za-z0-9])"),
        hint=lambda t: any(p in t for p in _AWS_KEY_PREFIXES),
    ),
    Rule(
        "email",
        re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"),
        hint=lambda t: "@" in t,
    ),
    IbanRule(
        "iban",
        re.compile(rf"{_START}[A-Z]{{2}}\d\d(?: ?[A-Z0-9]{{4}}){{2,7}}(?: ?[A-Z0-9]{{1,4}})?"),
        hint=has_digit,
        near=re.compile(r"[A-Z]{2}\d\d"),  # short: a failed candidate must not swallow the next one
    ),
    CardRule(
        "card",
        re.compile(r"(?<![\w.,+-])\d+(?:[ -]\d+)*(?![\w]|[.,]\d)"),
        hint=has_digit,
        near=re.compile(r"\d(?:[ -]?\d){12,}"),
    ),
    PhoneRule(
        "phone",
        re.compile(
            r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])0\d{1,4}[ -]\d{3,4}[ -]\d{3,4}(?![\w]|[.-]\d)"
            r"|(?<![\w.+-])(?<!\d )0[1-9]\d{1,3}[ -]\d{5,8}(?![\w]|[.-]\d)"  # 030 12345678, 07911 123456
        ),
        hint=has_digit,
        accept=phone_ok,
        near=re.compile(r"[+(\d][\d ().-]{7,}\d"),
        labelled=re.compile(
            rf"(?i)(?<![A-Za-z0-9])(?:{_PHONE_WORDS})(?![A-Za-z0-9]){_PHONE_GAP}(?<![\w.+-])(\d{{7,15}})(?![\w]|[.,-]\d)"
        ),
    ),
    Rule(
        "ipv4",
        re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"),
        hint=lambda t: t.count(".") >= 3 and _DOTTED.search(t) is not None,
        accept=ipv4_ok,
        near=re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
    ),
    Rule(
        "ipv6",
        re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"),
        hint=lambda t: t.count(":") >= 2,
        accept=ipv6_ok,
    ),
)
