"""The cluster's network and API endpoint, reconciled by flannel-operator and ingress-operator: a FlannelConfig
(the VXLAN network the worker VMs sit on; network and VNI allocated there when the spec leaves them empty) and an
IngressConfig routing ``api.<cluster>.<base domain>`` by SNI to the control plane's ``apiserver`` Service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from kvm_operator.shared import FLANNEL_CONFIG, INGRESS_CONFIG

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object


class ClusterNetwork(ClusterObject):
    kind = FLANNEL_CONFIG

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster, network = ctx.spec.cluster_id, ctx.spec.network
        spec: dict[str, Any] = {"clusterID": cluster}
        if network.cidr is not None:
            spec["network"] = str(network.cidr)
        if network.vni is not None:
            spec["vni"] = network.vni
        if servers := self.shared.dns_servers(ctx.spec):  # the VMs' resolvers, opened to them (issue 23's table)
            spec["dns"] = {"servers": [str(s) for s in servers]}
        return {
            "apiVersion": FLANNEL_CONFIG.api_version,
            "kind": FLANNEL_CONFIG.kind,
            "metadata": {"name": cluster, "labels": key.labels(cluster)},
            "spec": spec,
        }


class APIEndpoint(ClusterObject):
    kind = INGRESS_CONFIG

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": INGRESS_CONFIG.api_version,
            "kind": INGRESS_CONFIG.kind,
            "metadata": {"name": cluster, "labels": key.labels(cluster)},
            "spec": {
                "clusterID": cluster,
                "api": {
                    "hostnames": [self.shared.api_hostname(ctx.spec)],
                    "backend": {"service": key.APISERVER, "namespace": key.namespace(cluster), "port": 443},
                },
            },
        }
