"""Ready means served: every HAProxy agent has applied a table revision holding this cluster's routes, and none
reports one of them failed (a configuration HAProxy refused, a port it could not bind) — and every backend names a
Service port that exists: a route to a missing Service or port can never answer (``NoService``, ``UnknownPort``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingress_operator import metrics
from ingress_operator.resources.routes import BACKEND_MISSING
from ingress_operator.spec import IngressConfigSpec, IngressConfigStatus
from operatorkit import READY, Resource, get_condition, required
from operatorkit.kinds import ENDPOINT_SLICE

if TYPE_CHECKING:
    from ingress_operator.shared import Shared
    from ingress_operator.spec import IngressContext

WAIT = 0.25
"""Seconds between looks while agents catch up (the per-object rate limit still applies)."""
RECHECK_REFUSED = 30.0


def user_endpoints(ctx: IngressContext, shared: Shared) -> list[str]:
    routing, urls = shared.settings.routing, list[str]()
    for route in ctx.status.routes:
        scheme = "http" if route.name == "http" else "https"
        port = routing.http_port if scheme == "http" else routing.tls_port
        default = 80 if scheme == "http" else 443
        urls.extend(f"{scheme}://{name}{'' if port == default else f':{port}'}" for name in route.hostnames)
        if route.port is not None and routing.public_host:
            urls.append(f"tcp://{routing.public_host}:{route.port}")
    return urls


@dataclass
class Served(Resource[IngressConfigSpec, IngressConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: IngressContext) -> None:
        ctx.status.endpoints = user_endpoints(ctx, self.shared)
        backends_ready = get_condition(ctx.status, "BackendsReady") or {}
        if backends_ready.get("status") == "False" and backends_ready.get("reason") in BACKEND_MISSING:
            # The route is in the table, but nothing can answer it until the spec or the Service changes (the
            # controller watches the Service): not Ready, in the words of BackendsReady.
            reason, message = str(backends_ready["reason"]), str(backends_ready.get("message") or "")
            ctx.set_condition(READY, "False", reason, message)
            return
        revision = required(ctx.status.revision, "revision")
        if self.shared.table.error:
            ctx.set_condition(READY, "False", "TableNotWritten", self.shared.table.error)
            ctx.requeue_after(5)
            return
        slices = ctx.cache(ENDPOINT_SLICE) if self.shared.settings.agents.service else None
        urls = self.shared.agents.urls(slices)
        if not urls:
            ctx.set_condition(READY, "False", "NoAgents", "no HAProxy agent is configured or ready")
            ctx.requeue_after(5)
            return
        statuses = self.shared.agents.statuses(urls)
        backends = {route.backend for route in ctx.status.routes}
        for status in statuses:
            failed = {b: why for b, why in status.failed.items() if b in backends}
            if status.revision >= revision and failed:
                message = "; ".join(f"{b}: {why}" for b, why in sorted(failed.items()))
                ctx.set_condition(READY, "False", "NotServed", f"agent {status.url}: {message}")
                metrics.route_failures.inc()
                ctx.requeue_after(RECHECK_REFUSED)  # the agent retries; look again
                return
        behind = [s for s in statuses if s.revision < revision]
        if behind:
            first = behind[0]
            why = first.error or f"at revision {first.revision}"
            ctx.set_condition(
                READY,
                "False",
                "Propagating",
                f"{len(behind)} of {len(statuses)} agents have not applied revision {revision}: {first.url} {why}",
            )
            ctx.requeue_after(WAIT if first.error is None else 5)
            return
        ctx.set_condition(
            READY,
            "True",
            "Served",
            f"{len(ctx.status.routes)} routes served by {len(statuses)} agents at revision {revision}",
        )
