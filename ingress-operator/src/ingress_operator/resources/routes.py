"""Put the cluster's routes into the routing table, with the ready endpoints of each backend Service as servers;
take them out on deletion (and wait until the table without them is written).

A backend Service must be in a namespace of the same cluster (label ``kubeception.io/cluster: <id>``): an
IngressConfig can never expose another cluster's Services. A backend with no ready endpoint keeps its route (its
hostnames answer again as soon as an endpoint is ready) and says so in ``BackendsReady``; one whose Service or port
does not exist says which (``NoService``, ``UnknownPort`` naming the Service's ports) and makes the IngressConfig
not Ready (Served), since nothing can answer until the spec or the Service changes.
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


class BackendMissing(Exception):
    """The backend names a Service or a Service port that does not exist: a mistake in the spec (or a Service not
    made yet), not an outage — the route cannot serve until one of them changes."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


BACKEND_MISSING = ("NoService", "UnknownPort")
"""BackendsReady reasons that make the IngressConfig not Ready (no ready endpoint does not: it is an outage the
route rides out, answering again as soon as an endpoint is ready)."""


def _describe(port: dict[str, Any]) -> str:
    name = f" ({port['name']})" if port.get("name") else ""
    return f"{port.get('port')}/{port.get('protocol') or 'TCP'}{name}"


def service_port(ctx: IngressContext, backend: Backend) -> str:
    """The name of the backend's Service port (EndpointSlices carry port names, not Service port numbers); raises
    :class:`BackendMissing` naming the Service's ports when it has no such port, or when the Service is missing."""
    service = ctx.cache(SERVICE).get_by_name(backend.service, backend.namespace)
    what = f"Service {backend.namespace}/{backend.service}"
    if service is None:
        raise BackendMissing("NoService", f"{what} does not exist")
    ports = service["spec"].get("ports", [])
    for port in ports:
        if backend.port in (port.get("port"), port.get("name")):
            return str(port.get("name") or "")
    kind = "named" if isinstance(backend.port, str) else "numbered"
    raise BackendMissing(
        "UnknownPort",
        f"{what} has no port {kind} {backend.port!r}; its ports: {', '.join(map(_describe, ports)) or 'none'}",
    )


def servers(ctx: IngressContext, backend: Backend) -> list[tuple[str, int]]:
    """Ready endpoints of the backend's Service port, sorted (stable slots in HAProxy); raises
    :class:`BackendMissing` when the Service or the port does not exist."""
    port_name = service_port(ctx, backend)
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
        for namespace in sorted({backend_of(spec, r.name).namespace for r in ctx.status.routes}):
            self._check_namespace(ctx, namespace)
        routes, problems, missing = [], [], []
        for recorded in ctx.status.routes:
            backend = backend_of(spec, recorded.name)
            try:
                ready = servers(ctx, backend)
            except BackendMissing as exc:
                ready = []
                missing.append(exc.reason)
                problems.append(f"{recorded.name}: {exc}")
            else:
                if not ready:
                    problems.append(
                        f"{recorded.name}: Service {backend.namespace}/{backend.service} port "
                        f"{backend.port} has no ready endpoint"
                    )
                elif len(ready) > limit:
                    problems.append(f"{recorded.name}: {len(ready)} ready endpoints, {limit} routed")
            recorded.endpoints = len(ready)
            routes.append(
                Route(
                    recorded.backend,
                    ctx.name,
                    key.parse_backend(recorded.backend)[0],
                    tuple(recorded.hostnames),
                    recorded.port,
                    tuple(ready[:limit]),
                )
            )
        ctx.status.revision = self.shared.table.set_routes(ctx.name, routes)
        if problems:
            ctx.set_condition("BackendsReady", "False", missing[0] if missing else "NoEndpoints", "; ".join(problems))
        else:
            counts = ", ".join(f"{r.name} {r.endpoints}" for r in ctx.status.routes)
            ctx.set_condition("BackendsReady", "True", "EndpointsReady", f"ready endpoints: {counts}")

    def ensure_deleted(self, ctx: IngressContext) -> None:
        """Take the cluster's routes out (the table is keyed by the IngressConfig's name, its cluster id: nobody
        else's), and wait until the table without them is written. One that never routed anything waits for
        nothing; a table that cannot be written is named in the condition, and the wait backs off."""
        revision = self.shared.table.remove(ctx.name)
        if self.shared.table.published < revision:
            why = f": {self.shared.table.error}" if self.shared.table.error else ""
            ctx.keep_finalizer(f"waiting for the routing table without this cluster (revision {revision}){why}")
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
