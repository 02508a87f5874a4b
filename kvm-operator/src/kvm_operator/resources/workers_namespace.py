"""The workers' namespace ``<clusterID>-workers``: the VM pods of every pool of the cluster, apart from its control
plane. Pod Security ``privileged`` — a VM pod makes a tap in its host's network namespace and opens /dev/kvm — so it
holds nothing else: no tenant writes to it, and the operator puts only its pools' StatefulSets and boot Secrets in
it. Created with the cluster (whether or not it has pools yet), deleted after its last VM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from kvm_operator.resources.namespace import tenant_labels
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object


class WorkersNamespace(ClusterObject):
    kind = NAMESPACE

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.name  # = spec.clusterID (the CRD says so); read at deletion too, when the spec may not validate
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": key.workers_namespace(cluster),
                "labels": {
                    **key.labels(cluster),
                    **(tenant_labels(ctx) if ctx.valid_spec is not None else {}),
                    "pod-security.kubernetes.io/enforce": "privileged",
                },
            },
        }
