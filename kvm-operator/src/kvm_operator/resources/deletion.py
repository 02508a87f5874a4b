"""First in the list, so the last step of a deletion: everything of the cluster is gone; record how long it took."""

from __future__ import annotations

from kvm_operator import metrics
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus, KVMContext
from operatorkit import Resource


class DeletionDone(Resource[KVMConfigSpec, KVMConfigStatus]):
    def ensure_deleted(self, ctx: KVMContext) -> None:
        metrics.deleted(ctx)
        ctx.event("Normal", "Deleted", f"cluster {ctx.name}: control plane, children and namespace gone")
