"""The worker VMs' confinement in a real kernel, without VMs: throwaway network namespaces stand in for a mother host
(its bridges, its VXLAN device, its own ports, kube-proxy's DNAT), the VMs on its bridges (a veth for a tap), another
mother node with a pod network, another host of the cluster and the outside. The rendered table is loaded with nft in
the "host" and real TCP/UDP sockets, each with a deadline, prove what a VM reaches — first without the table (every
path is open, so each refusal below is the table's doing), then with it.

Every namespace is called ``kcconf-<pid in hex>-<role>``: a run killed before its teardown leaves them behind, and
the next run removes those whose process is gone (:func:`_reap`). Nothing here leaves the namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import re
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import pytest

from flannel_operator import confinement
from kubeception_testenv.network import run
from operatorkit.platform import PlatformSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.servers

T = TypeVar("T")
PREFIX = "kcconf-"
CLONE_NEWNET = 0x40000000
DEADLINE = 2.0  # seconds a probe waits; a dropped SYN or datagram is never answered
_libc = ctypes.CDLL(None, use_errno=True)

NET = ipaddress.IPv4Network
PLAN = PlatformSettings.model_validate(
    {
        "mother": {"pods": ["172.20.0.0/16"], "services": ["172.21.0.0/16"], "nodes": ["192.168.50.0/24"]},
        "pools": {"flannel": "10.64.0.0/10", "vpc": "10.128.0.0/9"},
        # the ingress elsewhere and here, and its pool of per-route ports here
        "guest_endpoints": ["192.168.50.7:443/tcp", "192.168.50.1:443/tcp", "192.168.50.1:30000-30009/tcp"],
    }
)
DNS, NTP = "172.21.0.10", "192.168.50.7"  # the DNS server: a mother Service, DNATed to a pod
KUBE_PROXY = """table ip kcconf-kube-proxy {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 172.21.0.10 udp dport 53 dnat to 172.20.1.5
    ip daddr 172.21.0.1 tcp dport 443 dnat to 192.168.50.7:443
    ip daddr 172.21.0.2 tcp dport 80 dnat to 203.0.113.5:80
  }
}
table inet kcconf-foreign {
  chain forward {
    type filter hook forward priority -10; policy accept;
    counter
  }
}
"""


def _reap() -> None:
    """Remove the namespaces of runs whose process is gone."""
    for name in run("ip", "netns", "list").stdout.split():
        if (found := re.fullmatch(rf"{PREFIX}([0-9a-f]+)-.*", name)) and not os.path.exists(
            f"/proc/{int(found[1], 16)}"
        ):
            run("ip", "netns", "del", name, check=False)


def in_netns(netns: str, make: Callable[[], T]) -> T:
    """``make()`` in a thread that entered ``netns``: a socket made there stays in it, used from any thread."""
    result: dict[str, T] = {}
    failure: list[BaseException] = []

    def body() -> None:
        try:
            with open(f"/run/netns/{netns}") as handle:
                if _libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            result["value"] = make()
        except BaseException as error:  # handed to the caller
            failure.append(error)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result["value"]


@dataclass
class Servers:
    """TCP listeners (the kernel answers the handshake; nothing needs to accept) and UDP servers that echo and
    remember whom they heard from."""

    sockets: list[socket.socket] = field(default_factory=list)
    heard: set[str] = field(default_factory=set)
    selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    stop: threading.Event = field(default_factory=threading.Event)

    def tcp(self, netns: str, port: int, family: socket.AddressFamily = socket.AF_INET) -> None:
        server = in_netns(netns, lambda: socket.socket(family, socket.SOCK_STREAM))
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
        server.listen(64)
        self.sockets.append(server)

    def udp(self, netns: str, port: int) -> None:
        server = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        server.bind(("0.0.0.0", port))
        server.setblocking(False)
        self.sockets.append(server)
        self.selector.register(server, selectors.EVENT_READ)

    def serve(self) -> None:
        while not self.stop.is_set():
            for selected, _ in self.selector.select(timeout=0.1):
                server = selected.fileobj
                assert isinstance(server, socket.socket)
                with contextlib.suppress(OSError):
                    data, peer = server.recvfrom(512)
                    self.heard.add(peer[0])
                    server.sendto(data, peer)

    def close(self) -> None:
        self.stop.set()
        for server in self.sockets:
            server.close()


def tcp(netns: str, address: str, port: int, source: str | None = None) -> str:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with in_netns(netns, lambda: socket.socket(family, socket.SOCK_STREAM)) as client:
        client.settimeout(DEADLINE)
        if source:
            client.bind((source, 0))
        try:
            client.connect((address, port))
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        return "open"


def udp(netns: str, address: str, port: int) -> str:
    with in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as client:
        client.settimeout(DEADLINE)
        client.sendto(b"ping", (address, port))
        try:
            return "open" if client.recvfrom(512)[0] == b"ping" else "garbled"
        except TimeoutError:
            return "timeout"


@dataclass
class Host:
    """The namespaces of one run, by role."""

    run_id: str
    servers: Servers = field(default_factory=Servers)

    def ns(self, role: str) -> str:
        return f"{PREFIX}{self.run_id}-{role}"

    def ip(self, role: str, *args: str) -> None:
        run("ip", "-n", self.ns(role), *args)

    def nft(self, text: str, tmp: Path) -> None:
        path = tmp / f"rules-{abs(hash(text))}.nft"
        path.write_text(text)
        run("nft", "-f", str(path), netns=self.ns("host"))

    def listing(self, table: str) -> str:
        return run("nft", "-s", "list", "table", "inet", table, netns=self.ns("host")).stdout

    def link(self, role: str, host_end: str, bridge: str | None, addresses: list[str], gateway: str | None) -> None:
        """``role``'s namespace joined to the host by a veth: ``host_end`` on the host (in ``bridge``)."""
        run("ip", "netns", "add", self.ns(role))
        self.ip("host", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", self.ns(role))
        if bridge:
            self.ip("host", "link", "set", host_end, "master", bridge)
        self.ip("host", "link", "set", host_end, "up")
        for address in addresses:
            self.ip(role, "addr", "add", address, "dev", "eth0", *(["nodad"] if ":" in address else []))
        self.ip(role, "link", "set", "eth0", "up")
        self.ip(role, "link", "set", "lo", "up")
        if gateway:
            self.ip(role, "route", "add", "default", "via", gateway)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A mother host: bridges br-a (cluster A, this host's lease 10.64.1.0/24 of 10.64.0.0/18) and br-b (cluster B),
    A's VXLAN device flannel.1001 (a veth to A's other host, 10.64.2.0/24), the node network 192.168.50.0/24 (the
    host .1, another node .7 with the pod network 172.20.0.0/16 behind it), and the outside (203.0.113.0/24)."""
    _reap()
    net = Host(f"{os.getpid():x}")
    try:
        run("ip", "netns", "add", net.ns("host"))
        for sysctl in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"):
            run("sysctl", "-qw", sysctl, netns=net.ns("host"))
        net.ip("host", "link", "set", "lo", "up")
        for bridge, address in (("br-a", "10.64.1.1/24"), ("br-b", "10.65.0.1/24")):
            net.ip("host", "link", "add", bridge, "type", "bridge")
            net.ip("host", "addr", "add", address, "dev", bridge)
            net.ip("host", "link", "set", bridge, "up")
        net.ip("host", "addr", "add", "fd00:a::1/64", "dev", "br-a", "nodad")
        net.link("vm", "tapv", "br-a", ["10.64.1.2/24", "10.64.2.9/32", "fd00:a::2/64"], "10.64.1.1")
        net.link("peer", "tapp", "br-a", ["10.64.1.3/24", "fd00:a::3/64"], "10.64.1.1")
        net.link("other", "tapw", "br-b", ["10.65.0.2/24"], "10.65.0.1")
        net.link("remote", "flannel.1001", None, ["10.64.2.5/24"], "10.64.2.254")
        net.ip("host", "addr", "add", "10.64.2.254/24", "dev", "flannel.1001")
        net.link("mother", "eth0", None, ["192.168.50.7/24"], "192.168.50.1")
        net.ip("host", "addr", "add", "192.168.50.1/24", "dev", "eth0")
        net.ip("mother", "addr", "add", "172.20.1.5/32", "dev", "lo")
        net.ip("host", "route", "add", "172.20.0.0/16", "via", "192.168.50.7")
        net.link("outside", "up0", None, ["203.0.113.5/24"], "203.0.113.1")
        net.ip("host", "addr", "add", "203.0.113.1/24", "dev", "up0")
        net.nft(KUBE_PROXY, tmp_path)

        servers = net.servers
        servers.tcp(net.ns("host"), 2379)  # the host's own ports, on every address
        servers.tcp(net.ns("host"), 10250)
        servers.tcp(net.ns("host"), 443)  # an endpoint on this host
        servers.tcp(net.ns("host"), 30005)  # a port of the endpoint's range
        servers.tcp(net.ns("host"), 30010)  # the port after it
        servers.tcp(net.ns("host"), 2379, socket.AF_INET6)
        for port in (443, 22, 2379):
            servers.tcp(net.ns("mother"), port)
        for port in (53, 123):
            servers.udp(net.ns("mother"), port)
        servers.tcp(net.ns("peer"), 8080)
        servers.tcp(net.ns("peer"), 8080, socket.AF_INET6)
        servers.tcp(net.ns("vm"), 8080)
        servers.tcp(net.ns("other"), 8080)
        servers.tcp(net.ns("remote"), 8080)
        servers.tcp(net.ns("outside"), 80)
        servers.udp(net.ns("outside"), 9999)
        threading.Thread(target=servers.serve, daemon=True).start()
        yield net
    finally:
        net.servers.close()
        for role in ("vm", "peer", "other", "remote", "mother", "outside", "host"):
            run("ip", "netns", "del", net.ns(role), check=False)


def table(bridge: str, lease: str, network: str, vxlan: str) -> str:
    policy = confinement.policy(
        bridge=bridge,
        vxlan=vxlan,
        network=NET(network),
        lease=NET(lease),
        plan=PLAN,
        dns=[ipaddress.IPv4Address(DNS)],
        ntp=[NTP, "pool.ntp.org"],
    )
    return confinement.script(policy)


def spoofed(net: Host, source: str) -> str:
    """A datagram from ``source`` (not the VM's lease) to the outside: "open" when the outside heard it (its reply
    goes where ``source`` lives, not to the VM)."""
    net.servers.heard.discard(source)
    with in_netns(net.ns("vm"), lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as client:
        client.bind((source, 0))
        client.sendto(b"ping", ("203.0.113.5", 9999))
    deadline = time.monotonic() + DEADLINE
    while source not in net.servers.heard and time.monotonic() < deadline:
        time.sleep(0.05)
    return "open" if source in net.servers.heard else "timeout"


def probes(net: Host) -> dict[str, str]:
    """Every path, tried at once (a dropped one waits out its deadline)."""
    vm, remote, other = net.ns("vm"), net.ns("remote"), net.ns("other")
    paths: dict[str, Callable[[], str]] = {
        "same bridge": lambda: tcp(vm, "10.64.1.3", 8080),
        "the cluster's VM on another host": lambda: tcp(vm, "10.64.2.5", 8080),
        "endpoint on another node": lambda: tcp(vm, "192.168.50.7", 443),
        "endpoint on this host": lambda: tcp(vm, "192.168.50.1", 443),
        "a port in an endpoint's range": lambda: tcp(vm, "192.168.50.1", 30005),
        "the port after an endpoint's range": lambda: tcp(vm, "192.168.50.1", 30010),
        "declared DNS (a Service)": lambda: udp(vm, DNS, 53),
        "declared NTP": lambda: udp(vm, NTP, 123),
        "the outside": lambda: tcp(vm, "203.0.113.5", 80),
        "endpoint's other port": lambda: tcp(vm, "192.168.50.7", 22),
        "host port on the bridge address": lambda: tcp(vm, "10.64.1.1", 2379),
        "host port on the node address": lambda: tcp(vm, "192.168.50.1", 10250),
        "the other bridge's address": lambda: tcp(vm, "10.65.0.1", 2379),
        "a mother pod": lambda: tcp(vm, "172.20.1.5", 2379),
        "a mother Service DNATed to an endpoint": lambda: tcp(vm, "172.21.0.1", 443),
        "a mother Service DNATed to the outside": lambda: tcp(vm, "172.21.0.2", 80),
        "another cluster's VM": lambda: tcp(vm, "10.65.0.2", 8080),
        "another cluster's VM, from it": lambda: tcp(other, "10.64.1.2", 8080),
        "this host from the cluster's other host": lambda: tcp(remote, "10.64.1.1", 2379),
        "spoofed source": lambda: spoofed(net, "10.64.2.9"),
        "IPv6 on the bridge": lambda: tcp(vm, "fd00:a::3", 8080),
        "IPv6 to the host": lambda: tcp(vm, "fd00:a::1", 2379),
    }
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        futures = {name: pool.submit(probe) for name, probe in paths.items()}
        return {name: future.result() for name, future in futures.items()}


ALLOWED = {
    "same bridge",
    "the cluster's VM on another host",
    "endpoint on another node",
    "endpoint on this host",
    "a port in an endpoint's range",
    "declared DNS (a Service)",
    "declared NTP",
    "the outside",
}


def test_a_vm_reaches_what_its_cluster_needs_and_nothing_else(host: Host, tmp_path: Path) -> None:
    before = probes(host)
    assert before == dict.fromkeys(before, "open"), "without the table, every path is open"
    foreign = host.listing("kcconf-foreign")

    a = table("br-a", "10.64.1.0/24", "10.64.0.0/18", "flannel.1001")
    b = table("br-b", "10.65.0.0/24", "10.65.0.0/18", "flannel.1002")
    host.nft(a, tmp_path)
    first = host.listing("kubeception-br-a")
    host.nft(a, tmp_path)  # re-applied: the same table, nothing added
    host.nft(b, tmp_path)
    assert host.listing("kubeception-br-a") == first

    found = probes(host)
    assert found == {name: "open" if name in ALLOWED else "timeout" for name in found}
    assert host.listing("kcconf-foreign") == foreign

    host.nft(confinement.removal("br-a"), tmp_path)
    host.nft(confinement.removal("br-a"), tmp_path)  # gone already: still fine
    tables = run("nft", "list", "tables", netns=host.ns("host")).stdout.split("\n")
    assert sorted(t for t in tables if t) == [
        "table inet kcconf-foreign",
        "table inet kubeception-br-b",
        "table ip kcconf-kube-proxy",
    ]
    assert host.listing("kcconf-foreign") == foreign
    assert tcp(host.ns("vm"), "10.64.1.1", 2379) == "open"
