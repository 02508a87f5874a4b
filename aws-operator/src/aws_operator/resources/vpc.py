"""The cluster's VPC CIDR: the spec's, or the first free block of the platform's VPC pool. Always inside that pool
(so it never overlaps a KVM guest's network, which comes from the flannel pool), never overlapping the mother's
networks (the VPC is peered with them) nor another AWS guest's VPC, whatever its account."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from aws_operator.spec import AWS_CONFIG, AWSConfigSpec, AWSConfigStatus
from operatorkit import READY, ReconcileError, Resource, object_key
from operatorkit.platform import AddressRefused, check_vpc, free_network

if TYPE_CHECKING:
    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext
    from operatorkit import Object


class NoNetwork(ReconcileError):
    reason = "VPCCIDRRefused"


def _taken(obj: Object) -> ipaddress.IPv4Network | None:
    value = (obj.get("status") or {}).get("vpcCIDR") or (obj.get("spec") or {}).get("vpcCIDR")
    try:
        return ipaddress.IPv4Network(value) if value else None
    except ValueError:
        return None


@dataclass
class PlannedVPC(Resource[AWSConfigSpec, AWSConfigStatus]):
    """First of all: a requested VPC CIDR against the platform's plan (pure), so a cluster that could never get its
    VPC is refused before its namespace, PKI or anything in AWS is made."""

    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        wanted = ctx.spec.vpc_cidr
        if wanted is None or ctx.status.vpc_cidr:
            return
        try:
            check_vpc(wanted, self.shared.settings.platform)
        except AddressRefused as exc:
            VPCNetwork.refuse(ctx, str(exc))


@dataclass
class VPCNetwork(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        me = object_key(ctx.obj)
        recorded = ctx.status.vpc_cidr
        wanted = ctx.spec.vpc_cidr
        if recorded and wanted is not None and str(wanted) != recorded:
            self.refuse(ctx, f"vpcCIDR {wanted}: this cluster's VPC is {recorded} and cannot change")
        if recorded:
            return  # allocated and checked before: a VPC never moves (an older one is reported, not changed)
        plan, prefix = self.shared.settings.platform, self.shared.settings.network.vpc_prefix
        with self.shared.vpc_lock:
            others = [
                (object_key(obj), cidr)
                for obj in ctx.cache(AWS_CONFIG).objects()
                if object_key(obj) != me and (cidr := _taken(obj)) is not None
            ]
            others += [
                (owner, ipaddress.IPv4Network(cidr)) for owner, cidr in self.shared.vpc_reserved.items() if owner != me
            ]
            if wanted is not None:
                try:
                    check_vpc(wanted, plan)
                except AddressRefused as exc:
                    self.refuse(ctx, str(exc))
                clash = next(((who, net) for who, net in others if net.overlaps(wanted)), None)
                if clash is not None:
                    self.refuse(ctx, f"vpcCIDR {wanted} overlaps {clash[1]} of AWSConfig {clash[0]}")
                chosen = wanted
            else:
                found = free_network(plan.pools.vpc, prefix, (net for _, net in others), plan)
                if found is None:
                    self.refuse(ctx, f"no free /{prefix} left in the VPC pool {plan.pools.vpc} (platform.pools.vpc)")
                chosen = found
            self.shared.vpc_reserved[me] = str(chosen)
        ctx.status.vpc_cidr = str(chosen)

    def ensure_deleted(self, ctx: AWSContext) -> None:
        with self.shared.vpc_lock:
            self.shared.vpc_reserved.pop(object_key(ctx.obj), None)

    def needs_finalizer(self, primary: object) -> bool:
        return False

    @staticmethod
    def refuse(ctx: AWSContext, message: str) -> NoReturn:
        ctx.set_condition(READY, "False", "VPCCIDRRefused", message)
        raise NoNetwork(message)
