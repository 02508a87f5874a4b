"""Deletion only: the network must outlive the VMs on it, so deletion waits for the pods of the cluster that run
outside flannel's own namespace — but only for a network this FlannelConfig holds (one refused for a clashing bridge,
VNI or range has none, so nothing can run on it), and only for pods of the cluster's own namespaces. A tenant labels
its pods as it likes; a namespace's labels and owner are set by the platform: a namespace counts when it carries the
cluster's label and, for a FlannelConfig a KVMConfig made, that KVMConfig as its owner (the workers' namespace)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources.etcd_config import owns_network
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import CLUSTER_LABEL, READY, RequeueAfter, Resource, owner_of
from operatorkit.kinds import NAMESPACE, POD

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext


def cluster_namespaces(ctx: FlannelContext) -> set[str]:
    """The namespaces whose pods may sit on the cluster's network: labelled with the cluster, held by this
    FlannelConfig's owner when it has one, flannel's own left out."""
    owner = owner_of(ctx.obj)
    found = ctx.client.list(NAMESPACE, label_selector=f"{CLUSTER_LABEL}={ctx.name}")["items"]
    return {
        ns["metadata"]["name"]
        for ns in found
        if ns["metadata"]["name"] != key.namespace(ctx.name)
        and (owner is None or ((held := owner_of(ns)) is not None and held.uid == owner.uid))
    }


@dataclass
class VMPodsGone(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        bridge = ctx.recorded.bridge
        if not bridge or not owns_network(self.shared, ctx, bridge, quiet=True):
            return  # no network of its own: nothing can run on it
        namespaces = cluster_namespaces(ctx)
        if not namespaces:
            return
        pods = ctx.client.list(POD, label_selector=f"{CLUSTER_LABEL}={ctx.name}")["items"]
        vms = sorted(
            f"{p['metadata']['namespace']}/{p['metadata']['name']}"
            for p in pods
            if p["metadata"]["namespace"] in namespaces
        )
        if vms:
            ctx.set_condition(READY, "False", "WaitingForVMs", f"{len(vms)} VM pods still running: {vms[:5]}")
            raise RequeueAfter(5, f"{len(vms)} VM pods of cluster {ctx.name} still running")
