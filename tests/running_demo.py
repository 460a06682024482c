"""One running demo shared by the tests of a module: started once with a baseline, and put back
after each test (faults, levers, files). Used by the conftest of tests/components and tests/runbooks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drillkit.cli import cli
from drillkit.demo.process import runner_pid

REPO = Path(__file__).resolve().parents[1]
FILES = ("prompts", "corpus", "inputs")
SWAP = ("chaos", "inject", "provider:primary", "model_swap", "--set", "serve_model=sim-pro-2025-11",
        "--match", "model=sim-pro")  # fmt: skip


class Demo:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.workdir = home / "demo"
        self.pristine = home.parent / "pristine"
        self.env = {**os.environ, "DRILLKIT_HOME": str(home)}
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)

    def cli(self, *args: str) -> Result:
        """`drillkit ARGS` in this process, against this demo's home."""
        return CliRunner().invoke(cli, list(args), env={"DRILLKIT_HOME": str(self.home)}, catch_exceptions=False)

    def ok(self, *args: str) -> Any:
        r = self.cli(*args)
        assert r.exit_code == 0, r.output
        return r

    def swap_model(self) -> None:
        """The silent swap: the provider serves newer weights under the alias the service calls."""
        self.ok(*SWAP)

    def restore(self) -> None:
        """Undo whatever a test did: faults, levers, files."""
        self.ok("chaos", "reset")
        self.ok("demo", "ctl", "reset")
        self.ok("demo", "ctl", "pin", "--unpin")
        for sub in FILES:
            shutil.rmtree(self.workdir / sub)
            shutil.copytree(self.pristine / sub, self.workdir / sub)


@contextmanager
def running_demo(home: Path) -> Iterator[Demo]:
    """Start the demo (ephemeral ports, no sim latency) with a baseline; always stop it."""
    d = Demo(home)
    up = subprocess.run(
        [sys.executable, "-m", "drillkit", "demo", "up", "--port", "0", "--latency-scale", "0"],
        env=d.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        d.pristine.mkdir()
        for sub in FILES:
            shutil.copytree(d.workdir / sub, d.pristine / sub)
        d.ok("snapshot")
        yield d
    finally:
        d.cli("demo", "down")
        pid = runner_pid(d.workdir)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One running demo for the whole test module (import this fixture into a conftest)."""
    with running_demo(tmp_path_factory.mktemp("demo") / "home") as d:
        yield d


@pytest.fixture
def live(demo: Demo) -> Iterator[Demo]:
    """The module's demo, put back as it was after the test."""
    try:
        yield demo
    finally:
        demo.restore()
