"""`drillkit watch`: the five inputs watched on a schedule, every change treated as a deployment.

    summary = await run_watch(system, WatchOptions(home, every_s=60), view)   # until a stop signal
    print(rules_yaml(system))                                                 # Prometheus alerts

Each look fingerprints the five inputs (`drillkit.components`) and runs a sample of the eval
suite; each change goes to `<home>/changes.jsonl` with the evals taken with it; the last known good
(`baseline.json`) moves forward only while the envelope holds (`decide.py`). Modules: `state`
(what a session knows, rebuilt from the log on restart), `decide` (what a look means),
`attribution` (who, where git knows), `session` (the schedule, the log, the lock, the ledger),
`notices` (webhooks), `metrics` (Prometheus), `rules` (alerting rules), `live` (the view).
"""

from drillkit.watch.live import WatchView
from drillkit.watch.metrics import serve_metrics
from drillkit.watch.rules import alerting_rules, rules_yaml
from drillkit.watch.session import DEFAULT_SAMPLE, WatchOptions, WatchSummary, run_watch
from drillkit.watch.state import Look, WatchState

__all__ = [
    "DEFAULT_SAMPLE",
    "Look",
    "WatchOptions",
    "WatchState",
    "WatchSummary",
    "WatchView",
    "alerting_rules",
    "rules_yaml",
    "run_watch",
    "serve_metrics",
]
