"""Run this example's LiteLLM proxy, and its rollback lever: pin a model, then restart.

    python3 gateway.py start            # start LiteLLM on 127.0.0.1:$LITELLM_PORT (default 4000)
    python3 gateway.py pin MODEL        # rewrite the primary deployment's model, restart LiteLLM
    python3 gateway.py stop
    python3 gateway.py status

Standard library only, so a scenario's `run:` step can call it with any Python 3. The environment
says where things are: LITELLM_BIN (the `litellm` command; default: found on PATH),
LITELLM_PORT, LITELLM_CONFIG (default: litellm.yaml beside this file), LITELLM_MASTER_KEY (the
proxy's master key; required). The process id and LiteLLM's log are kept in .gateway/ beside this
file. Without a database, LiteLLM's admin API cannot change a deployment, so the lever is the one a
team has: edit the config and restart, which refuses requests while LiteLLM starts (5-10 s).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE = HERE / ".gateway"
PRIMARY = re.compile(r"^(\s*model:\s*)(\S+)(\s*#\s*primary deployment.*)$", re.MULTILINE)
START_TIMEOUT_S = 90.0


def config() -> Path:
    return Path(os.environ.get("LITELLM_CONFIG", HERE / "litellm.yaml"))


def port() -> int:
    return int(os.environ.get("LITELLM_PORT", "4000"))


def pid() -> int | None:
    try:
        value = int((STATE / "litellm.pid").read_text())
        os.kill(value, 0)
    except (OSError, ValueError):
        return None
    return value


def healthy() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port()}/health/liveliness", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start() -> None:
    if pid() is not None:
        print(f"LiteLLM already runs (pid {pid()})")
        return
    if not os.environ.get("LITELLM_MASTER_KEY"):
        sys.exit("error: LITELLM_MASTER_KEY is not set (the proxy's master key)")
    command = os.environ.get("LITELLM_BIN") or shutil.which("litellm")
    if command is None:
        sys.exit("error: no litellm command: pip install 'litellm[proxy]', or set LITELLM_BIN")
    STATE.mkdir(exist_ok=True)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    argv = [command, "--config", str(config()), "--host", "127.0.0.1", "--port", str(port())]
    with open(STATE / "litellm.log", "ab") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=log, env=env, start_new_session=True)
    (STATE / "litellm.pid").write_text(str(child.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not healthy():
        if child.poll() is not None or time.monotonic() > deadline:
            stop()
            sys.exit(f"error: LiteLLM did not come up on port {port()}; see {STATE / 'litellm.log'}")
        time.sleep(0.2)
    print(f"LiteLLM serves http://127.0.0.1:{port()} (pid {child.pid})")


def stop() -> None:
    running = pid()
    if running is None:
        return
    os.killpg(running, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid() is not None:
        os.killpg(running, signal.SIGKILL)
    (STATE / "litellm.pid").unlink(missing_ok=True)


def pin(model: str) -> None:
    text = config().read_text(encoding="utf-8")
    if not PRIMARY.search(text):
        sys.exit(f"error: {config()}: no line 'model: ...  # primary deployment' to rewrite")
    config().write_text(PRIMARY.sub(lambda m: f"{m[1]}openai/{model}{m[3]}", text), encoding="utf-8")
    print(f"primary deployment now openai/{model}; restarting LiteLLM")
    stop()
    start()


def main(args: list[str]) -> None:
    if args[:1] == ["start"]:
        start()
    elif args[:1] == ["stop"]:
        stop()
    elif args[:1] == ["status"]:
        print(f"pid {pid()}, healthy: {healthy()}")
    elif args[:1] == ["pin"] and len(args) == 2:
        pin(args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
