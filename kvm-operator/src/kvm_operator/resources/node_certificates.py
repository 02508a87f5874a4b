"""A client certificate per worker node (``CN=system:node:<node>``, ``O=system:nodes``: what the guest's Node
authorizer recognises), as CertConfig ``node-<node>`` in the control-plane namespace: issued by cert-operator from
the cluster's CA in Vault before the node's VM may start, stored in its Secret, revoked when the CertConfig goes —
once the node's VM is gone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guestkit import CERT_CONFIG
from kvm_operator import key
from kvm_operator.resources._object import WorkerObjects
from kvm_operator.resources._workers import node_count, pods, pool_specs, statefulsets

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object


def node_certificate(cluster: str, pool: str, node: str) -> Object:
    return {
        "apiVersion": CERT_CONFIG.api_version,
        "kind": CERT_CONFIG.kind,
        "metadata": {
            "name": key.node_certificate(node),
            "namespace": key.namespace(cluster),
            "labels": key.pool_labels(cluster, pool),
        },
        "spec": {"clusterID": cluster, "role": "node", "commonName": f"system:node:{node}"},
    }


class NodeCertificates(WorkerObjects):
    kind = CERT_CONFIG

    def desired(self, ctx: KVMContext, current: dict[str, Object]) -> dict[str, Object]:
        cluster = ctx.spec.cluster_id
        found: dict[str, Object] = {}
        for pool, spec in pool_specs(ctx).items():
            for n in range(node_count(ctx, pool, spec)):
                node = key.node_name(pool, n)
                found[key.node_certificate(node)] = node_certificate(cluster, pool, node)
        return found

    def may_delete(self, ctx: KVMContext, obj: Object) -> bool:
        """Only once the node's VM pod is gone and its StatefulSet will not bring it back."""
        pool = obj["metadata"]["labels"][key.POOL_LABEL]
        node = obj["metadata"]["name"].removeprefix("node-")
        workload = statefulsets(ctx).get(pool)
        kept = int((workload or {}).get("spec", {}).get("replicas", 0))
        return node not in pods(ctx).get(pool, {}) and key.ordinal(node) >= kept
