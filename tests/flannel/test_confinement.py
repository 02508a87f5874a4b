"""The worker VMs' confinement as pure policy (table tests): what a packet from a cluster's bridge gets, and the nft
text the policy renders. test_confinement_netns.py proves the kernel does the same with the rendered table."""

from __future__ import annotations

import ipaddress
import re

import pytest

from flannel_operator import confinement, key
from flannel_operator.confinement import Packet, judge
from operatorkit import platform
from operatorkit.platform import PlatformSettings

A = ipaddress.ip_address
NET = ipaddress.IPv4Network
BRIDGE, VXLAN = "br-demo", "flannel.1001"
PLAN = PlatformSettings.model_validate(
    {
        "mother": {"pods": ["172.20.0.0/16"], "services": ["172.21.0.0/16"], "nodes": ["192.168.50.0/24"]},
        "pools": {"flannel": "10.64.0.0/10", "vpc": "10.128.0.0/9"},
        "guest_endpoints": ["192.168.50.1:443/tcp", "192.168.50.1:5000/tcp", "192.168.50.1:30000-30999/tcp"],
    }
)
POLICY = confinement.policy(
    bridge=BRIDGE,
    vxlan=VXLAN,
    network=NET("10.64.0.0/18"),
    lease=NET("10.64.1.0/24"),
    plan=PLAN,
    dns=[A("172.21.0.10"), A("fd00::53")],  # a mother Service (DNATed to a pod); IPv6 is dropped anyway
    ntp=["192.168.50.2", "pool.ntp.org"],  # by name: no rule can follow it
)
VM = "10.64.1.2"


def forward(destination: str, port: int = 443, oif: str = "eth0", **more: object) -> Packet:
    return Packet("forward", A(str(more.pop("source", VM))), A(destination), port=port, oif=oif, **more)


def to_host(destination: str, port: int = 443, **more: object) -> Packet:
    return Packet("input", A(str(more.pop("source", VM))), A(destination), port=port, **more)


@pytest.mark.parametrize(
    ("packet", "verdict", "why"),
    [
        # what the cluster needs
        (forward("10.64.1.3", 8080, oif=BRIDGE), "accept", "the same bridge"),
        (forward("10.64.2.5", 10250, oif=VXLAN), "accept", "the cluster's network on other hosts"),
        (forward("192.168.50.1", 443), "accept", "platform endpoint 192.168.50.1:443/tcp"),  # ingress elsewhere
        (forward("192.168.50.1", 5000), "accept", "platform endpoint 192.168.50.1:5000/tcp"),  # the registry
        (to_host("192.168.50.1", 443), "accept", "platform endpoint"),  # the ingress on this very host
        (forward("192.168.50.1", 30000), "accept", "platform endpoint 192.168.50.1:30000-30999/tcp"),  # its pool
        (to_host("192.168.50.1", 30999), "accept", "platform endpoint 192.168.50.1:30000-30999/tcp"),
        (forward("172.20.3.4", 53, protocol="udp", original=A("172.21.0.10")), "accept", "declared DNS servers (udp)"),
        (forward("172.20.3.4", 53, protocol="tcp", original=A("172.21.0.10")), "accept", "declared DNS servers (tcp)"),
        (forward("192.168.50.2", 123, protocol="udp"), "accept", "declared NTP servers"),
        (forward("93.184.216.34", 443), "accept", "the outside"),
        (forward("8.8.8.8", 53, protocol="udp"), "accept", "the outside"),
        (forward("172.20.1.5", 40000, established=True), "accept", "replies"),  # the API server → a kubelet
        # the platform
        (forward("192.168.50.1", 22), "drop", "the platform's address plan"),  # an endpoint's other port
        (forward("192.168.50.1", 31000), "drop", "the platform's address plan"),  # past the range
        (to_host("192.168.50.1", 29999), "drop", "the host's own addresses"),  # before it
        (forward("192.168.50.1", 443, protocol="udp"), "drop", "the platform's address plan"),  # ... other protocol
        (forward("192.168.50.2", 123, protocol="tcp"), "drop", "the platform's address plan"),
        (forward("172.20.1.5", 2379), "drop", "the platform's address plan, as it leaves"),  # a control plane's etcd
        (forward("172.21.0.10", 54, protocol="udp"), "drop", "the platform's address plan"),  # DNS Service, not 53
        (forward("192.168.50.7", 6443, original=A("172.21.0.1")), "drop", "as it leaves"),  # the mother's API Service
        (forward("172.20.9.9", 8080, original=A("203.0.113.5")), "drop", "as it leaves"),  # an external IP, DNATed
        (forward("203.0.113.5", 80, original=A("172.21.0.99")), "drop", "before DNAT"),  # a Service DNATed outside
        (forward("169.254.169.254", 80), "drop", "the platform's address plan"),  # a cloud's metadata service
        (forward("127.0.0.1", 2379), "drop", "the platform's address plan"),
        # other tenants
        (forward("10.65.0.5", 22, oif="br-other"), "drop", "the platform's address plan"),  # another bridge here
        (forward("10.65.0.5", 22, oif=VXLAN), "drop", "the platform's address plan"),  # not the cluster's network
        (forward("10.130.0.5", 22), "drop", "the platform's address plan"),  # an AWS guest's VPC
        # the host
        (to_host("10.64.1.1", 2379), "drop", "the host's own addresses"),  # its bridge address
        (to_host("192.168.50.1", 10250), "drop", "the host's own addresses"),  # the mother kubelet
        (to_host("192.168.50.1", 53, protocol="udp"), "drop", "the host's own addresses"),
        (to_host("10.64.1.1", 2379, source=A("10.64.2.5"), iif=VXLAN), "drop", "from the cluster's VMs on other"),
        (to_host("10.64.1.1", 2379, source=A("10.64.2.5"), iif=VXLAN, established=True), "accept", "replies"),
        # spoofing and IPv6
        (forward("93.184.216.34", source="10.64.2.9"), "drop", "spoofed"),  # the cluster's lease on another host
        (forward("10.64.1.3", oif=BRIDGE, source="10.65.0.5"), "drop", "spoofed"),  # another cluster's VM
        (forward("172.20.1.5", established=True, source="172.20.1.5"), "drop", "spoofed"),  # not even a "reply"
        (to_host("10.64.1.1", 22, source="192.168.50.1"), "drop", "spoofed"),
        (forward("2001:db8::1", source="fd00::2"), "drop", "IPv6"),
        (forward("fd00::3", oif=BRIDGE, source="fd00::2"), "drop", "IPv6"),
        (to_host("fe80::1", source="fe80::2"), "drop", "IPv6"),
        # not from the bridge: not this table's to judge
        (Packet("forward", A("192.168.50.3"), A("172.20.1.5"), iif="eth0"), "accept", "policy"),
    ],
)
def test_what_a_vm_reaches(packet: Packet, verdict: str, why: str) -> None:
    assert judge(POLICY, packet)[0] == verdict
    assert why in judge(POLICY, packet)[1]


