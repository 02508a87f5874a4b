"""Who holds what on the shared HAProxy: hostnames, frontend ports and backend slots — each held by one cluster.

Claims are recorded in each IngressConfig's status (``status.routes``), so a restarted operator rebuilds this
table from its cache before anything is allocated. One lock guards the table: concurrent reconciles never hand
out one port or slot twice, and a clash is refused naming the cluster that holds the name. A wildcard and an
exact name under it are one clash when they belong to different clusters (the exact name would take the other
cluster's traffic).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingress_operator import key

if TYPE_CHECKING:
    from ingress_operator.key import Mode


class Clash(Exception):
    """A hostname or port is another cluster's; ``other`` names it."""

    def __init__(self, message: str, other: str) -> None:
        super().__init__(message)
        self.other = other


class PoolExhausted(Exception):
    """No frontend port is left in the pool."""


@dataclass(frozen=True)
class Want:
    """What one route asks for."""

    mode: Mode
    hostnames: tuple[str, ...]
    port: bool


@dataclass(frozen=True)
class Held:
    """What one route holds: its backend slot and, when asked, its frontend port."""

    backend: str
    port: int | None = None


@dataclass
class _Owner:
    routes: dict[str, Held] = field(default_factory=dict)
    hostnames: set[str] = field(default_factory=set)


def parent(hostname: str) -> str:
    """The domain a wildcard covers: ``*.c1.example.com`` and ``app.c1.example.com`` both give ``c1.example.com``."""
    return hostname.split(".", 1)[1]


class Claims:
    def __init__(self, ports: tuple[int, int]) -> None:
        self.ports = ports
        self._lock = threading.Lock()
        self._owners: dict[str, _Owner] = {}
        self._hostnames: dict[str, str] = {}  # hostname (or *.domain) → cluster
        self._exact_under: dict[str, set[str]] = {}  # domain → exact hostnames directly under it
        self._ports: dict[int, str] = {}
        self._slots: dict[Mode, dict[int, str]] = {"tls": {}, "http": {}}

    def record(self, cluster: str, routes: dict[str, Held], hostnames: set[str]) -> None:
        """Take note of what a status records (start-up; every reconcile before it allocates)."""
        with self._lock:
            if cluster not in self._owners:
                self._take(cluster, routes, hostnames)

    def claim(self, cluster: str, wanted: dict[str, Want]) -> dict[str, Held]:
        """The routes ``cluster`` now holds: kept slots and ports where it had them, new ones where it had none;
        hostnames and routes it no longer wants are let go. All or nothing: a clash changes nothing."""
        with self._lock:
            names = {name for want in wanted.values() for name in want.hostnames}
            self._check_hostnames(cluster, names)
            previous = self._owners.get(cluster, _Owner())
            held: dict[str, Held] = {}
            slots = {mode: set(taken) for mode, taken in self._slots.items()}
            ports = set(self._ports)
            for route, want in wanted.items():
                old = previous.routes.get(route)
                if old is not None and key.parse_backend(old.backend)[0] == want.mode:
                    backend = old.backend
                else:
                    slot = _lowest_free(slots[want.mode])
                    slots[want.mode].add(slot)
                    backend = key.backend(want.mode, slot)
                port = None
                if want.port:
                    port = old.port if old is not None and old.port is not None else self._free_port(ports)
                    ports.add(port)
                held[route] = Held(backend, port)
            self._release(cluster)
            self._take(cluster, held, names)
            return held

    def release(self, cluster: str) -> None:
        with self._lock:
            self._release(cluster)

    def usage(self) -> tuple[int, int]:
        """Frontend ports used and the pool's size."""
        with self._lock:
            return len(self._ports), self.ports[1] - self.ports[0] + 1

    def _check_hostnames(self, cluster: str, names: set[str]) -> None:
        for name in sorted(names):
            other = self._hostnames.get(name)
            if other is None and name.startswith("*."):
                other = next(
                    (
                        self._hostnames[n]
                        for n in self._exact_under.get(parent(name), ())
                        if self._hostnames[n] != cluster
                    ),
                    None,
                )
                why = "a name under it"
            elif other is None:
                other = self._hostnames.get(f"*.{parent(name)}")
                why = f"the wildcard *.{parent(name)}"
            else:
                why = "it"
            if other is not None and other != cluster:
                raise Clash(f"hostname {name}: {why} belongs to cluster {other}", other)

    def _free_port(self, taken: set[int]) -> int:
        for port in range(self.ports[0], self.ports[1] + 1):
            if port not in taken:
                return port
        raise PoolExhausted(f"no free frontend port in {self.ports[0]}-{self.ports[1]}")

    def _take(self, cluster: str, routes: dict[str, Held], hostnames: set[str]) -> None:
        self._owners[cluster] = _Owner(dict(routes), set(hostnames))
        for name in hostnames:
            self._hostnames[name] = cluster
            if not name.startswith("*."):
                self._exact_under.setdefault(parent(name), set()).add(name)
        for held in routes.values():
            mode, slot = key.parse_backend(held.backend)
            self._slots[mode][slot] = cluster
            if held.port is not None:
                self._ports[held.port] = cluster

    def _release(self, cluster: str) -> None:
        owner = self._owners.pop(cluster, None)
        if owner is None:
            return
        for name in owner.hostnames:
            if self._hostnames.get(name) == cluster:
                del self._hostnames[name]
            self._exact_under.get(parent(name), set()).discard(name)
        for held in owner.routes.values():
            mode, slot = key.parse_backend(held.backend)
            if self._slots[mode].get(slot) == cluster:
                del self._slots[mode][slot]
            if held.port is not None and self._ports.get(held.port) == cluster:
                del self._ports[held.port]


def _lowest_free(taken: set[int]) -> int:
    slot = 0
    while slot in taken:
        slot += 1
    return slot
