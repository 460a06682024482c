"""A game-day whose traffic is sent by several worker processes (`traffic.workers`), end to end."""

from __future__ import annotations

import json
from pathlib import Path

from drillkit.journal.verify import read_journal
from tests.gameday.test_gameday import SWAP, demo_down, gameday, write


def workers_of(home: Path) -> list[int]:
    """Live load workers started for the game-day on `home` (they inherit its DRILLKIT_HOME)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if b"drillkit.traffic.worker" not in (proc / "cmdline").read_bytes():
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"DRILLKIT_HOME={home}".encode() in environ and state != "Z":
            found.append(int(proc.name))
    return found


def test_a_game_day_with_two_traffic_workers_detects_and_recovers(tmp_path: Path) -> None:
    scenario = {**SWAP, "id": "swap-workers", "traffic": {**SWAP["traffic"], "workers": 2}}
    r = gameday(tmp_path, write(tmp_path, scenario))
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        summary = json.loads(r.stdout)
        assert summary["verdict"] == "pass" and summary["breached"] == ["eval_pass_rate"]
        entries = read_journal(tmp_path / "runs" / summary["run_id"] / "journal.jsonl")
        windows = [e.data for e in entries if e.kind == "window"]
        # 20 requests/s in 1 s windows, half from each worker: merged, judged, nothing pending.
        full = windows[1:-1]  # the first starts before the workers are up; the last is cut by cleanup
        assert full and all(19 <= w["count"] <= 21 and not w.get("pending") for w in full), windows
        assert any(w["eval_count"] for w in full)  # live evals judged in the workers
        assert workers_of(tmp_path) == []
    finally:
        demo_down(tmp_path)
