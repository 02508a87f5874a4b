"""The platform's plan, one settings group every operator reads the same way: the base domains guests' names
derive from, and the address plan — the mother's own networks and the pools guests' networks come from.

Every chart takes it as the same ``platform`` values (one values file for all of them); the operator reads it
from ``--platform.*`` or, as one JSON document, from ``KUBECEPTION_PLATFORM`` (what ``make up`` exports for
operators run by hand). The checks are pure functions, so what a CRD promises the operators enforce the same way.

Which ranges must not overlap what, and why:

* **flannel networks** (KVM guests' VM networks) come from ``pools.flannel`` only and never overlap the mother's
  networks: their bridges and VXLAN routes live on the mother's hosts beside the routes to its pods, Services and
  nodes, and an overlap sends one of them to the wrong place.
* **AWS VPCs** come from ``pools.vpc`` only and never overlap the mother's networks: a guest VPC is peered with
  the mother's network, and peering needs distinct ranges on both sides. The two pools never overlap, so no VPC
  can overlap a KVM guest's network (both are routed where the mother routes) — whichever operator allocates
  first, and without either reading the other's objects.
* a KVM guest's **Service and pod ranges** live inside its VMs (the pod range on each VM's bridge): they may
  repeat across guests, but must not overlap the VM's own network (the flannel pool) or what the VM reaches
  through its gateway — HAProxy on a mother node, the mother's DNS Service — or the VM cannot reach them.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple

import pydantic

from operatorkit._core.vocabulary import DOMAIN, SettingsGroup

if TYPE_CHECKING:
    from collections.abc import Iterable

IPv4Network = ipaddress.IPv4Network


class MotherNetworks(SettingsGroup):
    """What the mother cluster's hosts route already."""

    pods: list[IPv4Network] = pydantic.Field(default_factory=list, max_length=32)
    """Its pod networks (the nodes' podCIDRs, the CNI's pool)."""
    services: list[IPv4Network] = pydantic.Field(default_factory=lambda: [IPv4Network("10.96.0.0/12")], max_length=8)
    """Its Service network(s) (kube-apiserver's ``--service-cluster-ip-range``; Kubernetes' default here)."""
    nodes: list[IPv4Network] = pydantic.Field(default_factory=list, max_length=32)
    """The networks its nodes' addresses are in (where HAProxy answers guests)."""


class Pools(SettingsGroup):
    """Where guests' networks come from; the two never overlap."""

    flannel: IPv4Network = IPv4Network("10.64.0.0/10")
    """KVM guests' VM networks (flannel-operator allocates here; a requested one must lie here too)."""
    vpc: IPv4Network = IPv4Network("10.128.0.0/9")
    """AWS guests' VPCs (aws-operator allocates here; a requested one must lie here too)."""


