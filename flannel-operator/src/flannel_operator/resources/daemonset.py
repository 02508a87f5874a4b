"""The flannel client + bridge setup DaemonSet on the mother's nodes. Spec, script and image changes change its
pod template, so the DaemonSet rolls; on deletion its pods must be gone before the hosts are cleaned."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from flannel_operator.resources.objects import (
    BRIDGE_SCRIPT,
    ETCD_CLIENT_SECRET,
    SERVICE_ACCOUNT_NAME,
    BridgeScripts,
    _ClusterObject,
    cluster_id,
    labels,
)
from operatorkit import Object, RequeueAfter, Resource
from operatorkit.kinds import DAEMON_SET, POD

if TYPE_CHECKING:
    from flannel_operator.settings import FlannelSettings
    from flannel_operator.spec import FlannelConfigSpec
    from operatorkit import Context

APP_LABEL = "app.kubernetes.io/name"


class FlannelDaemonSet(_ClusterObject):
    kind = DAEMON_SET

    def manifest(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        if ctx.deleting:
            return {"metadata": {"name": "flannel", "namespace": self.settings.namespace(cluster_id(ctx))}}
        spec, settings = ctx.spec, self.settings
        namespace = settings.namespace(spec.cluster_id)
        bridge, vni = spec.bridge, int(ctx.status["vni"])
        port = settings.health_port(vni)
        scripts = BridgeScripts(settings).manifest(ctx) or {}
        scripts_hash = hashlib.sha256(repr(sorted(scripts.get("data", {}).items())).encode()).hexdigest()[:16]
        selector = {APP_LABEL: "flannel", **labels(ctx)}
        flanneld_args = [
            f"--etcd-endpoints={settings.etcd.settings.endpoint}",
            f"--etcd-prefix={settings.etcd.prefix(bridge)}",
            f"--subnet-file=/run/flannel/{bridge}.env",
            f"--healthz-port={port}",
            "--healthz-ip=0.0.0.0",
            "--ip-masq",
        ]
        if spec.host_interface:
            flanneld_args.append(f"--iface={spec.host_interface}")
        privileged = {"privileged": True}
        run = {"name": "run-flannel", "mountPath": "/run/flannel"}
        flanneld_mounts: list[Object] = [run]
        volumes: list[Object] = [
            {"name": "run-flannel", "hostPath": {"path": "/run/flannel", "type": "DirectoryOrCreate"}},
            {"name": "scripts", "configMap": {"name": BRIDGE_SCRIPT}},
        ]
        if settings.etcd.tls_files() is not None:
            flanneld_args += [
                "--etcd-cafile=/etc/etcd-client/ca.crt",
                "--etcd-certfile=/etc/etcd-client/tls.crt",
                "--etcd-keyfile=/etc/etcd-client/tls.key",
            ]
            flanneld_mounts.append({"name": "etcd-client", "mountPath": "/etc/etcd-client", "readOnly": True})
            volumes.append({"name": "etcd-client", "secret": {"secretName": ETCD_CLIENT_SECRET}})
        return {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "flannel", "namespace": namespace, "labels": labels(ctx)},
            "spec": {
                "selector": {"matchLabels": selector},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": selector, "annotations": {"kubeception.io/scripts-hash": scripts_hash}},
                    "spec": {
                        "serviceAccountName": SERVICE_ACCOUNT_NAME,
                        "hostNetwork": True,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "nodeSelector": dict(settings.node_selector),
                        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                        "containers": [
                            {
                                "name": "flanneld",
                                "image": settings.flannel_image,
                                "args": flanneld_args,
                                "securityContext": privileged,
                                "volumeMounts": flanneld_mounts,
                                "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}},
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": port},
                                    "initialDelaySeconds": 30,
                                },
                            },
                            {
                                "name": "bridge",
                                "image": settings.tools_image,
                                "command": ["/bin/sh", "/scripts/bridge-setup.sh"],
                                "env": [
                                    {"name": "BRIDGE", "value": bridge},
                                    {"name": "DNS_SERVERS", "value": " ".join(spec.dns.servers)},
                                    {"name": "NTP_SERVERS", "value": " ".join(spec.ntp.servers)},
                                ],
                                "securityContext": privileged,
                                "volumeMounts": [run, {"name": "scripts", "mountPath": "/scripts"}],
                            },
                        ],
                        "volumes": volumes,
                    },
                },
            },
        }

    def ensure_deleted(self, ctx: Context[FlannelConfigSpec]) -> None:
        super().ensure_deleted(ctx)
        namespace = self.settings.namespace(cluster_id(ctx))
        pods = ctx.client.list(POD, namespace, label_selector=f"{APP_LABEL}=flannel")["items"]
        if pods:
            raise RequeueAfter(2, f"waiting for {len(pods)} flannel pods to stop")


class HostsStatus(Resource["FlannelConfigSpec"]):
    """Reports hosts ready / desired from the DaemonSet, and the HostsReady condition."""

    def __init__(self, settings: FlannelSettings) -> None:
        self.settings = settings

    def ensure_created(self, ctx: Context[FlannelConfigSpec]) -> None:
        daemonset = ctx.cache(DAEMON_SET).get_by_name("flannel", self.settings.namespace(ctx.spec.cluster_id))
        status = (daemonset or {}).get("status", {})
        desired, ready = int(status.get("desiredNumberScheduled", 0)), int(status.get("numberReady", 0))
        updated = int(status.get("updatedNumberScheduled", 0))
        current = (daemonset or {}).get("metadata", {}).get("generation") == status.get("observedGeneration")
        ctx.status["hostsDesired"], ctx.status["hostsReady"] = desired, ready
        if daemonset is not None and current and desired > 0 and ready == desired == updated:
            ctx.set_condition("HostsReady", "True", "AllHostsReady", f"{ready}/{desired} hosts")
        else:
            ctx.set_condition("HostsReady", "False", "Rolling", f"{ready}/{desired} hosts ready, {updated} updated")

    def ensure_deleted(self, ctx: Context[FlannelConfigSpec]) -> None:
        return None
