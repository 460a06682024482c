"""The demo runner's log (`run/demo.log`, under the drillkit home by default), redacted.

A traceback can quote what a request carried (an exception message with the question in it), so
every record goes through the redaction policy on its way out, like everything else drillkit
stores. uvicorn is told not to configure its own handlers (`log_config=None` in
`drillkit.net.serving`), so its records take this path too.
"""

from __future__ import annotations

import logging
import sys

from drillkit.journal.redact import Redactor

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(FORMAT)
        self._redact = Redactor.for_system(None)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact.text(super().format(record))


def install(level: int = logging.WARNING) -> None:
    """Send every log record to stderr (the runner's log file) through the redactor."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
