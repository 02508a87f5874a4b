"""Deletion only: clean every host with a Job pinned to it (bridge and VXLAN device)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flannel_operator import key
from flannel_operator.resources.etcd_config import owns_network
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import RequeueAfter, Resource, get_condition, selector
from operatorkit.kinds import JOB, NODE

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext


@dataclass
class HostCleanup(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        bridge, vni = ctx.recorded.bridge, ctx.recorded.vni
        if not bridge or vni is None:
            return  # never allocated, so nothing was set up on any host
        if not owns_network(self.shared, ctx, bridge):
            return  # another cluster's bridge: its hosts are not ours to clean
        namespace = key.namespace(ctx.name)
        node_selector = selector(self.shared.settings.hosts.node_selector) or None
        nodes = [n["metadata"]["name"] for n in ctx.client.list(NODE, label_selector=node_selector)["items"]]
        pending = []
        for node in nodes:
            job = ctx.client.get_or_none(JOB, key.cleanup_job(node), namespace)
            if job is None:
                ctx.create(JOB, self._job(key.cleanup_job(node), namespace, node, bridge, vni))
                pending.append(node)
            elif not job.get("status", {}).get("succeeded"):
                failed = get_condition(job.get("status"), "Failed") or {}
                why = f" (Job {key.cleanup_job(node)} failed: {failed.get('message') or failed.get('reason')})"
                pending.append(node + (why if failed.get("status") == "True" else ""))
        if pending:
            more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
            raise RequeueAfter(2, f"cleaning {len(pending)} of {len(nodes)} hosts: {', '.join(pending[:3])}{more}")

    def _job(self, name: str, namespace: str, node: str, bridge: str, vni: int) -> dict[str, Any]:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": {key.APP_LABEL: "flannel-cleanup"}},
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
                                "image": self.shared.settings.images.tools,
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
                            {"name": "scripts", "configMap": {"name": key.BRIDGE_SCRIPTS}},
                            {"name": "run-flannel", "hostPath": {"path": "/run/flannel"}},
                        ],
                    }
                },
            },
        }
