"""The manifest's `chaos` section (DESIGN §9.2, contract names): where a target's faults go.

    chaos:
      llm_proxy: URL | embedded | {url, headers, timeout}          the one LLM fault proxy (L7)
      toxiproxy: URL | embedded | {<server>: {url, headers, timeout}}   one Toxiproxy server, or a fleet
      proxies:   {<target>: {server, proxy, listen, upstream}}     L4: the server and proxy of a target
      routes:    {<target>: {route, listen, upstream, api}}        L7: the route of a target

A target is `provider:<name>` or `tool:<name>`. A target with no `proxies` entry is carried by the
proxy named after it on the only Toxiproxy server (a fleet of several servers needs the entry);
one with no `routes` entry by the route named after it: the first release's naming, so old
manifests (a single URL) keep working unchanged. A single URL (or `embedded`) is the server named
`default`.

`listen` and `upstream` say what `drillkit chaos serve --system` and `drillkit chaos apply`
create or fix (`drillkit.faults.topology`); an entry without `upstream` only says where the target
is. A `listen` with port 0 (or none) accepts whatever port the server chose. A route without
`upstream` forwards to its target's declared proxy, at the address that proxy's server reports.

Header values are templates (`${VAR}`, read from the environment when a server is called:
`drillkit.faults.fleet`); nothing here holds a secret. Errors name the field, e.g.
`chaos.proxies.provider:primary.server: no Toxiproxy server named 'edge-c' (declared: edge-a, edge-b)`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from drillkit.config.types import Duration, Headers, Strict

#: Where `embedded` servers listen (`drillkit chaos serve` without flags).
EMBEDDED_TOXIPROXY = "http://127.0.0.1:8474"
EMBEDDED_LLM_PROXY = "http://127.0.0.1:8475"
#: The name of the one Toxiproxy server of a manifest whose `chaos.toxiproxy` is a URL.
DEFAULT_SERVER = "default"
#: How long a call to a fault server may take unless its entry says otherwise.
DEFAULT_TIMEOUT_S = 10.0

RouteApi = Literal["openai", "anthropic", "json"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TARGET = re.compile(r"^(provider|tool):[^:]+$")


def _embedded_or_url(v: str) -> str:
    if v != "embedded" and not (v.startswith(("http://", "https://")) and urlsplit(v).hostname):
        raise ValueError(f"expected 'embedded' or an http(s) URL (got {v!r})")
    return v.rstrip("/") if v != "embedded" else v


def _address(v: str) -> str:
    host, sep, port = v.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port such as 127.0.0.1:9711 (got {v!r})")
    return v


def _positive(v: float) -> float:
    if v <= 0:
        raise ValueError("expected a duration greater than 0")
    return v


Url = Annotated[str, AfterValidator(_embedded_or_url)]
Address = Annotated[str, AfterValidator(_address)]
Timeout = Annotated[Duration, AfterValidator(_positive)]
Name = Annotated[str, Field(pattern=_NAME.pattern)]


class FaultServer(Strict):
    """One fault server's admin API: where it is, and how to call it."""

    url: Url = Field(description="Admin URL (`http://host:port`), or `embedded` (drillkit's own, `chaos serve`).")
    headers: Headers = Field(
        default={},
        description="Headers sent with every request to this server (e.g. `Authorization: Bearer ${TOKEN}`); `${VAR}` "
        "is read from the environment when used. Values are never stored.",
    )
    timeout: Timeout = Field(default=DEFAULT_TIMEOUT_S, description="How long one request to this server may take.")

    def admin_url(self, embedded: str) -> str:
        return embedded if self.url == "embedded" else self.url


class L4Proxy(Strict):
    """The Toxiproxy proxy that carries a target's network (L4) faults."""

    server: Name | None = Field(
        default=None,
        description="The `chaos.toxiproxy` server it lives on; default: the only one (required with several).",
    )
    proxy: Name | None = Field(default=None, description="The proxy's name on that server; default: the target's name.")
    listen: Address | None = Field(
        default=None,
        description="Where the proxy listens (`host:port`); port 0 or none: any port the server picks.",
    )
    upstream: Address | None = Field(
        default=None,
        description="What it forwards to (`host:port`); without it `chaos serve`/`chaos apply` leave the proxy alone.",
    )

    @model_validator(mode="after")
    def _listen_needs_upstream(self) -> L4Proxy:
        if self.listen is not None and self.upstream is None:
            raise ValueError("a proxy with 'listen' needs 'upstream' too (what it forwards to)")
        return self


