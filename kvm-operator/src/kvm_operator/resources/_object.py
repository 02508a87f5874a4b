"""The base of a guest cluster's objects: owned by its KVMConfig, deleted in order, each waited for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import ObjectResource, RequeueAfter, owned_by

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext
    from operatorkit import Kind, Object


@dataclass
class ClusterObject(ObjectResource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared

    def needs_finalizer(self, primary: Kind) -> bool:
        return True  # most live in the control-plane namespace: no ownerReference, no garbage collection

    def ensure_deleted(self, ctx: KVMContext) -> None:
        """Delete, then wait until it is gone: the next step of the ordered deletion starts after this one."""
        super().ensure_deleted(ctx)
        manifest = self.manifest(ctx)
        if manifest is None:
            return
        meta = manifest["metadata"]
        current = ctx.lookup(self.kind, meta["name"], meta.get("namespace"))
        if current is not None and owned_by(current, ctx.obj):
            raise RequeueAfter(2, f"waiting for {self.kind.kind} {meta['name']} to go")


def service(cluster_id: str, name: str, component: str, ports: list[dict[str, Any]], **spec: Any) -> Object:
    """A Service in the control-plane namespace selecting ``component``'s pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": key.namespace(cluster_id), "labels": key.labels(cluster_id, component)},
        "spec": {"selector": key.selector(cluster_id, component), "ports": ports, **spec},
    }
