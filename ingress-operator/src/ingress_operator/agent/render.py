"""The routing table as HAProxy files: the configuration (Jinja2 template) and four maps.

What needs a reload is the *structure* (frontend ports, how many backends, servers per backend, listen
addresses); everything else — hostname → backend maps and each backend's servers — is changed at runtime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jinja2

from ingress_operator.table import Shape

if TYPE_CHECKING:
    from pathlib import Path

    from ingress_operator.agent.runtime import Runtime
    from ingress_operator.agent.settings import AgentSettings
    from ingress_operator.table import Route

MAPS = ("sni.map", "sni-wildcard.map", "host.map", "host-wildcard.map")
_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader("ingress_operator.agent", "."),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
).get_template("haproxy.cfg.j2")
EMPTY = Shape(0, 0, 1)


@dataclass(frozen=True)
class Structure:
    """What a reload changes."""

    shape: Shape
    ports: tuple[tuple[int, str], ...]


@dataclass
class Rendered:
    revision: int
    structure: Structure
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    servers: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    def serves_as(self, other: Rendered) -> bool:
        """The same routes, whatever the revision: a backend without servers is the same as one not listed."""
        return (
            self.structure == other.structure
            and self.maps == other.maps
            and {b: s for b, s in self.servers.items() if s} == {b: s for b, s in other.servers.items() if s}
        )


def build(revision: int, shape: Shape, routes: list[Route], *, without_ports: frozenset[int] = frozenset()) -> Rendered:
    """The files' content for a table; ports in ``without_ports`` are left out (HAProxy refused them)."""
    maps: dict[str, dict[str, str]] = {name: {} for name in MAPS}
    servers: dict[str, tuple[tuple[str, int], ...]] = {}
    ports: list[tuple[int, str]] = []
    for route in routes:
        prefix = "sni" if route.mode == "tls" else "host"
        for name in route.hostnames:
            if name.startswith("*."):
                maps[f"{prefix}-wildcard.map"][name[2:]] = route.backend
            else:
                maps[f"{prefix}.map"][name] = route.backend
        servers[route.backend] = route.servers
        if route.port is not None and route.port not in without_ports:
            ports.append((route.port, route.backend))
    return Rendered(revision, Structure(shape, tuple(sorted(ports))), maps, servers)


UNKNOWN_REVISION = -1
_BACKEND = re.compile(r"^(tls|http)-(\d+)$")
_PORT_FRONTEND = re.compile(r"^port-(\d+)-((?:tls|http)-\d+)$")


def learn(runtime: Runtime, settings: AgentSettings) -> Rendered:
    """What a running HAProxy serves, read through its runtime API — not from the files, which may be ahead of it
    (an agent stopped between writing them and the runtime commands or the reload that follow). The revision is
    unknown: only applying a table names one."""
    maps = {name: runtime.map_entries(settings.state_dir / name) for name in MAPS}
    slots = {backend: s for backend, s in runtime.servers().items() if _BACKEND.match(backend)}
    servers = {
        backend: tuple((address, port) for address, port, ready in found if ready) for backend, found in slots.items()
    }
    counts = {"tls": 0, "http": 0}
    for backend in slots:
        if (match := _BACKEND.match(backend)) is not None:
            counts[match.group(1)] = max(counts[match.group(1)], int(match.group(2)) + 1)
    per_backend = max((len(found) for found in slots.values()), default=EMPTY.servers_per_backend)
    ports = [
        (int(match.group(1)), match.group(2))
        for name in runtime.frontends()
        if (match := _PORT_FRONTEND.match(name)) is not None
    ]
    shape = Shape(counts["tls"], counts["http"], per_backend)
    return Rendered(UNKNOWN_REVISION, Structure(shape, tuple(sorted(ports))), maps, servers)


def config(rendered: Rendered, settings: AgentSettings) -> str:
    return _TEMPLATE.render(
        revision=rendered.revision,
        state=settings.state_dir,
        bind=settings.bind_address,
        tls_port=settings.tls_port,
        http_port=settings.http_port,
        ports=rendered.structure.ports,
        shape=rendered.structure.shape,
        servers={b: [(_address(a), p) for a, p in s] for b, s in rendered.servers.items()},
    )


def map_text(entries: dict[str, str]) -> str:
    return "".join(f"{key} {value}\n" for key, value in sorted(entries.items()))


def write_files(rendered: Rendered, settings: AgentSettings) -> None:
    """Every file, each replaced in one rename: a HAProxy (re)starting at any moment reads a whole file."""
    for name, entries in rendered.maps.items():
        _replace(settings.state_dir / name, map_text(entries))
    _replace(settings.state_dir / "haproxy.cfg", config(rendered, settings))


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _address(address: str) -> str:
    return f"[{address}]" if ":" in address else address
