"""Claim the cluster's hostnames, backend slots and frontend ports and record them in status; release them last.

Hostnames must lie under ``<clusterID>.<base domain>`` when a base domain is set, so no cluster can take another's
names; without one, the first cluster to claim a name keeps it and the other is refused naming it. Across kinds,
their domains are claimed too (``DomainClaim``, :mod:`operatorkit.platform`) before anything is routed: a name
inside an AWS guest's zone or another KVM guest's domain, or one holding a base domain, is ``Claimed=False``
naming the holder. A claim the cluster's KVMConfig made for its API hostname is the cluster's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingress_operator import key
from ingress_operator.claims import Clash, Held, PoolExhausted, Want
from ingress_operator.spec import IngressConfigSpec, IngressConfigStatus, RouteStatus
from operatorkit import ReconcileError, Resource, TerminalError
from operatorkit.platform import NameClash, NameRefused, claim_names, release_domains

if TYPE_CHECKING:
    from ingress_operator.settings import RoutingSettings
    from ingress_operator.shared import Shared
    from ingress_operator.spec import IngressContext


def wanted_routes(spec: IngressConfigSpec, routing: RoutingSettings) -> dict[str, Want]:
    """The routes a spec asks for, with default hostnames filled in; raises ValueError for names it may not use."""
    zone = f"{spec.cluster_id}.{routing.base_domain}" if routing.base_domain else None
    wanted: dict[str, Want] = {}
    if spec.api is not None:
        names = spec.api.hostnames or ([f"api.{zone}"] if zone else [])
        wanted["api"] = Want("tls", tuple(names), spec.api.frontend_port)
    if spec.ingress is not None:
        names = spec.ingress.hostnames or ([f"*.{zone}"] if zone else [])
        if spec.ingress.https is not None:
            wanted["https"] = Want("tls", tuple(names), spec.ingress.frontend_ports)
        if spec.ingress.http is not None:
            wanted["http"] = Want("http", tuple(names), spec.ingress.frontend_ports)
    for route, want in wanted.items():
        if not want.hostnames and not want.port:
            raise ValueError(f"route {route} has no hostname and no frontend port: nothing would lead to it")
        for name in want.hostnames:
            bare = name.removeprefix("*.")
            if zone is not None and bare != zone and not bare.endswith(f".{zone}"):
                raise ValueError(f"hostname {name} is outside the cluster's domain {zone}")
    if (
        "api" in wanted
        and "https" in wanted
        and (shared := set(wanted["api"].hostnames) & set(wanted["https"].hostnames))
    ):
        raise ValueError(f"hostnames {sorted(shared)} are both the API's and the ingress's (both are TLS by SNI)")
    return wanted


def recorded_claims(status: IngressConfigStatus) -> tuple[dict[str, Held], set[str]]:
    routes: dict[str, Held] = {route.name: Held(route.backend, route.port) for route in status.routes}
    return routes, {name for route in status.routes for name in route.hostnames}


@dataclass
class RouteClaims(Resource[IngressConfigSpec, IngressConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: IngressContext) -> None:
        spec, claims = ctx.spec, self.shared.claims
        if spec.cluster_id != ctx.name:  # the CRD refuses this; an older CRD might not have
            raise TerminalError(f"spec.clusterID {spec.cluster_id!r} must equal metadata.name", reason="InvalidSpec")
        claims.record(ctx.name, *recorded_claims(ctx.recorded))
        try:
            wanted = wanted_routes(spec, self.shared.settings.routing)
        except ValueError as exc:
            ctx.set_condition("Claimed", "False", "InvalidHostname", str(exc))
            raise TerminalError(str(exc), reason="InvalidHostname") from exc
        routing = self.shared.settings.routing
        try:
            domains = claim_names(
                ctx,
                [name for want in wanted.values() for name in want.hostnames],
                cluster=spec.cluster_id,
                bases=self.shared.settings.platform.with_domain(routing.base_domain),
                labels=key.cluster_labels(spec.cluster_id),
            )
        except (NameRefused, NameClash) as exc:
            ctx.set_condition("Claimed", "False", exc.reason, str(exc))
            raise
        try:
            held = claims.claim(ctx.name, wanted)
        except Clash as exc:
            ctx.set_condition("Claimed", "False", "Clash", str(exc))
            raise ReconcileError(str(exc), reason="Clash") from exc  # retried: the other may let go
        except PoolExhausted as exc:
            ctx.set_condition("Claimed", "False", "PoolExhausted", str(exc))
            raise ReconcileError(str(exc), reason="PoolExhausted") from exc
        previous = {route.name: route for route in ctx.recorded.routes}
        ctx.status.cluster_id = spec.cluster_id
        ctx.status.routes = [
            RouteStatus(
                name=name,
                backend=held[name].backend,
                hostnames=list(want.hostnames),
                port=held[name].port,
                endpoints=previous[name].endpoints if name in previous else 0,
            )
            for name, want in wanted.items()
        ]
        release_domains(ctx, spec.cluster_id, keep=domains)  # names no longer wanted
        ports = [f"{name} {h.port}" for name, h in held.items() if h.port is not None]
        ctx.set_condition(
            "Claimed", "True", "Claimed", f"{len(held)} routes" + (f"; ports: {', '.join(ports)}" if ports else "")
        )

    def ensure_deleted(self, ctx: IngressContext) -> None:
        self.shared.claims.release(ctx.name)  # names are cluster ids: the claims are this object's
        release_domains(ctx, ctx.name)  # the routes are out of the table: nothing routes the names any more
