"""Allocation logic (pure): unique VNIs, no overlapping networks, stable per owner, clear conflicts."""

from __future__ import annotations

import ipaddress
import re
import threading

import pytest

from flannel_operator.allocator import Allocation, AllocationConflict, Allocator, PoolExhausted

NET = ipaddress.IPv4Network


def test_allocations_are_unique_and_stable():
    allocator = Allocator(NET("10.64.0.0/14"), 16, (1000, 1010))
    first = allocator.allocate("a", None, None)
    second = allocator.allocate("b", None, None)
    assert first == Allocation(NET("10.64.0.0/16"), 1000)
    assert second == Allocation(NET("10.65.0.0/16"), 1001)
    assert allocator.allocate("a", None, None) == first, "asking again returns the same allocation"


def test_requested_values_are_checked_against_others():
    allocator = Allocator(NET("10.64.0.0/14"), 16, (1000, 1010))
    allocator.allocate("a", NET("10.200.0.0/16"), 5000)
    with pytest.raises(AllocationConflict, match=re.escape("overlaps 10.200.0.0/16 of cluster a")) as err:
        allocator.allocate("b", NET("10.200.128.0/17"), None)
    assert err.value.other == "a"
    with pytest.raises(AllocationConflict, match="VNI 5000 is used by cluster a"):
        allocator.allocate("c", None, 5000)
    # Free allocation skips what others requested outside the pool as well as inside it.
    allocator.allocate("d", NET("10.64.0.0/16"), None)
    assert allocator.allocate("e", None, None).network == NET("10.65.0.0/16")


def test_restored_allocations_are_respected():
    allocator = Allocator(NET("10.64.0.0/14"), 16, (1000, 1010))
    allocator.record("old", Allocation(NET("10.64.0.0/16"), 1000))
    assert allocator.allocate("new", None, None) == Allocation(NET("10.65.0.0/16"), 1001)


def test_exhaustion_is_reported():
    allocator = Allocator(NET("10.64.0.0/15"), 16, (1, 5))
    allocator.allocate("a", None, None)
    allocator.allocate("b", None, None)
    with pytest.raises(PoolExhausted, match=re.escape("no free /16 left in 10.64.0.0/15")):
        allocator.allocate("c", None, None)
    allocator.release("a")
    assert allocator.allocate("c", None, None).network == NET("10.64.0.0/16")


def test_concurrent_allocation_never_overlaps():
    allocator = Allocator(NET("10.0.0.0/8"), 20, (1, 100_000))
    results: dict[str, Allocation] = {}

    def take(owner: str) -> None:
        results[owner] = allocator.allocate(owner, None, None)

    threads = [threading.Thread(target=take, args=(f"c{i}",)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    networks = [a.network for a in results.values()]
    assert len({a.vni for a in results.values()}) == 200
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_pool_usage_metrics():
    from prometheus_client import REGISTRY

    from flannel_operator import metrics

    allocator = Allocator(NET("10.64.0.0/14"), 16, (1000, 1009))
    metrics.register(allocator)
    allocator.allocate("a", None, None)
    sample = REGISTRY.get_sample_value
    assert sample("kubeception_flannel_pool_used", {"pool": "network"}) == 1
    assert sample("kubeception_flannel_pool_size", {"pool": "network"}) == 4
    assert sample("kubeception_flannel_pool_size", {"pool": "vni"}) == 10


def test_health_ports_stay_valid_for_any_vni():
    from flannel_operator import key

    ports = {key.health_port(21000, vni) for vni in range(1000, 10000)}
    assert len(ports) == 9000, "distinct across the pool"
    assert max(key.health_port(21000, vni) for vni in (1, 39_999, 2**24 - 1)) < 65536
