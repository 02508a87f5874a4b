"""The platform's plan as pure policy (table tests): which domains a cluster may hold and which networks a guest may
ask for. The claims themselves run against a real API server in the operators' suites."""

from __future__ import annotations

import ipaddress

import pydantic
import pytest

from operatorkit.platform import (
    GUEST_ENDPOINTS_MAX,
    AddressRefused,
    GuestEndpoint,
    NameRefused,
    PlatformSettings,
    check_domain,
    check_flannel_network,
    check_guest_ranges,
    check_vpc,
    cluster_domain,
    domains_for,
    free_network,
    minimal,
    overlaps,
)

NET = ipaddress.IPv4Network
BASES = ["kubeception.test", "aws.kubeception.test"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("c1.kubeception.test", "c1.kubeception.test", True),
        ("api.c1.kubeception.test", "c1.kubeception.test", True),  # a name inside a zone
        ("c1.kubeception.test", "api.c1.kubeception.test", True),
        ("c1.kubeception.test", "c2.kubeception.test", False),
        ("xc1.kubeception.test", "c1.kubeception.test", False),  # a suffix that is not a label
        ("aws.kubeception.test", "demo.aws.kubeception.test", True),  # the AWS guests' domain holds theirs
    ],
)
def test_domains_overlap_when_one_holds_the_other(a: str, b: str, expected: bool) -> None:
    assert overlaps(a, b) is expected


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("api.c1.kubeception.test", "c1.kubeception.test"),  # under a base: the cluster's zone
        ("*.c1.kubeception.test", "c1.kubeception.test"),
        ("api.x.aws.kubeception.test", "x.aws.kubeception.test"),  # the deepest base decides
        ("api.c1.example.org", "api.c1.example.org"),  # outside the bases: the name itself
        ("*.c1.example.org", "c1.example.org"),  # a wildcard: its parent (and any exact name under it)
    ],
)
def test_the_domain_claimed_for_a_name(name: str, domain: str) -> None:
    assert cluster_domain(name, BASES) == domain


