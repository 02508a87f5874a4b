"""Deletion only: the network must outlive the VMs on it, so deletion waits for the cluster's pods elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import CLUSTER_LABEL, READY, RequeueAfter, Resource
from operatorkit.kinds import POD

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext


@dataclass
class VMPodsGone(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    def ensure_deleted(self, ctx: FlannelContext) -> None:
        own = key.namespace(ctx.name)
        pods = ctx.client.list(POD, label_selector=f"{CLUSTER_LABEL}={ctx.name}")["items"]
        vms = [p["metadata"]["name"] for p in pods if p["metadata"]["namespace"] != own]
        if vms:
            ctx.set_condition(READY, "False", "WaitingForVMs", f"{len(vms)} VM pods still running: {vms[:5]}")
            raise RequeueAfter(5, f"{len(vms)} VM pods of cluster {ctx.name} still running")
