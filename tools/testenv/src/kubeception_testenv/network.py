"""The network real nodes live on, made by the harness and removed by it: a Linux bridge in the host's network
namespace carrying the host's address, and per node a network namespace joined to the bridge by a veth pair.

Nothing here touches an interface, route or rule the harness did not create: every name carries the run's
short id, addresses come from a /24 no existing route uses, and teardown removes exactly what was added. Pod
traffic between nodes is routed by the host (each node's pod /24 via that node's address). Traffic leaving the
bridge network is never forwarded: an nftables table of the run's own drops, in the host's forward hook, every
packet that enters from the bridge and would leave by another interface (or the reverse), so nodes and pods reach
the host's servers on the bridge address and nothing beyond this machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

NODE_NETWORKS = ipaddress.IPv4Network("10.213.0.0/16")  # node networks: one /24 per run
_PODS = ipaddress.IPv4Network("10.192.0.0/12")  # pod networks: one /16 per run, a /24 per node (disjoint)


class NetworkError(RuntimeError):
    """A network step failed; the message carries the command and its output."""


def run(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", "netns", "exec", netns, *args] if netns else list(args)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"{' '.join(command)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _routes() -> list[ipaddress.IPv4Network]:
    found = []
    for line in run("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        with contextlib.suppress(ValueError):
            found.append(ipaddress.IPv4Network(line.split()[0], strict=False))
    return found


def free_subnet(pool: ipaddress.IPv4Network, prefix: int, seed: str) -> ipaddress.IPv4Network:
    """A subnet of ``pool`` that overlaps no route of this host, starting at one derived from ``seed`` (so a run
    usually gets the same one, and two runs usually different ones)."""
    candidates = list(pool.subnets(new_prefix=prefix))
    start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(candidates)
    taken = _routes()
    for offset in range(len(candidates)):
        candidate = candidates[(start + offset) % len(candidates)]
        if not any(candidate.overlaps(route) for route in taken if route.prefixlen > 0):
            return candidate
    raise NetworkError(f"no free /{prefix} left in {pool}")


@dataclass
class NodeAddress:
    name: str  # the node's name, and (with the run id) its network namespace's
    netns: str
    veth_host: str
    ip: ipaddress.IPv4Address
    pod_cidr: ipaddress.IPv4Network


@dataclass
class NodeNetwork:
    """Create with :meth:`create`; :meth:`destroy` removes everything, and is safe to call more than once."""

    run_id: str
    nodes: list[NodeAddress] = field(default_factory=list)
    subnet: ipaddress.IPv4Network = NODE_NETWORKS
    pods: ipaddress.IPv4Network = _PODS
    created: bool = False
    forwarding_before: str = "1"  # net.ipv4.ip_forward before the first network, restored after the last

    @property
    def bridge(self) -> str:
        return f"kc{self.run_id}"

    @property
    def table(self) -> str:
        """The nftables table (family ip) that confines forwarding to the bridge."""
        return f"kc{self.run_id}"

    @property
    def host_ip(self) -> ipaddress.IPv4Address:
        """The host's address on the bridge: every server the nodes must reach listens here."""
        return self.subnet.network_address + 1

    def plan(self, names: list[str]) -> None:
        """Choose the addresses (free subnets, one address and pod /24 per node); nothing is created yet."""
        self.subnet = free_subnet(NODE_NETWORKS, 24, self.run_id)
        self.pods = free_subnet(_PODS, 16, self.run_id)
        pod_subnets = self.pods.subnets(new_prefix=24)
        self.nodes = [
            NodeAddress(
                name=name,
                netns=f"kc{self.run_id}-{index}",
                veth_host=f"kc{self.run_id}v{index}",
                ip=self.subnet.network_address + 10 + index,
                pod_cidr=next(pod_subnets),
            )
            for index, name in enumerate(names)
        ]

    def create(self) -> None:
        self.created = True
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.host_ip}/{self.subnet.prefixlen}", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        self.forwarding_before = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        self._confine()
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")  # pod traffic between nodes goes through the host
        for node in self.nodes:
            self._join(node)

    def _confine(self) -> None:
        """Forward between the bridge's ports only (before forwarding is switched on)."""
        rules = (
            f"table ip {self.table} {{\n"
            "  chain forward {\n"
            "    type filter hook forward priority filter; policy accept;\n"
            f'    iifname "{self.bridge}" oifname != "{self.bridge}" counter drop\n'
            f'    oifname "{self.bridge}" iifname != "{self.bridge}" counter drop\n'
            "  }\n"
            "}\n"
        )
        result = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise NetworkError(f"nft -f -: {result.stderr.strip()}")

    def dropped(self) -> int:
        """Packets the confinement has dropped so far (for tests)."""
        listing = run("nft", "list", "table", "ip", self.table).stdout
        return sum(int(part.split()[0]) for part in listing.split("counter packets")[1:])

    def _join(self, node: NodeAddress) -> None:
        run("ip", "netns", "add", node.netns)
        run("ip", "link", "add", node.veth_host, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
        run("ip", "link", "set", node.veth_host, "master", self.bridge, "up")
        run("ip", "addr", "add", f"{node.ip}/{self.subnet.prefixlen}", "dev", "eth0", netns=node.netns)
        run("ip", "link", "set", "eth0", "up", netns=node.netns)
        run("ip", "link", "set", "lo", "up", netns=node.netns)
        run("ip", "route", "add", "default", "via", str(self.host_ip), netns=node.netns)
        run("sysctl", "-qw", "net.ipv4.ip_forward=1", netns=node.netns)
        run("ip", "route", "add", str(node.pod_cidr), "via", str(node.ip), "dev", self.bridge)

    def node(self, name: str) -> NodeAddress:
        return next(node for node in self.nodes if node.name == name)

    def destroy(self) -> None:
        """Remove the routes, namespaces (their veth ends go with them) and the bridge this network created."""
        if not self.created:
            return
        for node in self.nodes:
            run("ip", "route", "del", str(node.pod_cidr), check=False)
            run("ip", "link", "del", node.veth_host, check=False)
            run("ip", "netns", "del", node.netns, check=False)
        run("ip", "link", "del", self.bridge, check=False)
        run("nft", "delete", "table", "ip", self.table, check=False)
        others = [
            line for line in run("ip", "-o", "link", "show", "type", "bridge").stdout.splitlines() if " kc" in line
        ]
        if self.forwarding_before == "0" and not others:  # the last network of the harness restores the host's setting
            Path("/proc/sys/net/ipv4/ip_forward").write_text("0")
        self.created = False

    def leftovers(self) -> list[str]:
        """What of this network still exists (for teardown tests): namespaces, links, routes."""
        found = []
        namespaces = run("ip", "netns", "list").stdout
        found += [f"netns {n.netns}" for n in self.nodes if n.netns in namespaces.split()]
        links = run("ip", "-o", "link", "show").stdout
        names = [self.bridge, *(n.veth_host for n in self.nodes)]
        found += [f"link {name}" for name in names if f" {name}:" in links or f" {name}@" in links]
        routes = run("ip", "-4", "route", "show").stdout
        found += [f"route {n.pod_cidr}" for n in self.nodes if str(n.pod_cidr) in routes]
        if run("nft", "list", "table", "ip", self.table, check=False).returncode == 0:
            found.append(f"nftables table ip {self.table}")
        return found
