"""The webhooks a look fires (the manifest's top-level `notify`, DESIGN §9.5): `changed` for every
change of an input, `envelope_broken` when the eval sample falls outside the envelope. Each
payload has `event`, a Slack-compatible `text` (the change log's sentence) and the facts; the
sends run in the background (`drillkit.gameday.notify.Notifier`) and are journalled in the change
log as `notify.sent`."""

from __future__ import annotations

from drillkit.gameday.notify import Notifier
from drillkit.watch.decide import Decision


def notify_decision(notifier: Notifier, system: str, decision: Decision) -> None:
    for change in decision.changes:
        facts = change.data()
        facts.pop("evidence", None)  # the text says what changed; the evidence stays in the log
        notifier.send("changed", f"{system}: {change.describe()}", {"system": system, **facts})
    envelope = decision.envelope
    if envelope is not None and envelope.holds is False:
        notifier.send("envelope_broken", f"{system}: {envelope.describe()}", {"system": system, **envelope.data()})


__all__ = ["notify_decision"]
