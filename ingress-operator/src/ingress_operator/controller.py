"""The IngressConfig controller: claim → routes → served (deletion: take the routes out, then release the claims).

Backend Services and their EndpointSlices are watched: a guest API replica coming or going reconciles every
IngressConfig routing to that Service, which rewrites its servers in the table — a runtime update in HAProxy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pydantic

from ingress_operator import key, metrics
from ingress_operator.agents import Agents
from ingress_operator.claims import Claims
from ingress_operator.resources.claim import RouteClaims, recorded_claims
from ingress_operator.resources.routes import Routes, backend_keys, backend_namespaces
from ingress_operator.resources.served import Served
from ingress_operator.shared import Shared
from ingress_operator.spec import INGRESS_CONFIG, IngressConfigSpec, IngressConfigStatus
from ingress_operator.table import RoutingTable
from operatorkit import Controller, Index, KubeClient, Watch, by_label, object_key
from operatorkit.kinds import ENDPOINT_SLICE, NAMESPACE, SERVICE
from operatorkit.platform import DOMAIN_CLAIM, DOMAIN_CLAIM_INDEX

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ingress_operator.settings import IngressSettings
    from operatorkit import CacheReader, Object

log = logging.getLogger(__name__)


def routing_to_service(obj: Object, primaries: CacheReader) -> list[str]:
    """Keys of the IngressConfigs routing to this Service (or to the Service of this EndpointSlice)."""
    meta = obj["metadata"]
    service = meta.get("labels", {}).get(key.SERVICE_NAME_LABEL) if obj.get("kind") == "EndpointSlice" else None
    name = service or meta["name"]
    return [object_key(c) for c in primaries.by_index(key.BACKEND_INDEX, key.service_key(meta["namespace"], name))]


def routing_into_namespace(obj: Object, primaries: CacheReader) -> list[str]:
    """Keys of the IngressConfigs with a backend in this namespace: its cluster label decides whether they route."""
    return [object_key(c) for c in primaries.by_index(key.BACKEND_NAMESPACE_INDEX, obj["metadata"]["name"])]


def ingress_controller(shared: Shared) -> Controller[IngressConfigSpec, IngressConfigStatus]:
    return Controller(
        name="ingressconfig",
        kind=INGRESS_CONFIG,
        spec_model=IngressConfigSpec,
        status_model=IngressConfigStatus,
        resources=[RouteClaims(shared), Routes(shared), Served(shared)],
        owns=[DOMAIN_CLAIM],  # every claim, not only its own: the cluster's KVMConfig's claim is read, not listed
        watches=[
            Watch(SERVICE, routing_to_service),
            Watch(ENDPOINT_SLICE, routing_to_service),
            Watch(NAMESPACE, routing_into_namespace),
        ],
        indexes=[
            DOMAIN_CLAIM_INDEX,
            Index(INGRESS_CONFIG, key.BACKEND_INDEX, backend_keys),
            Index(INGRESS_CONFIG, key.BACKEND_NAMESPACE_INDEX, backend_namespaces),
            Index(ENDPOINT_SLICE, key.SERVICE_INDEX, endpoint_slice_service),
        ],
        before_start=lambda configs: start(shared, configs),
    )


def endpoint_slice_service(obj: Object) -> list[str]:
    service = by_label(key.SERVICE_NAME_LABEL)(obj)
    return [key.service_key(obj["metadata"]["namespace"], name) for name in service]


def start(shared: Shared, configs: Sequence[Object]) -> None:
    """Before any reconcile: rebuild the claims from recorded statuses (oldest first), load the published table,
    start publishing."""
    restored = 0
    for config in sorted(configs, key=lambda c: c["metadata"].get("creationTimestamp", "")):
        try:
            status = IngressConfigStatus.model_validate(config.get("status") or {})
        except pydantic.ValidationError:
            log.warning("IngressConfig %s: unreadable status, claims not restored", config["metadata"]["name"])
            continue
        if status.routes:
            shared.claims.record(config["metadata"]["name"], *recorded_claims(status))
            restored += 1
    shared.table.load({c["metadata"]["name"] for c in configs})
    shared.table.start()
    log.info("restored the claims of %d IngressConfigs; routing table at revision %d", restored, shared.table.published)


def shared_parts(settings: IngressSettings, kube: KubeClient | None = None) -> Shared:
    ports = (settings.ports.min, settings.ports.max)
    if ports[0] > ports[1]:
        raise ValueError(f"ports.min {ports[0]} is above ports.max {ports[1]}")
    table = RoutingTable(kube or KubeClient.load(settings.kubeconfig), settings)
    return Shared(settings, Claims(ports), table, Agents(settings.agents))


def build(settings: IngressSettings) -> Sequence[Controller[IngressConfigSpec, IngressConfigStatus]]:
    shared = shared_parts(settings)
    metrics.register(shared)
    return [ingress_controller(shared)]
