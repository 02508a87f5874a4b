"""A control-plane workload (etcd's StatefulSet, a component's Deployment): its version follows the upgrade order
of :mod:`kvm_operator.versions`, recorded in an annotation the order reads back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key, versions
from kvm_operator.resources._object import ClusterObject
from operatorkit.kinds import DEPLOYMENT, STATEFUL_SET

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object


def workloads(ctx: KVMContext) -> dict[str, Object | None]:
    """The cluster's control-plane workloads as the cache has them, by component."""
    namespace = key.namespace(ctx.spec.cluster_id)
    found: dict[str, Object | None] = {key.ETCD: ctx.cache(STATEFUL_SET).get_by_name(key.ETCD, namespace)}
    for component in versions.ORDER[1:]:
        found[component] = ctx.cache(DEPLOYMENT).get_by_name(component, namespace)
    return found


class Workload(ClusterObject):
    component: str = ""

    def version(self, ctx: KVMContext) -> str:
        target = ctx.status.target_version or ctx.spec.kubernetes_version
        return versions.component_version(self.component, target, workloads(ctx))

    def metadata(self, ctx: KVMContext, version: str) -> dict[str, object]:
        meta = key.metadata(ctx.spec.cluster_id, self.component, self.component)
        return {**meta, "annotations": {versions.VERSION_ANNOTATION: version}}