class L7Route(Strict):
    """The LLM fault proxy route that carries a target's LLM (L7) faults."""

    route: Name | None = Field(default=None, description="The route's name; default: the target's name.")
    listen: Address | None = Field(
        default=None,
        description="Where the route listens (`host:port`), as the service reaches it; port 0 or none: any port.",
    )
    upstream: str | None = Field(
        default=None,
        description="What it forwards to (`http://host:port`); default: the target's declared proxy in "
        "`chaos.proxies`, else the route is left alone by `chaos serve`/`chaos apply`.",
    )
    api: RouteApi | None = Field(
        default=None,
        description="Error shapes it answers with: `openai`, `anthropic` or `json`; default: the provider's `api`, "
        "`json` for tools.",
    )

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and (urlsplit(v).scheme != "http" or not urlsplit(v).hostname):
            raise ValueError(f"expected an http://host:port URL (got {v!r})")
        return v


def _url_or_object(v: Any) -> Any:
    if not isinstance(v, str | dict):
        raise ValueError("expected a URL, `embedded`, or an object")
    return v


def _toxiproxy_shape(v: Any) -> Any:
    if isinstance(v, dict) and isinstance(v.get("url"), str):
        raise ValueError(
            "named servers are written {edge-a: {url: ...}}; one server is written as its URL (toxiproxy: http://...)"
        )
    return _url_or_object(v)


def _str_or(tag: str) -> Any:
    # Tags in parentheses: the loader drops them from an error's field path (they are no keys).
    return Discriminator(lambda v: "(url)" if isinstance(v, str) else tag)


Toxiproxy = Annotated[
    Annotated[Url, Tag("(url)")] | Annotated[dict[str, FaultServer], Tag("(servers)")],
    _str_or("(servers)"),
    BeforeValidator(_toxiproxy_shape),
]
LlmProxy = Annotated[
    Annotated[Url, Tag("(url)")] | Annotated[FaultServer, Tag("(server)")],
    _str_or("(server)"),
    BeforeValidator(_url_or_object),
]


def _error(loc: tuple[str, ...], message: str) -> ValidationError:
    """A validation error at `loc` (below `chaos`); the message quotes the value itself."""
    detail = InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=None)
    return ValidationError.from_exception_data("Chaos", [detail])


