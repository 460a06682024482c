"""A running demo shared by the tests of one module, with a baseline, and a way to undo each test's changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.running_demo import FILES, REPO, Demo, running_demo

__all__ = ["FILES", "REPO", "Demo"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("diff") / "home") as d:
        yield d


@pytest.fixture
def live(demo: Demo) -> Iterator[Demo]:
    try:
        yield demo
    finally:
        demo.restore()
