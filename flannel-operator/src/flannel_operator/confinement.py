"""What a guest cluster's worker VMs may reach from one host: one nftables table per bridge, ``inet
kubeception-<bridge>``, written for a tenant who is root on its VMs (docs/security-model.md).

Every rule judges only what comes in by the cluster's bridge. Allowed, and nothing else:

* the same bridge — the cluster's VMs on this host (br_netfilter sends bridged frames through the ``inet`` forward
  hook, so they must be accepted explicitly);
* the cluster's own network through its VXLAN device ``flannel.<VNI>`` — its VMs on the other hosts;
* the platform's guest endpoints (``platform.guest_endpoints``: the ingress's API and apps ports, the registry),
  by address, protocol **and** port;
* the DNS servers (53, UDP and TCP) and NTP servers (123, UDP) the cluster declares (FlannelConfig ``dns``/``ntp``);
* the outside: whatever is neither in the platform's address plan nor local to the host (flanneld masquerades it);
* replies and ICMP errors of connections allowed, or opened to the VMs by the platform (its API server to their
  kubelets): ``ct state established,related``.

Dropped: IPv6 (the guests' networks are IPv4 only); sources outside this host's lease (a VM sending as another
cluster's VM, or as the host); the host's own addresses (input hook: everything but the allowed endpoints that are
local); the mother's pod, Service and node networks, both pools (every guest's VMs and VPCs) and the addresses never
routed to a VM (loopback, link-local — cloud metadata services —, multicast, reserved), judged on the destination
both as the VM sent it (``ct original ip daddr``, before kube-proxy's DNAT) and as it leaves, so no Service address,
NodePort or external IP DNATed into the platform lets a packet through, and no allowed address DNATed elsewhere
either. Allow rules match the destination as the VM sent it: a declared endpoint the platform DNATs is reached.

The table is the whole truth: :func:`script` creates it if missing, deletes it and defines it again in one ``nft -f``
transaction (atomic: no packet sees a half-written table; stale chains cannot survive a change of this module, which
``flush table`` would leave), and names no other table. :func:`removal` deletes it, missing or not.

The policy is data (:class:`Policy`): :func:`render` writes it for nft, :func:`judge` evaluates it for a packet —
the table tests; tests/flannel/test_confinement_netns.py proves the kernel agrees.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from flannel_operator import key

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from operatorkit.platform import PlatformSettings

IPv4Network = ipaddress.IPv4Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Verdict = Literal["accept", "drop"]
Hook = Literal["input", "forward"]
Protocol = Literal["tcp", "udp"]

LEASE_VARIABLE = "lease"
"""Rendered without a lease, the rules name ``$lease``: the caller defines it (``define lease = 10.64.1.1/24``, the
``FLANNEL_SUBNET`` of flanneld's subnet file; nft keeps the prefix) before the rules, in the same ``nft -f`` input."""
NEVER_ROUTED = tuple(
    IPv4Network(net) for net in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)
"""Addresses no VM's packet may be routed to: this network, loopback, link-local (cloud metadata services live
there), multicast, reserved and broadcast."""
DNS_PORT, NTP_PORT = 53, 123
_VXLAN = re.compile(rf"^{re.escape(key.VXLAN_PREFIX)}[1-9][0-9]*$")


@dataclass(frozen=True)
class Rule:
    """One rule; it matches what comes in by the bridge (or ``iif``) and every condition given (an empty one is no
    condition)."""

    verdict: Verdict
    why: str
    """The rule's comment in ``nft list``: what it allows or refuses, for the admin who reviews the table."""
    iif: str | None = None
    """Where the packet comes in; None: the bridge."""
    ipv6: bool = False
    spoofed: bool = False
    """A source outside the lease."""
    established: bool = False
    oif: str | None = None
    protocol: Protocol | None = None
    daddr: tuple[IPv4Network, ...] = ()
    """The destination as the packet leaves (after DNAT)."""
    original_daddr: tuple[IPv4Network, ...] = ()
    """The destination as the VM sent it (before DNAT)."""
    original_dport: tuple[int, int] | None = None
    """The destination port as the VM sent it: the first and last of a range (the same for one port)."""


@dataclass(frozen=True)
class Policy:
    bridge: str
    lease: IPv4Network | None
    input: tuple[Rule, ...]
    forward: tuple[Rule, ...]

    @property
    def table(self) -> str:
        return key.confinement_table(self.bridge)


def _collapse(networks: Iterable[IPv4Network]) -> tuple[IPv4Network, ...]:
    return tuple(ipaddress.collapse_addresses(networks))


def closed_networks(plan: PlatformSettings) -> tuple[IPv4Network, ...]:
    """What no VM may reach beyond what is allowed explicitly: the mother's networks, both pools, and
    :data:`NEVER_ROUTED` — collapsed, so the rule shows the smallest list."""
    planned = [net for _, net in plan.mother_networks()] + [plan.pools.flannel, plan.pools.vpc]
    return _collapse([*planned, *NEVER_ROUTED])


def _host(address: ipaddress.IPv4Address) -> tuple[IPv4Network, ...]:
    return (IPv4Network(address),)


def policy(
    *,
    bridge: str,
    vxlan: str,
    network: IPv4Network,
    lease: IPv4Network | None,
    plan: PlatformSettings,
    dns: Sequence[Address] = (),
    ntp: Sequence[str] = (),
) -> Policy:
    """The confinement of ``bridge``'s VMs on a host whose lease (of the cluster's ``network``) is ``lease``
    (None: ``$lease``, see :data:`LEASE_VARIABLE`). DNS and NTP servers are opened by IPv4 address; an IPv6 one is
    moot (IPv6 is dropped) and an NTP server given by name is not opened (a rule cannot follow a name: nft would
    resolve it once, at load time) — it is reached only if it is outside."""
    key.confinement_table(bridge)  # the bridge's name is one
    if not _VXLAN.match(vxlan):
        raise ValueError(f"{vxlan!r} is not a flannel VXLAN device ({key.VXLAN_PREFIX}<VNI>)")
    if lease is not None and not lease.subnet_of(network):
        raise ValueError(f"the lease {lease} is not in the cluster's network {network}")
    endpoints = [
        Rule(
            "accept",
            f"platform endpoint {endpoint}",
            protocol=endpoint.protocol,
            original_daddr=_host(endpoint.address),
            original_dport=endpoint.ports,
        )
        for endpoint in plan.endpoints()
    ]
    dns4 = _collapse(IPv4Network(a) for a in dns if isinstance(a, ipaddress.IPv4Address))
    ntp4 = _collapse(IPv4Network(a) for a in _ipv4(ntp))
    declared = [
        *(
            Rule(
                "accept",
                f"declared DNS servers ({protocol})",
                protocol=protocol,
                original_daddr=dns4,
                original_dport=(DNS_PORT, DNS_PORT),
            )
            for protocol in ("udp", "tcp")
            if dns4
        ),
        *(
            [
                Rule(
                    "accept",
                    "declared NTP servers",
                    protocol="udp",
                    original_daddr=ntp4,
                    original_dport=(NTP_PORT, NTP_PORT),
                )
            ]
            if ntp4
            else []
        ),
    ]
    head = (
        Rule("drop", "IPv6: the guests' networks are IPv4 only", ipv6=True),
        Rule("drop", "a source outside this host's lease (spoofed)", spoofed=True),
        Rule("accept", "replies and errors of allowed connections or of the platform's", established=True),
    )
    closed = closed_networks(plan)
    forward = (
        *head,
        Rule("accept", "the same bridge: the cluster's VMs on this host", oif=bridge),
        Rule("accept", "the cluster's network on other hosts", oif=vxlan, daddr=(network,)),
        *endpoints,
        *declared,
        Rule("drop", "the platform's address plan, as it leaves", daddr=closed),
        Rule("drop", "the platform's address plan, as the VM sent it (before DNAT)", original_daddr=closed),
        Rule("accept", "the outside"),
    )
    inbound = (
        *head,
        *endpoints,
        *declared,
        Rule("drop", "the host's own addresses"),
        # A VM on another host reaches this host's bridge address through the VXLAN device, not the bridge.
        Rule("accept", "replies and errors, from the cluster's other hosts", iif=vxlan, established=True),
        Rule("drop", "the host's own addresses, from the cluster's VMs on other hosts", iif=vxlan),
    )
    return Policy(bridge=bridge, lease=lease, input=inbound, forward=forward)


def _ipv4(values: Iterable[str]) -> list[ipaddress.IPv4Address]:
    found = []
    for value in values:
        try:
            found.append(ipaddress.IPv4Address(value))
        except ValueError:
            continue  # a name, or an IPv6 address
    return found


def _set(networks: tuple[IPv4Network, ...]) -> str:
    items = [str(n.network_address) if n.prefixlen == 32 else str(n) for n in networks]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _rule(rule: Rule, policy: Policy) -> str:
    parts = [f'iifname "{rule.iif or policy.bridge}"']
    if rule.ipv6:
        parts.append("meta nfproto ipv6")
    if rule.spoofed:
        parts.append(f"ip saddr != {policy.lease if policy.lease is not None else '$' + LEASE_VARIABLE}")
    if rule.established:
        parts.append("ct state established,related")
    if rule.oif is not None:
        parts.append(f'oifname "{rule.oif}"')
    if rule.protocol is not None:
        parts.append(f"meta l4proto {rule.protocol}")
    if rule.daddr:
        parts.append(f"ip daddr {_set(rule.daddr)}")
    if rule.original_daddr:
        parts.append(f"ct original ip daddr {_set(rule.original_daddr)}")
    if rule.original_dport is not None:
        first, last = rule.original_dport
        parts.append(f"ct original proto-dst {first}" if first == last else f"ct original proto-dst {first}-{last}")
    parts += ["counter", rule.verdict, f'comment "{rule.why}"']
    return " ".join(parts)


def render(policy: Policy) -> str:
    """The table's definition, for ``nft -f``."""
    chains = []
    for hook, rules in (("input", policy.input), ("forward", policy.forward)):
        body = "\n".join(f"    {_rule(rule, policy)}" for rule in rules)
        chains.append(f"  chain {hook} {{\n    type filter hook {hook} priority filter; policy accept;\n{body}\n  }}\n")
    return f"table inet {policy.table} {{\n{''.join(chains)}}}\n"


def script(policy: Policy) -> str:
    """The whole table, replacing what is there in one transaction (``nft -f -``)."""
    table = policy.table
    return (
        f"# kubeception: what the VMs on {policy.bridge} may reach (flannel-operator); replaced as a whole.\n"
        f"table inet {table}\ndelete table inet {table}\n{render(policy)}"
    )


def removal(bridge: str) -> str:
    """Delete the bridge's table, whether or not it exists (``nft -f -``)."""
    table = key.confinement_table(bridge)
    return f"table inet {table}\ndelete table inet {table}\n"


@dataclass(frozen=True)
class Packet:
    """A packet that came in by the bridge (or ``iif``), as a hook sees it."""

    hook: Hook
    source: Address
    destination: Address
    """As it reaches the hook (after DNAT)."""
    protocol: Literal["tcp", "udp", "icmp"] = "tcp"
    port: int = 0
    """The destination port the VM sent to."""
    oif: str = ""
    """Where the forward hook sends it."""
    original: Address | None = None
    """The destination the VM sent to, when DNAT changed it."""
    established: bool = False
    iif: str | None = None
    """Where it came in; None: the bridge."""


def judge(policy: Policy, packet: Packet) -> tuple[Verdict, str]:
    """What the table does with ``packet``: the first matching rule's verdict and comment, else the chain's
    policy (accept: what comes in elsewhere is not this table's to judge)."""
    for rule in policy.input if packet.hook == "input" else policy.forward:
        if _matches(rule, packet, policy.lease):
            return rule.verdict, rule.why
    return "accept", "policy"


def _matches(rule: Rule, packet: Packet, lease: IPv4Network | None) -> bool:
    if rule.iif != packet.iif:
        return False
    ipv6 = packet.source.version == 6
    if rule.ipv6:
        return ipv6
    needs_ipv4 = rule.spoofed or bool(rule.daddr) or bool(rule.original_daddr)
    if needs_ipv4 and ipv6:
        return False
    if rule.spoofed:
        if lease is None:
            raise ValueError(f"a policy rendered for ${LEASE_VARIABLE} cannot judge a packet")
        if packet.source in lease:
            return False
    original = packet.original or packet.destination
    return (
        (not rule.established or packet.established)
        and (rule.oif is None or rule.oif == packet.oif)
        and (rule.protocol is None or rule.protocol == packet.protocol)
        and (not rule.daddr or any(packet.destination in net for net in rule.daddr))
        and (not rule.original_daddr or any(original in net for net in rule.original_daddr))
        and (rule.original_dport is None or rule.original_dport[0] <= packet.port <= rule.original_dport[1])
    )
