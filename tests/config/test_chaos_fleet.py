"""The manifest's `chaos` section (DESIGN §9.2): a fleet of Toxiproxy servers, declared proxies and
routes; old manifests unchanged; every mistake named at its field and line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drillkit.cli import cli
from drillkit.config.chaos import Chaos
from drillkit.config.system import System, load_system
from drillkit.errors import InputError
from drillkit.faults.fleet import connect
from drillkit.faults.targets import check_target

HEAD = """apiVersion: drillkit/v1
kind: System
name: t
service: {url: 'http://127.0.0.1:1/v1/answer'}
providers:
  primary: {base_url: 'http://127.0.0.1:1/v1', model: m}
  fallback: {base_url: 'http://127.0.0.1:1/v1', model: m, api: anthropic}
tools: {orders: {base_url: 'http://127.0.0.1:3'}}
"""

FLEET = """chaos:
  llm_proxy: {url: 'http://127.0.0.1:8475', headers: {Authorization: 'Bearer ${DK_L7_TOKEN}'}, timeout: 2s}
  toxiproxy:
    edge-a: {url: 'http://127.0.0.1:8474', headers: {Authorization: 'Bearer ${DK_EDGE_TOKEN}'}}
    edge-b: {url: 'http://127.0.0.1:9474', timeout: 500ms}
  proxies:
    provider:primary: {server: edge-a, proxy: primary, listen: '127.0.0.1:9711', upstream: '127.0.0.1:8711'}
    provider:fallback: {server: edge-b, proxy: fb}
  routes:
    provider:primary: {route: primary-route, listen: '127.0.0.1:9701', api: openai}
