"""Allocation of everything one cluster's network holds on the shared hosts: a network (no overlap), a VNI, a
bridge name and a flanneld health port — each unique among all clusters, stable, and never changed once given.

Allocations are recorded in each FlannelConfig's status, so a restarted operator rebuilds this table from its
cache before it allocates anything. One lock guards the table, so concurrent reconciles of many clusters never
hand out the same thing twice; a clash is refused naming the cluster that holds it.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, replace

from flannel_operator import key

IPv4Network = ipaddress.IPv4Network


class AllocationConflict(Exception):
    """A requested network, VNI or bridge is taken; ``other`` names the cluster holding it."""

    def __init__(self, message: str, other: str) -> None:
        super().__init__(message)
        self.other = other


class AllocationImmutable(Exception):
    """The spec asks to change what was allocated: the VMs on the network depend on it."""


class NetworkReserved(Exception):
    """A requested network overlaps a range the mother's hosts already route (its Services, its pods)."""


class PoolExhausted(Exception):
    """No free network, VNI or health port is left in the operator's pool."""


@dataclass(frozen=True)
class Allocation:
    network: IPv4Network
    vni: int
    bridge: str
    health_port: int


@dataclass(frozen=True)
class Request:
    network: IPv4Network | None
    vni: int | None
    bridge: str


class Allocator:
    def __init__(
        self,
        pool: IPv4Network,
        network_prefix: int,
        vni_range: tuple[int, int],
        port_base: int,
        reserved: tuple[IPv4Network, ...] = (),
    ) -> None:
        if network_prefix < pool.prefixlen:
            raise ValueError(f"network size /{network_prefix} is larger than the pool {pool}")
        self.pool = pool
        self.reserved = reserved
        self.network_prefix = network_prefix
        self.vni_range = vni_range
        self.port_base = port_base
        self._lock = threading.Lock()
        self._by_owner: dict[str, Allocation] = {}

    def record(self, owner: str, allocation: Allocation) -> None:
        """Take note of an allocation found in a status (on start-up and on every reconcile)."""
        with self._lock:
            self._by_owner[owner] = allocation

    def allocate(self, owner: str, request: Request) -> Allocation:
        """The owner's allocation: its existing one (the request may not change it), else a new one."""
        with self._lock:
            others = {o: a for o, a in self._by_owner.items() if o != owner}
            if (current := self._by_owner.get(owner)) is not None:
                self._unchanged(current, request)
                self._check_unique(current, others)
                return current
            network = self._check_network(request.network, others) if request.network else self._free_network(others)
            vni = self._check_vni(request.vni, others) if request.vni else self._free_vni(others)
            allocation = Allocation(network, vni, request.bridge, 0)
            self._check_bridge(request.bridge, others)
            allocation = replace(allocation, health_port=self._free_port(vni, others))
            self._by_owner[owner] = allocation
            return allocation

    def release(self, owner: str) -> None:
        with self._lock:
            self._by_owner.pop(owner, None)

    def holder(self, owner: str) -> Allocation | None:
        with self._lock:
            return self._by_owner.get(owner)

    def usage(self) -> tuple[int, int, int, int]:
        """(networks used, networks in the pool, VNIs used, VNIs in the range) for the pool gauges."""
        with self._lock:
            used = len(self._by_owner)
        networks = 2 ** (self.network_prefix - self.pool.prefixlen)
        return used, networks, used, self.vni_range[1] - self.vni_range[0] + 1

    @staticmethod
    def _unchanged(current: Allocation, request: Request) -> None:
        changes = [
            f"{what} {have} (requested {want})"
            for what, have, want in (
                ("network", current.network, request.network),
                ("VNI", current.vni, request.vni),
                ("bridge", current.bridge, request.bridge),
            )
            if want is not None and want != have
        ]
        if changes:
            raise AllocationImmutable(
                f"allocated {', '.join(changes)} cannot change under running VMs; delete and recreate the network"
            )

    def _check_unique(self, allocation: Allocation, others: dict[str, Allocation]) -> None:
        """Recorded allocations restored from two statuses can clash (written by an older version): refuse."""
        self._check_network(allocation.network, others)
        self._check_vni(allocation.vni, others)
        self._check_bridge(allocation.bridge, others)

    def _check_network(self, network: IPv4Network, others: dict[str, Allocation]) -> IPv4Network:
        for reserved in self.reserved:
            if network.overlaps(reserved):
                raise NetworkReserved(
                    f"network {network} overlaps {reserved}, one of the mother cluster's networks (platform.mother), "
                    "which its hosts route already"
                )
        for other, allocation in sorted(others.items()):
            if network.overlaps(allocation.network):
                raise AllocationConflict(f"network {network} overlaps {allocation.network} of cluster {other}", other)
        return network

    @staticmethod
    def _check_vni(vni: int, others: dict[str, Allocation]) -> int:
        for other, allocation in sorted(others.items()):
            if allocation.vni == vni:
                raise AllocationConflict(f"VNI {vni} is used by cluster {other}", other)
        return vni

    @staticmethod
    def _check_bridge(bridge: str, others: dict[str, Allocation]) -> None:
        for other, allocation in sorted(others.items()):
            if allocation.bridge == bridge:
                raise AllocationConflict(f"bridge {bridge} is used by cluster {other}", other)

    def _free_network(self, others: dict[str, Allocation]) -> IPv4Network:
        taken = [*self.reserved, *(a.network for a in others.values())]
        for candidate in self.pool.subnets(new_prefix=self.network_prefix):
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
        raise PoolExhausted(f"no free /{self.network_prefix} left in {self.pool}")

    def _free_vni(self, others: dict[str, Allocation]) -> int:
        taken = {a.vni for a in others.values()}
        for candidate in range(self.vni_range[0], self.vni_range[1] + 1):
            if candidate not in taken:
                return candidate
        raise PoolExhausted(f"no free VNI left in {self.vni_range[0]}-{self.vni_range[1]}")

    def _free_port(self, vni: int, others: dict[str, Allocation]) -> int:
        """The VNI's preferred health port, else the next one no other cluster holds."""
        taken = {a.health_port for a in others.values()}
        preferred = key.health_port(self.port_base, vni) - self.port_base
        for step in range(key.HEALTH_PORTS):
            port = self.port_base + (preferred + step) % key.HEALTH_PORTS
            if port not in taken and port < 65536:
                return port
        raise PoolExhausted(f"no free health port left from {self.port_base}")
