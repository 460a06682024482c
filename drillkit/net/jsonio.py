"""Compact JSON on the wire: what the LLM fault proxy, its faults, the load generator and the benches send.

`dumps` writes JSON as the providers do (no spaces, UTF-8 kept as is); `loads_or_none` reads a
body that may not be JSON at all (an error page, a truncated stream) without raising.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, as the providers send them."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads_or_none(data: bytes | str) -> Any:
    """The parsed JSON value, or None when `data` is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


__all__ = ["dumps", "loads_or_none"]
