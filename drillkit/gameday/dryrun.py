"""What a game-day would do, without doing it (`gameday run --dry-run`, DESIGN §9.3), and which
fault servers it touches (the servers it leases).

The plan names the resolved system and its manifest, every fault server, where each fault would
go (server URL, proxy or route), the traffic and SLOs with their signal sources (and the SLOs no
window could judge), and the rollback and restore steps. Nothing is injected, nothing is sent.
"""

from __future__ import annotations

from typing import Any

from drillkit.config.scenario import L4_TYPES, L7_TYPES, Scenario, Step
from drillkit.config.system import System
from drillkit.gameday.judgeable import unjudgeable
from drillkit.traffic.slo import effective_slos


def placement(system: System, target: str, fault_type: str) -> dict[str, str]:
    """Where one fault would go: layer, server URL and proxy/route name (InputError when unplaced)."""
    chaos = system.chaos
    if fault_type in L7_TYPES:
        return {"layer": "l7", "server": chaos.llm_server().url, "route": chaos.l7_place(target)}
    if fault_type in L4_TYPES:
        server, proxy = chaos.l4_place(target)
        return {"layer": "l4", "server": chaos.servers()[server].url, "server_name": server, "proxy": proxy}
    return {"layer": "change"}


def touched_servers(system: System, scenario: Scenario) -> list[str]:
    """The admin URLs of the fault servers the scenario injects into."""
    urls = []
    for fault in scenario.faults:
        if fault.target is not None:
            where = placement(system, fault.target, fault.type)
            if "server" in where:
                urls.append(where["server"])
    return sorted(set(urls))


def dry_run(scenario: Scenario, system: System) -> dict[str, Any]:
    slos = effective_slos(system.slos, scenario.slos)
    queries = slos.queries()
    return {
        "scenario": scenario.id,
        "purpose": scenario.purpose,
        "system": {"name": system.name, "file": str(system.path or ""), "service": str(system.service.url)},
        "servers": {
            "toxiproxy": {name: server.url for name, server in system.chaos.servers().items()},
            "llm_proxy": system.chaos.llm_server().url,
        },
        "faults": [
            {
                "name": f.name or f.type,
                "type": f.type,
                "target": f.target,
                "at_s": f.at,
                "duration_s": f.duration,
                **(placement(system, f.target, f.type) if f.target else {"layer": "change"}),
            }
            for f in scenario.faults
        ],
        "traffic": scenario.traffic.model_dump(mode="json"),
        "slos": {
            name: {"objective": objective, "source": "promql" if name in queries else "traffic"}
            for name, objective in slos.objectives().items()
        },
        "never_judged": unjudgeable(scenario, slos),
        "rollback": {"mode": scenario.rollback.mode, "steps": [_step(s) for s in scenario.rollback.steps]},
        "restore": [_step(s) | {"when": s.when} for s in scenario.restore],
        "injects": "nothing: dry run",
    }


def _step(step: Step) -> dict[str, Any]:
    if step.run is not None:
        return {"name": step.name, "run": list(step.run)}
    assert step.http is not None
    return {"name": step.name, "http": f"{step.http.method} {step.http.url}"}


__all__ = ["dry_run", "placement", "touched_servers"]
