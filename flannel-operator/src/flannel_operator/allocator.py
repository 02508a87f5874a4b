"""Network and VNI allocation: unique, non-overlapping, stable.

Allocations are recorded in each FlannelConfig's status (and in etcd), so a restarted operator rebuilds this
table from its cache before it allocates anything. One lock guards the table, so concurrent reconciles of
many clusters never hand out the same network or VNI.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass

IPv4Network = ipaddress.IPv4Network


class AllocationConflict(Exception):
    """A requested network or VNI is taken; ``other`` names the cluster holding it."""

    def __init__(self, message: str, other: str) -> None:
        super().__init__(message)
        self.other = other


class PoolExhausted(Exception):
    """No free network or VNI is left in the operator's pool."""


@dataclass(frozen=True)
class Allocation:
    network: IPv4Network
    vni: int


class Allocator:
    def __init__(self, pool: IPv4Network, network_prefix: int, vni_range: tuple[int, int]) -> None:
        if network_prefix < pool.prefixlen:
            raise ValueError(f"network size /{network_prefix} is larger than the pool {pool}")
        self.pool = pool
        self.network_prefix = network_prefix
        self.vni_range = vni_range
        self._lock = threading.Lock()
        self._by_owner: dict[str, Allocation] = {}

    def record(self, owner: str, allocation: Allocation) -> None:
        """Take note of an allocation found in a status (on start-up and on every reconcile)."""
        with self._lock:
            self._by_owner[owner] = allocation

    def allocate(self, owner: str, network: IPv4Network | None, vni: int | None) -> Allocation:
        """The owner's allocation: its existing one when it matches the request, else a new one."""
        with self._lock:
            current = self._by_owner.get(owner)
            if current is not None and network in (None, current.network) and vni in (None, current.vni):
                return current
            others = {o: a for o, a in self._by_owner.items() if o != owner}
            chosen_network = self._check_network(network, others) if network else self._free_network(others)
            chosen_vni = self._check_vni(vni, others) if vni else self._free_vni(others)
            allocation = Allocation(chosen_network, chosen_vni)
            self._by_owner[owner] = allocation
            return allocation

    def release(self, owner: str) -> None:
        with self._lock:
            self._by_owner.pop(owner, None)

    def usage(self) -> tuple[int, int, int, int]:
        """(networks used, networks in the pool, VNIs used, VNIs in the range) for the pool gauges."""
        with self._lock:
            used = len(self._by_owner)
        networks = 2 ** (self.network_prefix - self.pool.prefixlen)
        return used, networks, used, self.vni_range[1] - self.vni_range[0] + 1

    @staticmethod
    def _check_network(network: IPv4Network, others: dict[str, Allocation]) -> IPv4Network:
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

    def _free_network(self, others: dict[str, Allocation]) -> IPv4Network:
        taken = [a.network for a in others.values()]
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
