"""Where the guest's ``kubernetes`` Service leads: the platform's ingress, on the TCP port ingress-operator gave this
cluster's API (a route by port, for clients without SNI), instead of the API server pods' addresses on the mother,
which a worker VM may not reach. Pods use the Service as in any cluster (in-cluster config:
``https://<the Service's address>:443``; the serving certificate names that address); kube-proxy sends the
connection to the ingress, which passes TLS through to the API server replicas. HyperShift points it at a
node-local proxy; Kamaji and vCluster at their own front door — the same idea.

The API server keeps no endpoints for it (``--endpoint-reconciler-type=none``, see
:mod:`kvm_operator.resources.apiserver`), so the operator writes both: the EndpointSlice kube-proxy reads and the
Endpoints older clients read (marked for the mirroring controller to skip, as the API server marks its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator.addons import API_ENDPOINTS, Guest, Manifests, labels
from operatorkit.kinds import ENDPOINT_SLICE, ENDPOINTS

if TYPE_CHECKING:
    from operatorkit import Object

SERVICE = "kubernetes"
NAMESPACE = "default"
PORT_NAME = "https"  # the Service's port name (the API server makes the Service)
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"


def endpoint_slice(guest: Guest) -> Object:
    assert guest.api_frontend is not None
    address, port = guest.api_frontend
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": SERVICE,
            "namespace": NAMESPACE,
            "labels": {**labels(API_ENDPOINTS), "kubernetes.io/service-name": SERVICE},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [str(address)], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
    }


def endpoints(guest: Guest) -> Object:
    assert guest.api_frontend is not None
    address, port = guest.api_frontend
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {**labels(API_ENDPOINTS), SKIP_MIRROR: "true"}},
        "subsets": [
            {"addresses": [{"ip": str(address)}], "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]}
        ],
    }


def render(guest: Guest) -> Manifests:
    """Nothing while the ingress has given the API no port (or the operator knows no ingress address)."""
    if guest.api_frontend is None:
        return []
    return [(ENDPOINT_SLICE, endpoint_slice(guest)), (ENDPOINTS, endpoints(guest))]