_GUEST_ENDPOINT = re.compile(
    r"^(?P<address>[0-9.]{7,15}):(?P<port>[0-9]{1,5})(-(?P<last>[0-9]{1,5}))?/(?P<protocol>tcp|udp)$"
)
GUEST_ENDPOINTS_MAX = 32
_NOT_ROUTED_TO_VMS = [IPv4Network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16")]


class GuestEndpoint(NamedTuple):
    """A platform endpoint a guest's VMs may reach through its bridge: an IPv4 unicast address, a port (or a range
    of them: the ingress's pool of per-route ports), a protocol."""

    address: ipaddress.IPv4Address
    port: int
    protocol: Literal["tcp", "udp"]
    last: int | None = None
    """The range's last port; None: ``port`` alone."""

    def __str__(self) -> str:
        ports = f"{self.port}-{self.last}" if self.last is not None else str(self.port)
        return f"{self.address}:{ports}/{self.protocol}"

    @property
    def ports(self) -> tuple[int, int]:
        """The first and last port (the same for one port)."""
        return self.port, self.last if self.last is not None else self.port

    @classmethod
    def parse(cls, text: str) -> GuestEndpoint:
        """``address:port/proto`` or ``address:first-last/proto`` (``10.213.7.1:443/tcp``,
        ``10.213.7.1:30000-30999/tcp``), or ValueError saying what is wrong."""
        match = _GUEST_ENDPOINT.match(text)
        if match is None:
            raise ValueError(
                f"{text[:40]!r} is not address:port/proto or address:first-last/proto "
                "(an IPv4 address, a port or a range of ports, tcp or udp)"
            )
        try:
            address = ipaddress.IPv4Address(match["address"])
        except ValueError as error:
            raise ValueError(f"{text!r}: {error}") from None
        port, last = int(match["port"]), int(match["last"]) if match["last"] else None
        if not 1 <= port <= 65535 or (last is not None and not 1 <= last <= 65535):
            raise ValueError(f"{text!r}: a port must be 1 to 65535")
        if last is not None and last <= port:
            raise ValueError(f"{text!r}: a range's last port must be above its first")
        if any(address in net for net in _NOT_ROUTED_TO_VMS) or address.is_multicast or address.is_reserved:
            raise ValueError(f"{text!r}: the address must be a unicast address a VM can be routed to")
        protocol: Literal["tcp", "udp"] = "tcp" if match["protocol"] == "tcp" else "udp"
        return cls(address, port, protocol, last)


def _guest_endpoint(value: str) -> str:
    return str(GuestEndpoint.parse(value))


class PlatformSettings(SettingsGroup):
    """The platform's plan: the same in every operator (chart values ``platform``)."""

    domains: list[str] = pydantic.Field(
        default_factory=lambda: ["kubeception.test", "aws.kubeception.test"], max_length=16
    )
    """Every base domain guests' names derive from (kvm- and ingress-operator's, aws-operator's): names under one
    belong to the cluster whose id is their first label below it, and no cluster may hold a base domain."""
    mother: MotherNetworks = MotherNetworks()
    pools: Pools = Pools()
    guest_endpoints: list[Annotated[str, pydantic.AfterValidator(_guest_endpoint)]] = pydantic.Field(
        default_factory=list, max_length=GUEST_ENDPOINTS_MAX
    )
    """The platform's endpoints guests' VMs may reach, ``address:port/proto`` (``10.213.7.1:443/tcp``) or
    ``address:first-last/proto`` (``10.213.7.1:30000-30999/tcp``): the ingress's API and apps ports and its pool of
    per-route ports (a guest's API or apps without SNI), the platform registry. Each is
    opened by address and port in every cluster's VM confinement (flannel-operator); everything else of the address
    plan stays closed to the VMs."""

    @pydantic.field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if len(d) > 200 or not re.match(DOMAIN, d)]
        if bad:
            raise ValueError(f"{bad}: base domains are lower-case DNS names with at least two labels")
        return value

    @pydantic.model_validator(mode="after")
    def _pools_apart(self) -> PlatformSettings:
        if self.pools.flannel.overlaps(self.pools.vpc):
            raise ValueError(f"pools.flannel {self.pools.flannel} overlaps pools.vpc {self.pools.vpc}")
        return self

    def with_domain(self, domain: str | None) -> list[str]:
        """The base domains, with an operator's own (its setting) counted even if the plan leaves it out."""
        return sorted({*self.domains, *([domain] if domain else [])})

    def endpoints(self) -> list[GuestEndpoint]:
        """:attr:`guest_endpoints`, parsed (validated already)."""
        return [GuestEndpoint.parse(text) for text in self.guest_endpoints]

    def mother_networks(self) -> list[tuple[str, IPv4Network]]:
        """The mother's networks, each with what it is (for messages)."""
        kinds = [
            ("pod", "pods", self.mother.pods),
            ("Service", "services", self.mother.services),
            ("node", "nodes", self.mother.nodes),
        ]
        return [
            (f"the mother cluster's {what} network {net} (platform.mother.{field})", net)
            for what, field, nets in kinds
            for net in nets
        ]


CONFINEMENT_PREFIX = "kubeception-"
IFNAME_MAX = 15
"""Linux's limit on an interface name (IFNAMSIZ 16, with the terminating NUL)."""
NFT_NAME_MAX = 255
"""nftables' limit on a table's name (NFT_NAME_MAXLEN 256, with the terminating NUL)."""


