"""A running demo shared by the tests of one module, with a baseline, and a way to undo each test's changes."""

from tests.running_demo import FILES, REPO, Demo, demo, live

__all__ = ["FILES", "REPO", "Demo", "demo", "live"]