@pytest.mark.parametrize(
    ("domain", "cluster", "refusal"),
    [
        ("c1.kubeception.test", "c1", None),
        ("demo.aws.kubeception.test", "demo", None),
        ("guest.example.org", "anyone", None),  # outside the bases: first come, first served (the claims)
        ("aws.kubeception.test", "aws", "is the base domain aws.kubeception.test"),  # a KVM guest called "aws"
        ("kubeception.test", "c1", "is the base domain kubeception.test"),
        ("test", "c1", "would hold the base domain"),
        (
            "demo.aws.kubeception.test",
            "thief",
            "belong to the cluster whose id is their first label there (cluster demo)",
        ),
        ("c2.kubeception.test", "c1", "(cluster c2), not to cluster c1"),
    ],
)
def test_which_domains_a_cluster_may_hold(domain: str, cluster: str, refusal: str | None) -> None:
    if refusal is None:
        check_domain(domain, cluster, BASES)
        return
    with pytest.raises(NameRefused, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        check_domain(domain, cluster, BASES)


def test_a_name_under_another_clusters_part_says_whose_it_is() -> None:
    with pytest.raises(NameRefused) as refused:
        domains_for(["api.demo-aws.aws.kubeception.test"], "aws", BASES)
    assert refused.value.belongs_to == "demo-aws.aws.kubeception.test"
    # A KVM guest called "aws": harmless where the plan knows no AWS base domain; where it does, its default API
    # hostname is the API name of AWS guest "api", and its zone the AWS guests' whole domain.
    assert domains_for(["api.aws.kubeception.test"], "aws", ["kubeception.test"]) == ["aws.kubeception.test"]
    with pytest.raises(NameRefused, match=r"\(cluster api\), not to cluster aws"):
        domains_for(["api.aws.kubeception.test"], "aws", BASES)
    with pytest.raises(NameRefused, match=r"is the base domain aws\.kubeception\.test"):
        domains_for(["*.aws.kubeception.test"], "aws", BASES)


def test_a_clusters_names_become_the_fewest_domains() -> None:
    names = ["api.c1.kubeception.test", "*.c1.kubeception.test", "app.c1.example.org", "*.c1.example.org"]
    assert domains_for(names, "c1", BASES) == ["c1.example.org", "c1.kubeception.test"]
    assert minimal(["a.b.c", "b.c", "x.y", "y.x"]) == ["b.c", "x.y", "y.x"]


PLAN = PlatformSettings.model_validate(
    {
        "mother": {"pods": ["10.244.0.0/16"], "services": ["10.96.0.0/16"], "nodes": ["10.213.5.0/24"]},
        "pools": {"flannel": "10.64.0.0/10", "vpc": "10.128.0.0/9"},
    }
)


@pytest.mark.parametrize(
    ("network", "refusal"),
    [
        ("10.70.0.0/18", None),
        ("10.96.0.0/20", "the mother cluster's Service network 10.96.0.0/16"),
        ("10.250.0.0/16", "overlaps the VPC pool 10.128.0.0/9"),  # an AWS guest's VPC one day
        ("192.168.0.0/24", "outside the flannel pool"),
    ],
)
def test_a_kvm_guests_network(network: str, refusal: str | None) -> None:
    if refusal is None:
        check_flannel_network(NET(network), PLAN)
        return
    with pytest.raises(AddressRefused, match=refusal):
        check_flannel_network(NET(network), PLAN)


@pytest.mark.parametrize(
    ("network", "refusal"),
    [
        ("10.130.0.0/16", None),
        ("10.64.0.0/16", "overlaps the flannel pool 10.64.0.0/10"),  # the KVM guests' networks
        ("10.96.0.0/16", "overlaps the mother cluster's Service network 10.96.0.0/16"),
        ("10.244.0.0/16", "the mother cluster's pod network 10.244.0.0/16"),  # inside the pool, the mother's pods
        ("10.0.0.0/16", "outside the VPC pool"),
    ],
)
def test_an_aws_guests_vpc(network: str, refusal: str | None) -> None:
    if refusal is None:
        check_vpc(NET(network), PLAN)
        return
    with pytest.raises(AddressRefused, match=refusal):
        check_vpc(NET(network), PLAN)


@pytest.mark.parametrize(
    ("service", "pods", "refusal"),
    [
        ("172.31.0.0/16", "172.30.0.0/16", None),  # the defaults
        ("10.96.0.0/16", "172.30.0.0/16", "network.serviceCIDR 10.96.0.0/16 overlaps the mother cluster's Service"),
        ("172.31.0.0/16", "10.64.0.0/16", "network.podCIDR 10.64.0.0/16 overlaps the flannel pool"),
        ("172.31.0.0/16", "10.213.0.0/16", "the mother cluster's node network"),  # where HAProxy answers
        ("172.31.0.0/16", "10.128.0.0/16", None),  # the VPC pool: never routed inside a KVM guest's VMs
    ],
)
def test_a_kvm_guests_service_and_pod_ranges(service: str, pods: str, refusal: str | None) -> None:
    ranges = [("network.serviceCIDR", NET(service)), ("network.podCIDR", NET(pods))]
    if refusal is None:
        check_guest_ranges(ranges, PLAN)
        return
    with pytest.raises(AddressRefused, match=refusal):
        check_guest_ranges(ranges, PLAN)


def test_allocation_skips_the_mothers_networks_and_what_is_taken() -> None:
    plan = PlatformSettings.model_validate({"mother": {"pods": ["10.128.0.0/16"], "services": []}})
    assert free_network(plan.pools.vpc, 16, [NET("10.129.0.0/16")], plan) == NET("10.130.0.0/16")
    assert free_network(NET("10.128.0.0/16"), 16, [], plan) is None


def test_the_pools_never_overlap() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"overlaps pools\.vpc"):
        PlatformSettings.model_validate({"pools": {"flannel": "10.0.0.0/8", "vpc": "10.128.0.0/9"}})
    with pytest.raises(pydantic.ValidationError, match="base domains"):
        PlatformSettings.model_validate({"domains": ["Not_A_Domain"]})


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("10.213.5.1:443/tcp", None),
        ("10.213.5.1:5000/tcp", None),
        ("192.0.2.53:53/udp", None),
        ("10.213.5.1:30000-30999/tcp", None),  # the ingress's pool of per-route ports
        ("10.213.5.1:30000-30000/tcp", "a range's last port must be above its first"),
        ("10.213.5.1:30999-30000/tcp", "a range's last port must be above its first"),
        ("10.213.5.1:30000-70000/tcp", "a port must be 1 to 65535"),
        ("10.213.5.1:30000-/tcp", "is not address:port/proto"),
        ("10.213.5.1:443", "is not address:port/proto"),
        ("10.213.5.1:443/sctp", "is not address:port/proto"),
        ("registry.kubeception.test:443/tcp", "is not address:port/proto"),  # by address: a rule cannot follow a name
        ("[fd00::1]:443/tcp", "is not address:port/proto"),  # IPv4 only: the VMs' IPv6 is dropped
        ("10.213.5.1:0/tcp", "a port must be 1 to 65535"),
        ("10.213.5.1:65536/tcp", "a port must be 1 to 65535"),
        ("10.213.5.300:443/tcp", "Octet 300"),
        ("127.0.0.1:443/tcp", "a unicast address a VM can be routed to"),
        ("169.254.169.254:80/tcp", "a unicast address a VM can be routed to"),  # a cloud's metadata service
        ("0.0.0.0:443/tcp", "a unicast address a VM can be routed to"),
        ("224.0.0.1:123/udp", "a unicast address a VM can be routed to"),
        ("255.255.255.255:67/udp", "a unicast address a VM can be routed to"),
        ("1" * 300, "is not address:port/proto"),
    ],
)
def test_a_guest_endpoint(text: str, refusal: str | None) -> None:
    if refusal is None:
        plan = PlatformSettings.model_validate({"guest_endpoints": [text]})
        assert [str(e) for e in plan.endpoints()] == [text]
        return
    with pytest.raises(pydantic.ValidationError, match=refusal):
        PlatformSettings.model_validate({"guest_endpoints": [text]})


def test_guest_endpoints_are_bounded() -> None:
    many = [f"10.213.5.1:{port}/tcp" for port in range(1, GUEST_ENDPOINTS_MAX + 2)]
    with pytest.raises(pydantic.ValidationError, match=f"at most {GUEST_ENDPOINTS_MAX} items"):
        PlatformSettings.model_validate({"guest_endpoints": many})
    assert GuestEndpoint.parse("10.213.5.1:443/tcp") == (ipaddress.IPv4Address("10.213.5.1"), 443, "tcp", None)
    assert GuestEndpoint.parse("10.213.5.1:30000-30999/tcp").ports == (30000, 30999)