def test_the_table_names_only_itself() -> None:
    script = confinement.script(POLICY)
    statements = [line for line in script.splitlines() if re.match(r"^\s*(table|delete|flush|add|insert)\b", line)]
    assert statements == [
        "table inet kubeception-br-demo",
        "delete table inet kubeception-br-demo",
        "table inet kubeception-br-demo {",
    ]
    assert confinement.removal(BRIDGE) == "table inet kubeception-br-demo\ndelete table inet kubeception-br-demo\n"
    rules = [line.strip() for line in script.splitlines() if "comment" in line]
    assert len(rules) == len(POLICY.input) + len(POLICY.forward)
    assert all(rule.startswith((f'iifname "{BRIDGE}" ', f'iifname "{VXLAN}" ')) for rule in rules)
    assert all(len(rule.split('comment "')[1]) <= 128 for rule in rules)  # nft's limit on a comment
    assert "fd00::53" not in script
    assert "pool.ntp.org" not in script


def test_the_rendered_rules() -> None:
    text = confinement.render(POLICY)
    assert (
        'iifname "br-demo" meta l4proto tcp ct original ip daddr 192.168.50.1 ct original proto-dst 443 counter '
        'accept comment "platform endpoint 192.168.50.1:443/tcp"'
    ) in text
    assert (
        'iifname "br-demo" meta l4proto tcp ct original ip daddr 192.168.50.1 ct original proto-dst 30000-30999 '
        'counter accept comment "platform endpoint 192.168.50.1:30000-30999/tcp"'
    ) in text
    assert 'iifname "br-demo" oifname "flannel.1001" ip daddr 10.64.0.0/18 counter accept' in text
    assert 'iifname "br-demo" ip saddr != 10.64.1.0/24 counter drop' in text
    closed = "{ 0.0.0.0/8, 10.64.0.0/10, 10.128.0.0/9, 127.0.0.0/8, 169.254.0.0/16, 172.20.0.0/15, 192.168.50.0/24"
    assert f"ip daddr {closed}, 224.0.0.0/3 }} counter drop" in text
    assert f"ct original ip daddr {closed}, 224.0.0.0/3 }} counter drop" in text
    assert text.count("type filter hook input priority filter; policy accept;") == 1
    assert text.count("type filter hook forward priority filter; policy accept;") == 1


def test_a_lease_left_to_the_host() -> None:
    """The operator renders without the lease; the bridge container defines ``$lease`` from flanneld's file."""
    policy = confinement.policy(bridge=BRIDGE, vxlan=VXLAN, network=NET("10.64.0.0/18"), lease=None, plan=PLAN)
    assert 'iifname "br-demo" ip saddr != $lease counter drop' in confinement.render(policy)
    assert "declared" not in confinement.render(policy)
    with pytest.raises(ValueError, match=r"\$lease cannot judge"):
        judge(policy, forward("93.184.216.34"))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"bridge": "flannel.1001"}, "flannel's VXLAN devices"),
        ({"bridge": 'br-x"; flush ruleset'}, "must be a Linux interface name"),
        ({"vxlan": "eth0"}, "not a flannel VXLAN device"),
        ({"vxlan": 'flannel.1" accept'}, "not a flannel VXLAN device"),
        ({"lease": NET("10.64.64.0/24")}, "not in the cluster's network"),
    ],
)
def test_refused_inputs(change: dict[str, object], problem: str) -> None:
    args: dict[str, object] = {
        "bridge": BRIDGE,
        "vxlan": VXLAN,
        "network": NET("10.64.0.0/18"),
        "lease": NET("10.64.1.0/24"),
        "plan": PLAN,
        **change,
    }
    with pytest.raises(ValueError, match=re.escape(problem)):
        confinement.policy(**args)


def test_the_table_name() -> None:
    assert key.confinement_table("br-demo") == "kubeception-br-demo"
    longest = key.confinement_table("b" * key.IFNAME_MAX)
    assert len(longest) == 27 <= platform.NFT_NAME_MAX
    assert platform.confinement_table("br-demo") == "kubeception-br-demo"  # the launcher reads the same name
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_./-]*", key.confinement_table("br-a.b_c"))  # an nft identifier
