"""Allocate (or validate) the cluster's network and VNI and record them in status; release them last."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator.allocator import Allocation, AllocationConflict, PoolExhausted
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import ReconcileError, Resource, TerminalError

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext


def recorded(status: FlannelConfigStatus) -> Allocation | None:
    """The allocation a status records, if any."""
    if status.network is not None and status.vni is not None:
        return Allocation(ipaddress.IPv4Network(status.network), status.vni)
    return None


@dataclass
class NetworkAllocation(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: FlannelContext) -> None:
        spec, allocator = ctx.spec, self.shared.allocator
        if (previous := recorded(ctx.recorded)) is not None:
            allocator.record(ctx.name, previous)
        try:
            allocation = allocator.allocate(ctx.name, spec.network, spec.vni)
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

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        self.shared.allocator.release(ctx.name)
