"""Allocation logic (pure): unique VNIs, no overlapping networks, stable per owner, clear conflicts."""

from __future__ import annotations

import ipaddress
import re
import threading

import pytest

from flannel_operator.allocator import (
    Allocation,
    AllocationConflict,
    AllocationImmutable,
    Allocator,
    NetworkReserved,
    PoolExhausted,
    Request,
)

NET = ipaddress.IPv4Network


def pool(vnis: tuple[int, int] = (1000, 1010), net: str = "10.64.0.0/14", prefix: int = 16) -> Allocator:
    return Allocator(NET(net), prefix, vnis, 21000)


def ask(bridge: str, network: str | None = None, vni: int | None = None) -> Request:
    return Request(NET(network) if network else None, vni, bridge)


def test_allocations_are_unique_and_stable():
    allocator = pool()
    first = allocator.allocate("a", ask("br-a"))
    second = allocator.allocate("b", ask("br-b"))
    assert first == Allocation(NET("10.64.0.0/16"), 1000, "br-a", 21000 + 1000)
    assert second == Allocation(NET("10.65.0.0/16"), 1001, "br-b", 21000 + 1001)
    assert allocator.allocate("a", ask("br-a")) == first, "asking again returns the same allocation"


def test_requested_values_are_checked_against_others():
    allocator = pool()
    allocator.allocate("a", ask("br-a", "10.200.0.0/16", 5000))
    with pytest.raises(AllocationConflict, match=re.escape("overlaps 10.200.0.0/16 of cluster a")) as err:
        allocator.allocate("b", ask("br-b", "10.200.128.0/17"))
    assert err.value.other == "a"
    with pytest.raises(AllocationConflict, match="VNI 5000 is used by cluster a"):
        allocator.allocate("c", ask("br-c", vni=5000))
    with pytest.raises(AllocationConflict, match="bridge br-a is used by cluster a"):
        allocator.allocate("c", ask("br-a"))
    # Free allocation skips what others requested outside the pool as well as inside it.
    allocator.allocate("d", ask("br-d", "10.64.0.0/16"))
    assert allocator.allocate("e", ask("br-e")).network == NET("10.65.0.0/16")


def test_what_was_allocated_never_changes():
    allocator = pool()
    allocator.allocate("a", ask("br-a"))
    for request, what in (
        (ask("br-a", "10.66.0.0/16"), "network 10.64.0.0/16"),
        (ask("br-a", vni=1005), "VNI 1000"),
        (ask("br-x"), "bridge br-a"),
    ):
        with pytest.raises(AllocationImmutable, match=re.escape(what)):
            allocator.allocate("a", request)
    assert allocator.allocate("a", ask("br-a", "10.64.0.0/16", 1000)).vni == 1000, "restating it is fine"


def test_health_ports_are_distinct_even_for_vnis_that_map_to_one_port():
    allocator = pool((1, 2**24 - 1))
    first = allocator.allocate("a", ask("br-a", vni=7))
    second = allocator.allocate("b", ask("br-b", vni=40_007))
    assert first.health_port == 21007
    assert second.health_port != first.health_port
    assert max(a.health_port for a in (first, second)) < 65536


def test_default_bridge_names_never_collide_through_truncation():
    from flannel_operator import key

    ids = ["production-eu-west-1", "production-eu-west-2", "production", "a", "x" * 40]
    names = [key.default_bridge(i) for i in ids]
    assert len(set(names)) == len(ids), names
    assert all(len(n) <= 15 for n in names)
    assert key.default_bridge("short") == "br-short"


def test_restored_allocations_are_respected():
    allocator = pool()
    allocator.record("old", Allocation(NET("10.64.0.0/16"), 1000, "br-old", 22000))
    assert allocator.allocate("new", ask("br-new")) == Allocation(NET("10.65.0.0/16"), 1001, "br-new", 22001)


def test_restored_allocations_that_clash_are_refused():
    allocator = pool()
    allocator.record("one", Allocation(NET("10.64.0.0/16"), 1000, "br-x", 22000))
    allocator.record("two", Allocation(NET("10.65.0.0/16"), 1001, "br-x", 22001))
    with pytest.raises(AllocationConflict, match="bridge br-x is used by cluster two"):
        allocator.allocate("one", ask("br-x"))


