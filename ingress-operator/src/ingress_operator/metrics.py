"""The operator's own series: routes in the table, its revisions, the frontend port pool, routes agents refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from ingress_operator.shared import Shared

routes = Gauge("kubeception_ingress_routes", "Routes in the routing table")
table_revision = Gauge("kubeception_ingress_table_revision", "Routing table revision last written")
port_pool_used = Gauge("kubeception_ingress_ports_used", "Frontend ports allocated from the pool")
port_pool_size = Gauge("kubeception_ingress_ports_size", "Size of the frontend port pool")
route_failures = Counter("kubeception_ingress_route_failures", "Reconciles that found a route an agent refused")


def register(shared: Shared) -> None:
    """Gauges read the table and the claims at scrape time."""
    routes.set_function(shared.table.count)
    table_revision.set_function(lambda: shared.table.published)
    port_pool_used.set_function(lambda: shared.claims.usage()[0])
    port_pool_size.set_function(lambda: shared.claims.usage()[1])
