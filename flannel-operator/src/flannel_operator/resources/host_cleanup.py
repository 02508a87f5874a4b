"""Deletion only: wait for the cluster's VM pods to be gone, then clean every host with a Job pinned to it."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from flannel_operator.resources.objects import BRIDGE_SCRIPT, cluster_id
from flannel_operator.spec import CLUSTER_LABEL
from operatorkit import RequeueAfter, Resource
from operatorkit.kinds import JOB, NODE, POD

if TYPE_CHECKING:
    from flannel_operator.settings import FlannelSettings
    from flannel_operator.spec import FlannelConfigSpec
    from operatorkit import Context


class VMPodsGone(Resource["FlannelConfigSpec"]):
    """The network must outlive the VMs on it: deletion waits for the cluster's pods elsewhere to be gone."""

    def __init__(self, settings: FlannelSettings) -> None:
        self.settings = settings

    def ensure_created(self, ctx: Context[FlannelConfigSpec]) -> None:
        return None

    def ensure_deleted(self, ctx: Context[FlannelConfigSpec]) -> None:
        own = self.settings.namespace(cluster_id(ctx))
        pods = ctx.client.list(POD, label_selector=f"{CLUSTER_LABEL}={cluster_id(ctx)}")["items"]
        vms = [p["metadata"]["name"] for p in pods if p["metadata"]["namespace"] != own]
        if vms:
            ctx.set_condition("Ready", "False", "WaitingForVMs", f"{len(vms)} VM pods still running: {vms[:5]}")
            raise RequeueAfter(5, f"{len(vms)} VM pods of cluster {cluster_id(ctx)} still running")


class HostCleanup(Resource["FlannelConfigSpec"]):
    def __init__(self, settings: FlannelSettings) -> None:
        self.settings = settings

    def ensure_created(self, ctx: Context[FlannelConfigSpec]) -> None:
        return None

    def ensure_deleted(self, ctx: Context[FlannelConfigSpec]) -> None:
        bridge, vni = ctx.status.get("bridge"), ctx.status.get("vni")
        if not bridge or vni is None:
            return  # never allocated, so nothing was set up on any host
        namespace = self.settings.namespace(cluster_id(ctx))
        selector = ",".join(f"{k}={v}" for k, v in self.settings.node_selector.items()) or None
        nodes = [n["metadata"]["name"] for n in ctx.client.list(NODE, label_selector=selector)["items"]]
        pending = []
        for node in nodes:
            name = f"cleanup-{hashlib.sha256(node.encode()).hexdigest()[:12]}"
            job = ctx.client.get_or_none(JOB, name, namespace)
            if job is None:
                ctx.client.create(JOB, self._job(name, namespace, node, str(bridge), int(vni)))
                pending.append(node)
            elif not job.get("status", {}).get("succeeded"):
                pending.append(node)
        if pending:
            raise RequeueAfter(2, f"cleaning {len(pending)} of {len(nodes)} hosts")

    def _job(self, name: str, namespace: str, node: str, bridge: str, vni: int) -> dict[str, object]:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "flannel-cleanup"}},
            "spec": {
                "backoffLimit": 6,
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "spec": {
                        "nodeName": node,
                        "hostNetwork": True,
                        "restartPolicy": "OnFailure",
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [
                            {
                                "name": "cleanup",
                                "image": self.settings.tools_image,
                                "command": ["/bin/sh", "/scripts/cleanup.sh"],
                                "env": [{"name": "BRIDGE", "value": bridge}, {"name": "VNI", "value": str(vni)}],
                                "securityContext": {"privileged": True},
                                "volumeMounts": [
                                    {"name": "scripts", "mountPath": "/scripts"},
                                    {"name": "run-flannel", "mountPath": "/run/flannel"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "scripts", "configMap": {"name": BRIDGE_SCRIPT}},
                            {"name": "run-flannel", "hostPath": {"path": "/run/flannel"}},
                        ],
                    }
                },
            },
        }
