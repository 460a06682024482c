"""Who enters a record in the evidence ledger: the operator each ledger entry names and the signed
checkpoint then covers (issue 15 item 8).

    operator_name()            # $DRILLKIT_OPERATOR (a person's name for the record), else the OS user
    operator_name("alice")     # a name given on the command line wins (`evidence record --operator`)

The OS user is a fallback, not an identity: on a shared box or in a container it is `root`, which
names nobody. Set `DRILLKIT_OPERATOR` (CI: the person or pipeline that triggered the run) so the
ledger, the summaries and the evidence report name a person.
"""

from __future__ import annotations

import getpass
import os

OPERATOR_ENV = "DRILLKIT_OPERATOR"


def operator_name(given: str | None = None) -> str:
    """`given` when not blank, else `$DRILLKIT_OPERATOR`, else the OS user (`unknown` when the OS
    cannot say)."""
    for candidate in (given, os.environ.get(OPERATOR_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


__all__ = ["OPERATOR_ENV", "operator_name"]
