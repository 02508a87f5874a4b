"""Local addresses that are not loopback: Kubernetes refuses 127.0.0.0/8 in EndpointSlices, so a server the mother
cluster's Services point at (a guest API server, a guest ingress) listens on one of these.

A port-less bridge ``kcs<pid>-<n>`` (this kernel has no dummy interfaces) holds a /28 of 10.214.0.0/16 that no
route of the host uses; the addresses exist on this machine only and leave with the interface. Interfaces of
processes that died are removed by the next :class:`LocalAddresses` (their name carries the pid).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import uuid
from typing import TYPE_CHECKING

from kubeception_testenv.network import free_subnet, run

if TYPE_CHECKING:
    from types import TracebackType

POOL = ipaddress.IPv4Network("10.214.0.0/16")
_NAME = re.compile(r"^kcs(\d+)-\d+$")
_counter = itertools.count()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead() -> list[str]:
    """Remove the address interfaces of processes that no longer run; returns their names."""
    removed = []
    for line in run("ip", "-o", "link", "show", "type", "bridge").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if (match := _NAME.match(name)) and not _alive(int(match.group(1))):
            run("ip", "link", "delete", name, check=False)
            run("nft", "delete", "table", "inet", f"kubeception-{name}", check=False)  # NodeGuest's stand-in, if any
            removed.append(name)
    return removed


class LocalAddresses:
    """``count`` (at most 14) addresses on a port-less bridge of this process; ``with LocalAddresses(2) as a``."""

    def __init__(self, count: int = 2) -> None:
        if not 1 <= count <= 14:
            raise ValueError("1 to 14 addresses")
        self.count = count
        self.link = f"kcs{os.getpid()}-{next(_counter)}"
        self.addresses: list[str] = []
        self.subnet: ipaddress.IPv4Network | None = None  # the /28 they are in; the rest is free for others

    def __enter__(self) -> list[str]:
        reap_dead()
        subnet = free_subnet(POOL, 28, uuid.uuid4().hex)
        run("ip", "link", "add", self.link, "type", "bridge")  # a bridge without ports: no dummy module here
        try:
            hosts = list(subnet.hosts())[: self.count]
            for host in hosts:
                run("ip", "addr", "add", f"{host}/{subnet.prefixlen}", "dev", self.link)
            run("ip", "link", "set", self.link, "up")
        except BaseException:
            run("ip", "link", "delete", self.link, check=False)
            raise
        self.addresses = [str(host) for host in hosts]
        self.subnet = subnet
        return self.addresses

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        run("ip", "link", "delete", self.link, check=False)
