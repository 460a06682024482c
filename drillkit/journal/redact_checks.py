"""Validators behind the redaction rules (`drillkit.journal.redact`): the IBAN registry and its
mod-97 check, Luhn and card-network prefixes, IP address ranges, phone digit counts, and the shape
of an unlabelled AWS secret access key. Pure functions of a matched string."""

from __future__ import annotations

import ipaddress
import re

_HEX_CHARS = frozenset("0123456789abcdefABCDEF")


def mixed_secret(value: str) -> bool:
    upper = lower = other = non_hex = False
    for ch in value:
        if ch.isupper():
            upper = True
        elif ch.islower():
            lower = True
        else:
            other = True
        if ch not in _HEX_CHARS:
            non_hex = True
    return upper and lower and other and non_hex


# ISO 13616 IBAN lengths by country (SWIFT IBAN registry; territories that use their own code
# with their parent's format are listed with it: AX → FI, GF/GP/MQ/RE/… → FR, IM/JE/GG → GB).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    "AX": 18, "GF": 27, "GP": 27, "MQ": 27, "RE": 27, "PF": 27, "TF": 27, "YT": 27, "NC": 27, "BL": 27,
    "MF": 27, "PM": 27, "WF": 27, "IM": 22, "JE": 22, "GG": 22,
}  # fmt: skip


def iban_ok(text: str) -> bool:
    """A valid IBAN (spaces ignored): registered country and length, check digits 02–98, mod 97 = 1."""
    iban = text.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit() or not "02" <= iban[2:4] <= "98":
        return False
    if not iban[4:].isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Card networks' prefixes (IIN ranges): Visa 4; Mastercard 51–55, 2221–2720; Amex 34, 37;
# Discover 6011, 64, 65; JCB 35; Diners 30, 36, 38, 39; UnionPay 62; Maestro 50, 56–58, 67.
_IIN = re.compile(r"4|5[0-8]|2[2-7]|3[0456789]|6[0-9]")


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _IIN.match(digits) is not None and luhn_ok(digits)


def ipv4_ok(text: str) -> bool:
    octets = text.split(".")
    if any(len(o) > 1 and o[0] == "0" for o in octets) or any(int(o) > 255 for o in octets):
        return False
    address = ipaddress.IPv4Address(text)
    return not (address.is_loopback or address.is_unspecified)


def ipv6_ok(text: str) -> bool:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def phone_ok(text: str) -> bool:
    return 8 <= sum(map(str.isdigit, text)) <= 15


_DIGIT = re.compile(r"\d")


def has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None
