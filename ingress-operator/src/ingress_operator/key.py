"""Every name ingress-operator derives, in one place: backends, map files, labels."""

from __future__ import annotations

from typing import Literal

from operatorkit import CLUSTER_LABEL, MANAGED_BY_LABEL

MANAGER = "ingress-operator"
BACKEND_INDEX = "backend"
"""The cache index of IngressConfigs by the ``namespace/service`` of every backend they route to."""
BACKEND_NAMESPACE_INDEX = "backend-namespace"
"""The cache index of IngressConfigs by the namespaces their backends are in (whose cluster label is checked)."""
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""What ties an EndpointSlice to its Service."""

Mode = Literal["tls", "http"]


def backend(mode: Mode, slot: int) -> str:
    """The HAProxy backend of one slot: ``tls-7`` (TCP, TLS passed through) or ``http-3`` (HTTP)."""
    return f"{mode}-{slot}"


def parse_backend(name: str) -> tuple[Mode, int]:
    mode, _, slot = name.partition("-")
    if mode not in ("tls", "http"):
        raise ValueError(f"not a backend name: {name!r}")
    return ("tls" if mode == "tls" else "http"), int(slot)


def service_key(namespace: str, service: str) -> str:
    return f"{namespace}/{service}"


def table_labels() -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGER}


def cluster_labels(cluster_id: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster_id, MANAGED_BY_LABEL: MANAGER}


SERVICE_INDEX = "service"
"""The cache index of EndpointSlices by ``namespace/service``."""