class Chaos(Strict):
    """Where faults go: the fault servers (one Toxiproxy server or a fleet, the LLM fault proxy) and which proxy
    and route carry each target."""

    toxiproxy: Toxiproxy = Field(
        default="embedded",
        description="The Toxiproxy server(s): an admin URL, `embedded` (drillkit's own at http://127.0.0.1:8474, "
        "`drillkit chaos serve`), or named servers `{edge-a: {url, headers, timeout}}`.",
    )
    llm_proxy: LlmProxy = Field(
        default="embedded",
        description="The LLM fault proxy: an admin URL, `embedded` (drillkit's own at http://127.0.0.1:8475), or "
        "`{url, headers, timeout}`.",
    )
    proxies: dict[str, L4Proxy] = Field(
        default={},
        description="Per target (`provider:<name>`, `tool:<name>`): the server and proxy carrying its network faults; "
        "default: the proxy named after it on the only server.",
    )
    routes: dict[str, L7Route] = Field(
        default={},
        description="Per target: the LLM-proxy route carrying its LLM faults; default: the route named after it.",
    )

    @property
    def is_fleet(self) -> bool:
        """Whether `toxiproxy` names its servers (status and reset report each as `l4:<name>`)."""
        return isinstance(self.toxiproxy, dict)

    def servers(self) -> dict[str, FaultServer]:
        """Every Toxiproxy server by name (`default` for a single URL), `embedded` resolved."""
        single = not isinstance(self.toxiproxy, dict)
        named = {DEFAULT_SERVER: FaultServer(url=str(self.toxiproxy))} if single else dict(self.toxiproxy)
        return {name: s.model_copy(update={"url": s.admin_url(EMBEDDED_TOXIPROXY)}) for name, s in named.items()}

    def llm_server(self) -> FaultServer:
        """The LLM fault proxy's admin API, `embedded` resolved."""
        server = FaultServer(url=self.llm_proxy) if isinstance(self.llm_proxy, str) else self.llm_proxy
        return server.model_copy(update={"url": server.admin_url(EMBEDDED_LLM_PROXY)})

    def l4_place(self, target: str) -> tuple[str, str]:
        """(server name, proxy name) that carry `target`'s network faults; `ValueError` when the fleet cannot say."""
        entry = self.proxies.get(target)
        names = list(self.servers())
        name = target.partition(":")[2]
        if entry is not None:
            return entry.server or names[0], entry.proxy or name
        if len(names) > 1:
            raise ValueError(
                f"chaos.proxies has no entry for {target}, and chaos.toxiproxy names several servers "
                f"({', '.join(names)}): declare the server and proxy that carry it"
            )
        return names[0], name

    def l7_place(self, target: str) -> str:
        """The route that carries `target`'s LLM faults."""
        entry = self.routes.get(target)
        return (entry.route if entry is not None else None) or target.partition(":")[2]

    @model_validator(mode="after")
    def _consistent(self) -> Chaos:
        if isinstance(self.toxiproxy, dict):
            self._check_fleet(self.toxiproxy)
        names = list(self.servers())
        carried: dict[tuple[str, str], str] = {}
        for target, entry in self.proxies.items():
            _check_target(("proxies", target), target)
            if entry.server is not None and entry.server not in names:
                raise _error(("proxies", target, "server"), _unknown_server(entry.server, names))
            if entry.server is None and len(names) > 1:
                message = f"required when chaos.toxiproxy names several servers ({', '.join(names)})"
                raise _error(("proxies", target, "server"), message)
            place = self.l4_place(target)
            if place in carried:
                message = f"proxy {place[1]!r} on {place[0]} already carries {carried[place]}"
                raise _error(("proxies", target, "proxy"), message)
            carried[place] = target
        routes: dict[str, str] = {}
        for target in self.routes:
            _check_target(("routes", target), target)
            name = self.l7_place(target)
            if name in routes:
                raise _error(("routes", target, "route"), f"route {name!r} already carries {routes[name]}")
            routes[name] = target
        return self

    @staticmethod
    def _check_fleet(servers: dict[str, FaultServer]) -> None:
        if not servers:
            raise _error(("toxiproxy",), "name at least one server, or give a URL or `embedded`")
        seen: dict[str, str] = {}
        for name, server in servers.items():
            if not _NAME.match(name):
                raise _error(("toxiproxy", name), "a server name is letters, digits, '.', '_' or '-'")
            url = server.admin_url(EMBEDDED_TOXIPROXY)
            if url in seen:
                raise _error(("toxiproxy", name, "url"), f"the same server as {seen[url]} ({url})")
            seen[url] = name


def _unknown_server(name: str, names: list[str]) -> str:
    return f"no Toxiproxy server named {name!r} in chaos.toxiproxy (declared: {', '.join(names)})"


def _check_target(loc: tuple[str, ...], target: str) -> None:
    if not _TARGET.match(target):
        raise _error(loc, f"a target is provider:<name> or tool:<name> (got {target!r})")


def _targets_known(chaos: Chaos, info: ValidationInfo) -> Chaos:
    """Every target `chaos` names is a provider or tool of the manifest (when those validated)."""
    if "providers" not in info.data or "tools" not in info.data:
        return chaos
    known = {"provider": info.data["providers"], "tool": info.data["tools"]}
    for section in ("proxies", "routes"):
        for target in getattr(chaos, section):
            kind, _, name = target.partition(":")
            if name not in known[kind]:
                names = ", ".join(f"{kind}:{n}" for n in known[kind]) or "none"
                raise _error((section, target), f"no {kind} named {name!r} in the manifest (known: {names})")
    return chaos


#: The System's `chaos` field: a `Chaos` whose targets are checked against the manifest's
#: providers and tools (declared before it).
ChaosField = Annotated[Chaos, AfterValidator(_targets_known)]


__all__ = [
    "DEFAULT_SERVER",
    "DEFAULT_TIMEOUT_S",
    "EMBEDDED_LLM_PROXY",
    "EMBEDDED_TOXIPROXY",
    "Chaos",
    "ChaosField",
    "FaultServer",
    "L4Proxy",
    "L7Route",
    "RouteApi",
]
