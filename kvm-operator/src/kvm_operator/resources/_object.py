"""The base of a guest cluster's objects: owned by its KVMConfig, deleted in order — one at a time, each waited for,
or as a tier (:class:`operatorkit.DeletedTogether`): all deleted at once, then waited for together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kvm_operator import key
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import DeletedInOrder, RequeueAfter, Resource, is_subset, owned_by

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext
    from operatorkit import Kind, Object


@dataclass
class ClusterObject(DeletedInOrder[KVMConfigSpec, KVMConfigStatus]):
    """Most live in the control-plane namespace: no ownerReference, no garbage collection — deleted by us."""

    shared: Shared


def service(cluster_id: str, name: str, component: str, ports: list[dict[str, Any]], **spec: Any) -> Object:
    """A Service in the control-plane namespace selecting ``component``'s pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": key.metadata(cluster_id, name, component),
        "spec": {"selector": key.selector(cluster_id, component), "ports": ports, **spec},
    }


@dataclass
class WorkerObjects(Resource[KVMConfigSpec, KVMConfigStatus]):
    """A set of objects of one kind that grows and shrinks with the worker pools (a CertConfig per node, a boot
    Secret per pool): each desired one created or applied when it differs, each of ours no longer desired deleted
    once :meth:`may_delete` allows, all of them deleted and waited for at the cluster's deletion. Ours are found
    in the cache by cluster label and pool label, and only what this KVMConfig owns is ever written or deleted."""

    shared: Shared
    kind: ClassVar[Kind]

    def desired(self, ctx: KVMContext, current: dict[str, Object]) -> dict[str, Object]:
        """Name → the object as it should be (``current``: ours now, by name, to keep what needs no change)."""
        raise NotImplementedError

    def may_delete(self, ctx: KVMContext, obj: Object) -> bool:
        return True

    def current(self, ctx: KVMContext) -> dict[str, Object]:
        return {
            obj["metadata"]["name"]: obj
            for obj in ctx.cache(self.kind).by_index(key.CLUSTER_INDEX, ctx.name)
            if key.POOL_LABEL in obj["metadata"].get("labels", {}) and owned_by(obj, ctx.obj)
        }

    def ensure_created(self, ctx: KVMContext) -> None:
        current = self.current(ctx)
        for name, manifest in self.desired(ctx, current).items():
            found = current.pop(name, None)
            if found is None or not is_subset(manifest, found):
                ctx.create_or_apply(self.kind, manifest)
        for obj in current.values():
            if self.may_delete(ctx, obj):
                self._delete(ctx, obj)

    def ensure_deleted(self, ctx: KVMContext) -> None:
        current = self.current(ctx)
        for obj in current.values():
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete(ctx, obj)
        if current:
            names = sorted(current)
            raise RequeueAfter(2, f"waiting for {len(names)} {self.kind.kind}(s) to go ({', '.join(names[:3])})")

    def _delete(self, ctx: KVMContext, obj: Object) -> None:
        meta = obj["metadata"]
        ctx.client.delete(self.kind, meta["name"], meta.get("namespace"), uid=meta.get("uid"))
