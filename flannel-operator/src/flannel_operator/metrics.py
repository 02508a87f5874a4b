"""Allocation pool usage, so an alert fires before the pool runs out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Gauge

if TYPE_CHECKING:
    from flannel_operator.allocator import Allocator

pool_used = Gauge("kubeception_flannel_pool_used", "Allocated items of the flannel pool", ["pool"])
pool_size = Gauge("kubeception_flannel_pool_size", "Size of the flannel pool", ["pool"])


def register(allocator: Allocator) -> None:
    """Gauges read the allocator at scrape time."""
    pool_used.labels("network").set_function(lambda: allocator.usage()[0])
    pool_size.labels("network").set_function(lambda: allocator.usage()[1])
    pool_used.labels("vni").set_function(lambda: allocator.usage()[2])
    pool_size.labels("vni").set_function(lambda: allocator.usage()[3])
