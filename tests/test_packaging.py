"""Shipped data is found from a clone and from a built wheel installed into a fresh venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from drillkit.data import KINDS, shipped_dir

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_data_found_from_the_clone() -> None:
    for kind in KINDS:
        assert shipped_dir(kind).is_dir()
    assert (shipped_dir("scenarios") / "silent-model-swap.yaml").is_file()


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree")
def test_wheel_installed_in_a_fresh_venv_finds_its_data(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("drillkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "drillkit/_data/scenarios/silent-model-swap.yaml",
        "drillkit/_data/runbooks/ai-output-incident.yaml",
        "drillkit/_data/templates/README.md",
        "drillkit/demo/assets/evals/suite.yaml",
        "drillkit/demo/assets/corpus/returns-policy.md",
    ):
        assert expected in names, expected

    # A fresh venv that never sees the base interpreter's packages (a fresh machine's base Python has
    # none): the wheel goes into its own site-packages, and the dependencies come from the environment
    # running this test, named explicitly by a .pth line.  A .pth line only appends a directory to
    # sys.path (that directory's own .pth files, such as an editable drillkit, are not processed), so
    # the wheel's drillkit is the one imported.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=False, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    deps = sysconfig.get_paths()["purelib"]
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    (Path(own) / "_drillkit_test_deps.pth").write_text(deps + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DRILLKIT_HOME", "DRILLKIT_SYSTEM")}
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import drillkit, drillkit.data as d; print(drillkit.__file__); print(d.shipped_dir('runbooks'))",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert str(env_dir) in where[0], "the wheel's drillkit must be the one imported"
    # Its dependencies come from the environment named above, never from the base interpreter.
    rich_from = subprocess.run(
        [str(python), "-c", "import rich; print(rich.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert rich_from.startswith(deps), rich_from
    assert where[1].endswith("drillkit/_data/runbooks")
    listed = subprocess.run(
        [str(env_dir / "bin" / "drillkit"), "runbook", "list", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "ai-output-incident" in {r["id"] for r in json.loads(listed.stdout)}
