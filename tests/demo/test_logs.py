"""The demo runner's log file is under the drillkit home: what it writes passes the redaction policy."""

from __future__ import annotations

import logging
import subprocess
import sys


def test_a_traceback_quoting_a_request_is_redacted_in_the_log() -> None:
    program = (
        "import logging\n"
        "from drillkit.demo import logs\n"
        "logs.install()\n"
        "try:\n"
        "    raise ValueError('cannot answer bob@example.com, key sk-abcdefghijklmnopqrstuvwx')\n"
        "except ValueError:\n"
        "    logging.getLogger('drillkit.demo.service').exception('answering failed (trace t1)')\n"
        "logging.getLogger('uvicorn.error').warning('client 203.0.113.9 sent junk')\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    log = proc.stderr
    assert "answering failed (trace t1)" in log and "ValueError" in log
    assert "bob@example.com" not in log and "sk-abcdefghijklmnopqrstuvwx" not in log and "203.0.113.9" not in log
    assert "<email:1>" in log


def test_install_replaces_the_root_handlers() -> None:
    from drillkit.demo import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.install()
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, logs.RedactingFormatter)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