def test_exhaustion_is_reported():
    allocator = pool((1, 5), "10.64.0.0/15")
    allocator.allocate("a", ask("br-a"))
    allocator.allocate("b", ask("br-b"))
    with pytest.raises(PoolExhausted, match=re.escape("no free /16 left in 10.64.0.0/15")):
        allocator.allocate("c", ask("br-c"))
    allocator.release("a")
    assert allocator.allocate("c", ask("br-c")).network == NET("10.64.0.0/16")


def test_concurrent_allocation_never_overlaps():
    allocator = pool((1, 100_000), "10.0.0.0/8", 20)
    results: dict[str, Allocation] = {}

    def take(owner: str) -> None:
        results[owner] = allocator.allocate(owner, ask(f"br-{owner}"))

    threads = [threading.Thread(target=take, args=(f"c{i}",)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    networks = [a.network for a in results.values()]
    assert len({a.vni for a in results.values()}) == 200
    assert len({a.health_port for a in results.values()}) == 200
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_pool_usage_metrics():
    from prometheus_client import REGISTRY

    from flannel_operator import metrics

    allocator = Allocator(NET("10.64.0.0/14"), 16, (1000, 1009), 21000)
    metrics.register(allocator)
    allocator.allocate("a", ask("br-a"))
    sample = REGISTRY.get_sample_value
    assert sample("kubeception_flannel_pool_used", {"pool": "network"}) == 1
    assert sample("kubeception_flannel_pool_size", {"pool": "network"}) == 4
    assert sample("kubeception_flannel_pool_size", {"pool": "vni"}) == 10


def test_health_ports_stay_valid_for_any_vni():
    from flannel_operator import key

    ports = {key.health_port(21000, vni) for vni in range(1000, 10000)}
    assert len(ports) == 9000, "distinct across the pool"
    assert max(key.health_port(21000, vni) for vni in (1, 39_999, 2**24 - 1)) < 65536


def test_reserved_ranges_are_never_allocated_nor_granted():
    allocator = Allocator(NET("10.64.0.0/10"), 12, (1000, 1010), 21000, reserved=(NET("10.96.0.0/12"),))
    networks = [allocator.allocate(f"c{i}", ask(f"br-{i}")).network for i in range(3)]
    assert networks == [NET("10.64.0.0/12"), NET("10.80.0.0/12"), NET("10.112.0.0/12")]  # 10.96/12 skipped
    with pytest.raises(NetworkReserved, match=r"overlaps 10\.96\.0\.0/12"):
        allocator.allocate("d", ask("br-d", network="10.100.0.0/16"))
    with pytest.raises(PoolExhausted):
        allocator.allocate("e", ask("br-e"))


def test_interface_names_that_cannot_exist_are_refused_by_the_spec_model():
    """Issue 29, finding 5: VNI 10,000,000 named the VXLAN device flannel.10000000 (16 characters); flanneld crash-
    looped. Every name the network puts on a host — bridge, VXLAN device, (kvm-operator's) VM taps — fits Linux's
    15 characters and is no other device's name."""
    import pydantic

    from flannel_operator import key
    from flannel_operator.settings import AllocationSettings
    from flannel_operator.spec import FlannelConfigSpec

    def spec(**fields: object) -> FlannelConfigSpec:
        return FlannelConfigSpec.model_validate({"clusterID": "c1", **fields})

    assert key.VNI_MAX == 9_999_999
    assert len(key.vxlan_device(key.VNI_MAX)) == key.IFNAME_MAX
    assert spec(vni=key.VNI_MAX).vni == key.VNI_MAX
    for vni in (10_000_000, 2**24 - 1):
        with pytest.raises(pydantic.ValidationError, match=rf"flannel\.{vni}, longer than Linux's 15 characters"):
            spec(vni=vni)
    with pytest.raises(pydantic.ValidationError):
        AllocationSettings(vni_max=10_000_000)
    for bridge, why in (
        (".", "not '.'"),
        ("..", "not '.'"),
        ("a" * 16, "1 to 15"),
        ("flannel.4242", "VXLAN devices"),
        ("vm0123456789", "taps"),
    ):
        with pytest.raises(pydantic.ValidationError, match=re.escape(why)):
            spec(bridgeName=bridge)
    assert spec(bridgeName="br-vm01").bridge == "br-vm01"
    for cluster in ("c1", "a" * 40, "flannel"):
        assert key.interface_name_problem(key.default_bridge(cluster)) is None
