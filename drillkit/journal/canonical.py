"""Canonical JSON (RFC 8785, JCS) and the SHA-256 helpers the journal's hash chain is built on.

    canonical_json({"b": 1, "a": "é"})  -> b'{"a":"\\xc3\\xa9","b":1}'    (UTF-8 bytes, no whitespace)
    hash_canonical(value)               -> sha256 hex of canonical_json(value)

Canonicalisation is delegated to the `rfc8785` package (keys sorted by UTF-16 code units, numbers
in ECMAScript form, minimal string escaping). Values must already be JSON values (dict with str
keys, list, str, int, float, bool, None); `jsonable` turns anything pydantic can serialise into one.
JSON has no NaN or infinity and JCS no integers beyond ±(2**53 − 1): those raise `ValueError`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import rfc8785
from pydantic_core import to_jsonable_python

#: `prev` of a journal's first entry: there is no previous entry to hash.
ZERO_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical form of a JSON value, as UTF-8 bytes (never contains a raw newline)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        # Translated at the boundary: callers see a plain ValueError, not the library's type.
        raise ValueError(f"not representable as canonical JSON: {exc}") from None


def sha256_hex(data: bytes) -> str:
    """SHA-256 of `data`, as 64 lower-case hex digits."""
    return hashlib.sha256(data).hexdigest()


def hash_canonical(value: Any) -> str:
    """SHA-256 hex of the canonical JSON of `value` (how journal entries are chained)."""
    return sha256_hex(canonical_json(value))


def jsonable(value: Any) -> Any:
    """`value` as plain JSON values: models, paths, datetimes and tuples converted the pydantic way.

    Non-finite floats become None (JSON cannot carry them, and an event must not be lost because
    a metric came out as NaN); dict keys must be strings.
    """
    return _finite(to_jsonable_python(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


__all__ = ["ZERO_HASH", "canonical_json", "hash_canonical", "jsonable", "sha256_hex"]
