"""`drillkit watch rules`: Prometheus alerting rules for the watch's metrics (`drillkit.watch.metrics`).

The thresholds come from the manifest when there is one: the evaluation envelope
(`slos.eval_pass_rate`, else 0.9) and the canary similarity below which an answer has diverged
(`components.model.similarity`, else 0.9). The output is one rule group, valid for
`promtool check rules` (tested against the real promtool):

- `DrillkitWatchDown` / `DrillkitWatchAbsent`: the watch cannot reach the service, or is not scraped;
- `DrillkitEvalEnvelopeBroken` (critical): the eval sample's pass rate below the envelope;
- `DrillkitModelDrift`: the canaries answer unlike the last known good (a silent model swap);
- `DrillkitInputChanged` (info): a component differs from the last known good; it clears once a
  healthy look accepts the change (the baseline moves forward);
- `DrillkitChangeNotAccepted`: a component has differed for over an hour since it changed, so no
  healthy look has accepted it: a change made while the evals fail, or a change that broke them.
"""

from __future__ import annotations

from typing import Any

import yaml

from drillkit.config.system import System
from drillkit.evals.runner import DEFAULT_THRESHOLD
from drillkit.watch.metrics import CHANGED, PASS_RATE, SIMILARITY, SINCE, UP

RUNBOOK = "drillkit triage --auto"


def thresholds(system: System | None) -> tuple[float, float]:
    """(envelope, similarity) from the manifest, else the defaults."""
    if system is None:
        return DEFAULT_THRESHOLD, 0.9
    envelope = system.slos.objective("eval_pass_rate")
    model = system.components.model
    return (envelope if envelope is not None else DEFAULT_THRESHOLD), (model.similarity if model else 0.9)


def _rule(alert: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description + f" Next step: {RUNBOOK}."},
    }


def alerting_rules(system: System | None = None, *, for_: str = "2m") -> dict[str, Any]:
    """The rule group as data (see the module doc); `for_` is how long a condition must last."""
    envelope, similarity = thresholds(system)
    name = f" of {system.name}" if system is not None else ""
    rules = [
        _rule("DrillkitWatchDown", f"{UP} == 0", "5m", "warning", f"drillkit watch{name} cannot reach the service",
              "The watch's last look could not reach the service or run its eval sample."),
        _rule("DrillkitWatchAbsent", f"absent({UP})", "10m", "warning", f"drillkit watch{name} is not scraped",
              "No drillkit watch metrics: the watch is stopped, or Prometheus does not scrape it."),
        _rule("DrillkitEvalEnvelopeBroken", f"{PASS_RATE} < {envelope:g}", for_, "critical",
              "Evals outside the envelope: pass rate {{ $value | humanizePercentage }}",
              f"The eval sample's pass rate is below the envelope ({envelope:g}); see <home>/changes.jsonl for "
              "what changed before it."),
        _rule("DrillkitModelDrift", f"{SIMILARITY} < {similarity:g}", for_, "warning",
              "Canaries answer unlike the last known good on {{ $labels.provider }}",
              f"Mean canary similarity {{{{ $value }}}} < {similarity:g}: the provider may serve other weights "
              "under the same name."),
        _rule("DrillkitInputChanged", f"{CHANGED} == 1", "0m", "info",
              "{{ $labels.component }} differs from the last known good",
              "A change of one of the five inputs, not yet accepted by a healthy look."),
        _rule("DrillkitChangeNotAccepted", f"({CHANGED} == 1) and ({SINCE} > 3600)", "0m", "warning",
              "{{ $labels.component }} changed over an hour ago and no healthy look accepted it",
              "The component still differs from the last known good: the change broke the evals, or was "
              "made while they failed."),
    ]  # fmt: skip
    return {"groups": [{"name": "drillkit-watch", "rules": rules}]}


def rules_yaml(system: System | None = None, *, for_: str = "2m") -> str:
    head = "# Prometheus alerting rules for `drillkit watch --metrics` (check: promtool check rules FILE)\n"
    return head + yaml.safe_dump(alerting_rules(system, for_=for_), sort_keys=False, allow_unicode=True, width=100)


__all__ = ["alerting_rules", "rules_yaml", "thresholds"]
