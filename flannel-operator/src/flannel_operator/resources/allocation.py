"""Allocate (or validate) the cluster's network, VNI, bridge and health port and record them in status; release
them last. Nothing allocated ever changes: the VMs on the network depend on it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.allocator import (
    Allocation,
    AllocationConflict,
    AllocationImmutable,
    NetworkReserved,
    PoolExhausted,
    Request,
)
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import ReconcileError, Resource, TerminalError
from operatorkit.platform import AddressRefused, check_flannel_network

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext


def recorded(status: FlannelConfigStatus, port_base: int) -> Allocation | None:
    """The allocation a status records, if any (statuses of earlier versions have no health port: derived)."""
    if status.network is None or status.vni is None or status.bridge is None:
        return None
    port = status.health_port or key.health_port(port_base, status.vni)
    return Allocation(ipaddress.IPv4Network(status.network), status.vni, status.bridge, port)


@dataclass
class NetworkAllocation(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: FlannelContext) -> None:
        spec, allocator = ctx.spec, self.shared.allocator
        if spec.cluster_id != ctx.name:  # the CRD refuses this; an older CRD might not have
            raise TerminalError(f"spec.clusterID {spec.cluster_id!r} must equal metadata.name", reason="InvalidSpec")
        if (previous := recorded(ctx.recorded, self.shared.settings.allocation.health_port_base)) is not None:
            allocator.record(ctx.name, previous)
        if spec.network is not None and allocator.holder(ctx.name) is None:
            try:  # a new network: inside the platform's flannel pool (an allocated one always is), clear of the mother
                check_flannel_network(spec.network, self.shared.settings.platform)
            except AddressRefused as exc:
                ctx.set_condition("Allocated", "False", "OutsidePlan", str(exc))
                raise TerminalError(str(exc), reason="NetworkOutsidePlan") from exc
        try:
            allocation = allocator.allocate(ctx.name, Request(spec.network, spec.vni, spec.bridge))
        except AllocationConflict as exc:
            ctx.set_condition("Allocated", "False", "Conflict", str(exc))
            raise ReconcileError(str(exc), reason="AllocationConflict") from exc  # retried: the other may go
        except AllocationImmutable as exc:
            ctx.set_condition("Allocated", "False", "Immutable", str(exc))
            raise TerminalError(str(exc), reason="AllocationImmutable") from exc
        except NetworkReserved as exc:
            ctx.set_condition("Allocated", "False", "Reserved", str(exc))
            raise TerminalError(str(exc), reason="NetworkReserved") from exc
        except PoolExhausted as exc:
            ctx.set_condition("Allocated", "False", "PoolExhausted", str(exc))
            raise ReconcileError(str(exc), reason="PoolExhausted") from exc
        status = ctx.status
        status.cluster_id, status.network, status.vni = spec.cluster_id, str(allocation.network), allocation.vni
        status.bridge, status.health_port, status.subnet_len = (
            allocation.bridge,
            allocation.health_port,
            spec.subnet_len,
        )
        ctx.set_condition(
            "Allocated", "True", "Allocated", f"{allocation.network}, VNI {allocation.vni}, bridge {allocation.bridge}"
        )

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        self.shared.allocator.release(ctx.name)  # names are cluster ids: the entry is this object's