def confinement_table(bridge: str) -> str:
    """The nftables table (family ``inet``) confining the worker VMs on a cluster's ``bridge``:
    ``kubeception-<bridge>``. flannel-operator writes it on every host of the bridge; kvm-operator's launcher
    attaches no VM to a bridge without it — one derivation both read. It is an nft identifier as it stands (a letter
    first, then ``[A-Za-z0-9_./-]``: a bridge name is ``[A-Za-z0-9_.-]``) and at most 27 characters, far inside
    nft's limit."""
    if not 1 <= len(bridge) <= IFNAME_MAX or not re.fullmatch(r"[A-Za-z0-9_.-]+", bridge) or bridge in (".", ".."):
        raise ValueError(f"bridge {bridge[:40]!r}: not a Linux interface name (1 to {IFNAME_MAX} of [A-Za-z0-9_.-])")
    return f"{CONFINEMENT_PREFIX}{bridge}"


class AddressRefused(ValueError):
    """A network the plan does not allow; the message says which range it meets."""


def _first_overlap(network: IPv4Network, ranges: Iterable[tuple[str, IPv4Network]]) -> str | None:
    return next((what for what, net in ranges if network.overlaps(net)), None)


def check_flannel_network(network: IPv4Network, plan: PlatformSettings) -> None:
    """A KVM guest's VM network: clear of the mother's networks, inside the flannel pool."""
    if (what := _first_overlap(network, plan.mother_networks())) is not None:
        raise AddressRefused(f"network {network} overlaps {what}, which the mother's hosts route already")
    if network.overlaps(plan.pools.vpc):
        raise AddressRefused(
            f"network {network} overlaps the VPC pool {plan.pools.vpc} (platform.pools.vpc), where AWS guests' VPCs "
            "come from"
        )
    if not network.subnet_of(plan.pools.flannel):
        raise AddressRefused(
            f"network {network} lies outside the flannel pool {plan.pools.flannel} (platform.pools.flannel), where "
            "every KVM guest's network comes from — so no AWS guest's VPC can ever overlap it"
        )


def check_vpc(network: IPv4Network, plan: PlatformSettings) -> None:
    """An AWS guest's VPC: clear of the mother's networks (it is peered with them), inside the VPC pool."""
    if (what := _first_overlap(network, plan.mother_networks())) is not None:
        raise AddressRefused(f"vpcCIDR {network} overlaps {what}; a VPC peered with the mother needs its own range")
    if network.overlaps(plan.pools.flannel):
        raise AddressRefused(
            f"vpcCIDR {network} overlaps the flannel pool {plan.pools.flannel} (platform.pools.flannel), where KVM "
            "guests' networks come from"
        )
    if not network.subnet_of(plan.pools.vpc):
        raise AddressRefused(
            f"vpcCIDR {network} lies outside the VPC pool {plan.pools.vpc} (platform.pools.vpc), where every AWS "
            "guest's VPC comes from — so none can ever overlap a KVM guest's network"
        )


def check_guest_ranges(ranges: Iterable[tuple[str, IPv4Network]], plan: PlatformSettings) -> None:
    """A KVM guest's Service and pod ranges (``(field, network)``): inside its VMs, so they must not overlap the
    VMs' own networks (the flannel pool) nor the mother's, which the VMs reach through their gateway."""
    pool = plan.pools.flannel
    planned = [*plan.mother_networks(), (f"the flannel pool {pool} (platform.pools.flannel), the VMs' own", pool)]
    for field, network in ranges:
        if (what := _first_overlap(network, planned)) is not None:
            raise AddressRefused(
                f"{field} {network} overlaps {what}: the guest's VMs would route those addresses to their own pods "
                "or Services"
            )


def free_network(
    pool: IPv4Network, prefix: int, taken: Iterable[IPv4Network], plan: PlatformSettings
) -> IPv4Network | None:
    """The first /``prefix`` of ``pool`` overlapping neither ``taken`` nor the mother's networks."""
    blocked = [*taken, *(net for _, net in plan.mother_networks())]
    return next((net for net in pool.subnets(new_prefix=prefix) if not any(net.overlaps(b) for b in blocked)), None)
