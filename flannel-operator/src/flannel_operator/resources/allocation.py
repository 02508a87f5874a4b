"""Allocate (or validate) the cluster's network and VNI and record them in status; release them last."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from flannel_operator.allocator import Allocation, AllocationConflict, PoolExhausted
from operatorkit import ReconcileError, Resource, TerminalError

if TYPE_CHECKING:
    from flannel_operator.settings import FlannelSettings
    from flannel_operator.spec import FlannelConfigSpec
    from operatorkit import Context


def recorded(status: dict[str, object]) -> Allocation | None:
    """The allocation a status records, if any."""
    network, vni = status.get("network"), status.get("vni")
    if isinstance(network, str) and isinstance(vni, int):
        return Allocation(ipaddress.IPv4Network(network), vni)
    return None


class NetworkAllocation(Resource["FlannelConfigSpec"]):
    def __init__(self, settings: FlannelSettings) -> None:
        self.settings = settings

    def ensure_created(self, ctx: Context[FlannelConfigSpec]) -> None:
        spec = ctx.spec
        allocator = self.settings.allocator
        if (previous := recorded(ctx.status)) is not None:
            allocator.record(spec.cluster_id, previous)
        try:
            allocation = allocator.allocate(spec.cluster_id, spec.network, spec.vni)
        except AllocationConflict as exc:
            ctx.set_condition("Allocated", "False", "Conflict", str(exc))
            raise TerminalError(str(exc), reason="AllocationConflict") from exc
        except PoolExhausted as exc:
            ctx.set_condition("Allocated", "False", "PoolExhausted", str(exc))
            raise ReconcileError(str(exc), reason="PoolExhausted") from exc
        ctx.status.update(
            {
                "clusterID": spec.cluster_id,
                "network": str(allocation.network),
                "vni": allocation.vni,
                "bridge": spec.bridge,
                "subnetLen": spec.subnet_len,
            }
        )
        ctx.set_condition("Allocated", "True", "Allocated", f"{allocation.network}, VNI {allocation.vni}")

    def ensure_deleted(self, ctx: Context[FlannelConfigSpec]) -> None:
        if cluster_id := ctx.status.get("clusterID"):
            self.settings.allocator.release(cluster_id)
