"""The base of a guest cluster's objects: owned by its KVMConfig, deleted in order — one at a time, each waited for,
or as a tier (:class:`DeletedTogether`): all deleted at once, then waited for together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import ObjectResource, RequeueAfter, Resource, owned_by

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext
    from operatorkit import Kind, Object


@dataclass
class ClusterObject(ObjectResource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared
    waits: bool = field(default=True, kw_only=True)  # False in a tier: its DeletedTogether waits for it

    def needs_finalizer(self, primary: Kind) -> bool:
        return True  # most live in the control-plane namespace: no ownerReference, no garbage collection

    def ensure_deleted(self, ctx: KVMContext) -> None:
        """Delete, then (unless a tier waits for it) wait until it is gone before the next step."""
        super().ensure_deleted(ctx)
        if self.waits and (left := self.remaining(ctx)):
            raise RequeueAfter(2, f"waiting for {left} to go")

    def remaining(self, ctx: KVMContext) -> str | None:
        """``"<Kind> <name>"`` while the object is still there (and ours), else None. Read from the watch cache:
        what is ours carries our labels and is in it, so waiting costs no API call per object and pass."""
        current = self.current_state(ctx)
        if current is None or not owned_by(current, ctx.obj):
            return None
        return f"{self.kind.kind} {current['metadata']['name']}"


@dataclass
class DeletedTogether(Resource[KVMConfigSpec, KVMConfigStatus]):
    """A deletion tier: placed before its members in the resource list, it runs after them at deletion (which
    goes in reverse), when each has been asked to delete without waiting, and waits until all are gone. A tier
    costs one wait instead of one per object: the control plane's 20 objects go in one step."""

    tier: str
    members: Sequence[ClusterObject]

    @property
    def name(self) -> str:
        return f"{self.tier}-gone"

    def __post_init__(self) -> None:
        for member in self.members:
            member.waits = False

    def ensure_created(self, ctx: KVMContext) -> None:
        return None

    def ensure_deleted(self, ctx: KVMContext) -> None:
        left = [name for member in self.members if (name := member.remaining(ctx))]
        if left:
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            raise RequeueAfter(2, f"waiting for {', '.join(left[:3])}{more} to go")


def service(cluster_id: str, name: str, component: str, ports: list[dict[str, Any]], **spec: Any) -> Object:
    """A Service in the control-plane namespace selecting ``component``'s pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": key.metadata(cluster_id, name, component),
        "spec": {"selector": key.selector(cluster_id, component), "ports": ports, **spec},
    }
