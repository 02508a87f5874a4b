"""Put the cluster's routes into the routing table, with the ready endpoints of each backend Service as servers;
take them out on deletion (and wait until the table without them is written).

A backend Service must be in a namespace of the same cluster (label ``kubeception.io/cluster: <id>``): an
IngressConfig can never expose another cluster's Services. A backend with no ready endpoint keeps its route (its
hostnames answer again as soon as an endpoint is ready) and says so in ``BackendsReady``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingress_operator import key
from ingress_operator.spec import IngressConfigSpec, IngressConfigStatus
from ingress_operator.table import Route
from operatorkit import CLUSTER_LABEL, Resource, TerminalError
from operatorkit.kinds import ENDPOINT_SLICE, NAMESPACE, SERVICE

if TYPE_CHECKING:
    from ingress_operator.shared import Shared
    from ingress_operator.spec import Backend, IngressContext


def backend_of(spec: IngressConfigSpec, route: str) -> Backend:
    if route == "api" and spec.api is not None:
        return spec.api.backend
    backend: Backend | None = None
    if spec.ingress is not None and route in ("http", "https"):
        backend = spec.ingress.http if route == "http" else spec.ingress.https
    if backend is None:
        raise KeyError(route)
    return backend


def backend_keys(obj: dict[str, Any]) -> list[str]:
    """Index function: every ``namespace/service`` an IngressConfig routes to."""
    spec = obj.get("spec") or {}
    backends = [(spec.get("api") or {}).get("backend")] + [
        (spec.get("ingress") or {}).get(name) for name in ("http", "https")
    ]
    return [key.service_key(str(b.get("namespace")), str(b.get("service"))) for b in backends if isinstance(b, dict)]


def backend_namespaces(obj: dict[str, Any]) -> list[str]:
    """Index function: the namespaces an IngressConfig's backends are in."""
    return sorted({service.partition("/")[0] for service in backend_keys(obj)})


def servers(ctx: IngressContext, backend: Backend) -> list[tuple[str, int]]:
    """Ready endpoints of the backend's Service port, sorted (stable slots in HAProxy)."""
    service = ctx.cache(SERVICE).get_by_name(backend.service, backend.namespace)
    if service is None:
        return []
    port_name: str | None = None
    for port in service["spec"].get("ports", []):
        if backend.port in (port.get("port"), port.get("name")):
            port_name = port.get("name") or ""
            break
    else:
        return []
    found: set[tuple[str, int]] = set()
    slices = ctx.cache(ENDPOINT_SLICE).by_index(key.SERVICE_INDEX, key.service_key(backend.namespace, backend.service))
    for endpoint_slice in slices:
        number = next(
            (p.get("port") for p in endpoint_slice.get("ports") or [] if (p.get("name") or "") == port_name), None
        )
        if number is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            found.update((address, int(number)) for address in endpoint.get("addresses", [])[:1])
    return sorted(found)


@dataclass
class Routes(Resource[IngressConfigSpec, IngressConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: IngressContext) -> None:
        spec, limit = ctx.spec, self.shared.settings.haproxy.servers_per_backend
        for namespace in sorted({backend_of(spec, r["name"]).namespace for r in ctx.status["routes"]}):
            self._check_namespace(ctx, namespace)
        routes, problems = [], []
        for recorded in ctx.status["routes"]:
            backend = backend_of(spec, recorded["name"])
            ready = servers(ctx, backend)
            recorded["endpoints"] = len(ready)
            if not ready:
                problems.append(
                    f"{recorded['name']}: Service {backend.namespace}/{backend.service} port "
                    f"{backend.port} has no ready endpoint"
                )
            elif len(ready) > limit:
                problems.append(f"{recorded['name']}: {len(ready)} ready endpoints, {limit} routed")
            routes.append(
                Route(
                    recorded["backend"],
                    ctx.name,
                    key.parse_backend(recorded["backend"])[0],
                    tuple(recorded["hostnames"]),
                    recorded["port"],
                    tuple(ready[:limit]),
                )
            )
        ctx.status["revision"] = self.shared.table.set_routes(ctx.name, routes)
        if problems:
            ctx.set_condition("BackendsReady", "False", "NoEndpoints", "; ".join(problems))
        else:
            counts = ", ".join(f"{r['name']} {r['endpoints']}" for r in ctx.status["routes"])
            ctx.set_condition("BackendsReady", "True", "EndpointsReady", f"ready endpoints: {counts}")

    def ensure_deleted(self, ctx: IngressContext) -> None:
        revision = self.shared.table.remove(ctx.name)
        if self.shared.table.published < revision:
            ctx.keep_finalizer(f"waiting for the routing table without this cluster (revision {revision})")
            ctx.requeue_after(0.2)

    def _check_namespace(self, ctx: IngressContext, namespace: str) -> None:
        """From the cache: a namespace labelled later reconciles this object (the controller watches them)."""
        obj = ctx.cache(NAMESPACE).get_by_name(namespace)
        cluster = None if obj is None else obj["metadata"].get("labels", {}).get(CLUSTER_LABEL)
        if cluster != ctx.spec.cluster_id:
            message = (
                f"backend namespace {namespace} does not exist"
                if obj is None
                else f"backend namespace {namespace} belongs to "
                + (f"cluster {cluster}" if cluster else "no cluster")
                + f" ({CLUSTER_LABEL}), not to {ctx.spec.cluster_id}: its Services are not routed"
            )
            ctx.set_condition("BackendsReady", "False", "ForeignNamespace", message)
            raise TerminalError(message, reason="ForeignNamespace")
