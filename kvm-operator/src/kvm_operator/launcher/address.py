"""A VM's address on its cluster's bridge, taken from this host's flannel lease (the subnet flanneld wrote for
the bridge, ``FLANNEL_SUBNET=10.1.5.1/24``: the bridge holds the first address, VMs the rest) — the original
kvm-operator's way: no DHCP server, no allocator to ask.

Two VMs on one host must not take one address: each claim is a file named by the address in a directory beside
the lease, created exclusively, holding the VM's name. A VM restarted in the same pod takes its own claim again;
a claim whose VM's tap is gone from this host (its pod was killed before it could release) is free.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@dataclass(frozen=True)
class Lease:
    gateway: ipaddress.IPv4Interface  # the bridge's address and the lease's prefix
    mtu: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self.gateway.network


def read_lease(path: Path) -> Lease:
    """flanneld's subnet file (``KEY=value`` lines)."""
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    try:
        return Lease(ipaddress.IPv4Interface(values["FLANNEL_SUBNET"]), int(values.get("FLANNEL_MTU", "1500")))
    except (KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a flannel subnet file ({error})") from error


class AddressClaims:
    """The claims of one bridge's lease on this host (``directory``); ``alive(name)`` says whether a VM still
    runs here (its tap exists)."""

    def __init__(self, directory: Path, lease: Lease, alive: Callable[[str], bool]) -> None:
        self.directory, self.lease, self.alive = directory, lease, alive
        directory.mkdir(parents=True, exist_ok=True)

    def claim(self, name: str) -> ipaddress.IPv4Interface:
        """``name``'s address: its own claim if it has one, else the first free (or stale) one. Launchers on one
        host take turns (a lock file), so a stale claim is never taken over twice."""
        with self._locked():
            return self._claim(name)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _claim(self, name: str) -> ipaddress.IPv4Interface:
        candidates = [h for h in self.lease.network.hosts() if h != self.lease.gateway.ip]
        for host in candidates:
            if self._holder(host) == name:
                return self._interface(host)
        for host in candidates:
            if self._take(host, name):
                return self._interface(host)
        raise RuntimeError(f"no free address in {self.lease.network} for {name}: every one is claimed")

    def release(self, name: str) -> None:
        with self._locked():
            for path in self.directory.iterdir():
                if path.name != ".lock" and path.read_text().strip() == name:
                    path.unlink(missing_ok=True)

    def _interface(self, host: ipaddress.IPv4Address) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{host}/{self.lease.network.prefixlen}")

    def _holder(self, host: ipaddress.IPv4Address) -> str | None:
        try:
            return (self.directory / str(host)).read_text().strip()
        except FileNotFoundError:
            return None

    def _take(self, host: ipaddress.IPv4Address, name: str) -> bool:
        path = self.directory / str(host)
        holder = self._holder(host)
        if holder is not None:
            if self.alive(holder):
                return False
            path.unlink(missing_ok=True)  # a VM gone without releasing: its address is free again
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False  # another VM took it a moment ago
        with os.fdopen(descriptor, "w") as claim:
            claim.write(name + "\n")
        return True