"""


def manifest(tmp_path: Path, chaos: str) -> Path:
    path = tmp_path / "drillkit.yaml"
    path.write_text(HEAD + chaos)
    return path


def validate(path: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["chaos", "status", "--system", str(path)], env=env)
    return result.exit_code, result.output


def test_a_first_release_manifest_means_what_it_meant(tmp_path: Path) -> None:
    system = load_system(manifest(tmp_path, "chaos: {toxiproxy: 'http://127.0.0.1:8474/', llm_proxy: embedded}\n"))
    assert system.chaos.toxiproxy == "http://127.0.0.1:8474"  # tests and scripts read it as a URL
    assert not system.chaos.is_fleet
    assert {n: s.url for n, s in system.chaos.servers().items()} == {"default": "http://127.0.0.1:8474"}
    assert system.chaos.llm_server().url == "http://127.0.0.1:8475"
    assert system.chaos.l4_place("provider:primary") == ("default", "primary")  # named after the target
    assert system.chaos.l7_place("tool:orders") == "orders"
    fleet = connect(system, env={})
    assert list(fleet) == ["l4", "l7"]  # the keys `chaos status --json` and `chaos reset --json` always had
    backend, proxy = fleet.place("provider:primary", "latency")
    assert (backend.url, proxy) == ("http://127.0.0.1:8474", "primary")
    assert Chaos().servers()["default"].url == "http://127.0.0.1:8474"  # `embedded`


def test_a_fleet_places_each_target_on_its_server_proxy_and_route(tmp_path: Path) -> None:
    system = load_system(manifest(tmp_path, FLEET))
    chaos = system.chaos
    assert chaos.is_fleet and list(chaos.servers()) == ["edge-a", "edge-b"]
    assert chaos.l4_place("provider:primary") == ("edge-a", "primary")
    assert chaos.l4_place("provider:fallback") == ("edge-b", "fb")
    assert chaos.l7_place("provider:primary") == "primary-route"
    assert chaos.l7_place("provider:fallback") == "fallback"  # no route declared: named after it
    fleet = connect(system, env={"DK_EDGE_TOKEN": "s3cret-edge", "DK_L7_TOKEN": "s3cret-l7"})
    assert list(fleet) == ["l4:edge-a", "l4:edge-b", "l7"]
    backend, name = fleet.place("provider:fallback", "down")
    assert (backend.url, name) == ("http://127.0.0.1:9474", "fb")
    backend, name = fleet.place("provider:primary", "model_swap")
    assert (backend.url, name) == ("http://127.0.0.1:8475", "primary-route")
    # An L4 target the manifest does not place, in a fleet of several servers: bad input up front.
    with pytest.raises(InputError, match=r"chaos\.proxies has no entry for tool:orders"):
        check_target("tool:orders", system, "latency")
    check_target("tool:orders", system, "json_mutate")  # its L7 route is named after it: fine


@pytest.mark.parametrize(
    ("chaos", "expected"),
    [
        (FLEET.replace("server: edge-b", "server: edge-c"),
         "chaos.proxies.provider:fallback.server: no Toxiproxy server named 'edge-c' in chaos.toxiproxy "
         "(declared: edge-a, edge-b)"),
        (FLEET.replace("server: edge-b, ", ""),
         "chaos.proxies.provider:fallback.server: required when chaos.toxiproxy names several servers"),
        (FLEET.replace("edge-b: {url", "'edge b': {url"),
         "chaos.toxiproxy.edge b: a server name is letters, digits"),
        (FLEET.replace("9474", "8474"), "chaos.toxiproxy.edge-b.url: the same server as edge-a"),
        (FLEET.replace("provider:fallback: {server", "provider:nope: {server"),
         "chaos.proxies.provider:nope: no provider named 'nope' in the manifest"),
        (FLEET.replace("edge-b, proxy: fb", "edge-a, proxy: primary, upstream: '127.0.0.1:1'"),
         "chaos.proxies.provider:fallback.proxy: proxy 'primary' on edge-a already carries provider:primary"),
        (FLEET.replace("timeout: 500ms", "timeout: 0"), "chaos.toxiproxy.edge-b.timeout: expected a duration greater"),
        ("chaos: {toxiproxy: {url: 'http://127.0.0.1:8474'}}\n", "chaos.toxiproxy: named servers are written"),
        ("chaos: {toxiproxy: 'tcp://x:1'}\n", "chaos.toxiproxy: expected 'embedded' or an http(s) URL"),
        ("chaos: {routes: {primary: {}}}\n", "chaos.routes.primary: a target is provider:<name> or tool:<name>"),
        ("chaos: {proxies: {'tool:orders': {listen: '127.0.0.1:0'}}}\n", "a proxy with 'listen' needs 'upstream'"),
    ],
)  # fmt: skip
def test_a_bad_chaos_section_is_exit_2_naming_the_field_and_line(tmp_path: Path, chaos: str, expected: str) -> None:
    path = manifest(tmp_path, chaos)
    code, output = validate(path)
    assert code == 2, output
    assert expected in " ".join(output.split()), output
    assert f"{path.name}:" in output and "Traceback" not in output


def test_an_unset_header_variable_is_exit_2_naming_the_field_never_a_value(tmp_path: Path) -> None:
    path = manifest(tmp_path, FLEET)
    code, output = validate(path, env={"DK_EDGE_TOKEN": None, "DK_L7_TOKEN": "s3cret-l7"})  # type: ignore[dict-item]
    assert code == 2, output
    assert "chaos.toxiproxy.edge-a.headers.Authorization: the environment variable DK_EDGE_TOKEN is not set" in (
        " ".join(output.split())
    )
    assert "s3cret" not in output
    code, output = validate(path, env={"DK_EDGE_TOKEN": "s3cret-edge", "DK_L7_TOKEN": None})  # type: ignore[dict-item]
    assert code == 2 and "chaos.llm_proxy.headers.Authorization" in output, output


def test_the_chaos_model_lives_in_its_own_module_and_is_still_importable_from_system() -> None:
    from drillkit.config import system as system_module

    assert system_module.Chaos is Chaos
    assert System.model_fields["chaos"].default == Chaos()
