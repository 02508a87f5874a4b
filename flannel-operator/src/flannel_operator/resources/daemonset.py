"""The flannel client + bridge setup DaemonSet on the mother's hosts. Spec, script and image changes change its
pod template, so the DaemonSet rolls; on deletion its pods must be gone before the hosts are cleaned. A container
that fails leaves its last log lines as its termination message: the reason HostsReady names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources._object import ClusterObject
from flannel_operator.resources.bridge_scripts import scripts, scripts_hash
from operatorkit import RequeueAfter, owned_by, required
from operatorkit.kinds import DAEMON_SET, NAMESPACE, POD

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object


class FlannelDaemonSet(ClusterObject):
    kind = DAEMON_SET

    def manifest(self, ctx: FlannelContext) -> Object | None:
        namespace = key.namespace(ctx.name)
        if ctx.deleting:
            return {"metadata": {"name": key.DAEMON_SET, "namespace": namespace}}
        spec, settings, etcd = ctx.spec, self.shared.settings, self.shared.etcd
        bridge, port = required(ctx.status.bridge, "bridge"), required(ctx.status.health_port, "healthPort")
        annotations = {key.SCRIPTS_HASH_ANNOTATION: scripts_hash(scripts(ctx, settings))}
        selector = {key.APP_LABEL: "flannel", **key.labels(ctx.name)}
        flanneld_args = [
            f"--etcd-endpoints={etcd.settings.endpoint}",
            f"--etcd-prefix={etcd.prefix(bridge)}",
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
            {"name": "scripts", "configMap": {"name": key.BRIDGE_SCRIPTS}},
        ]
        if etcd.tls_files() is not None:
            flanneld_args += [
                "--etcd-cafile=/etc/etcd-client/ca.crt",
                "--etcd-certfile=/etc/etcd-client/tls.crt",
                "--etcd-keyfile=/etc/etcd-client/tls.key",
            ]
            flanneld_mounts.append({"name": "etcd-client", "mountPath": "/etc/etcd-client", "readOnly": True})
            volumes.append({"name": "etcd-client", "secret": {"secretName": key.ETCD_CLIENT_SECRET}})
        return {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": key.DAEMON_SET, "namespace": namespace, "labels": key.labels(ctx.name)},
            "spec": {
                "selector": {"matchLabels": selector},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": selector, "annotations": annotations},
                    "spec": {
                        "serviceAccountName": key.SERVICE_ACCOUNT,
                        "hostNetwork": True,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "nodeSelector": dict(settings.hosts.node_selector),
                        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                        "containers": [
                            {
                                "name": "flanneld",
                                "image": settings.images.flannel,
                                "args": flanneld_args,
                                "securityContext": privileged,
                                "terminationMessagePolicy": "FallbackToLogsOnError",
                                "volumeMounts": flanneld_mounts,
                                "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}},
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": port},
                                    "initialDelaySeconds": 30,
                                },
                            },
                            {
                                "name": "bridge",
                                "image": settings.images.tools,
                                "command": ["/bin/sh", "/scripts/bridge-setup.sh"],
                                "env": [
                                    {"name": "BRIDGE", "value": bridge},
                                    {"name": "DNS_SERVERS", "value": " ".join(str(s) for s in spec.dns.servers)},
                                    {"name": "NTP_SERVERS", "value": " ".join(str(s) for s in spec.ntp.servers)},
                                ],
                                "securityContext": privileged,
                                "terminationMessagePolicy": "FallbackToLogsOnError",
                                "volumeMounts": [run, {"name": "scripts", "mountPath": "/scripts"}],
                            },
                        ],
                        "volumes": volumes,
                    },
                },
            },
        }

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        """Delete the DaemonSet and wait for its pods to stop — found inside flannel's namespace only when that
        namespace is this FlannelConfig's (what is in it is then ours by containment; the pods outlive their
        DaemonSet, deleted in the background). One refused for a namespace someone else holds waits for nothing."""
        super().ensure_deleted(ctx)
        namespace = ctx.cache(NAMESPACE).get_by_name(key.namespace(ctx.name))
        if namespace is None or not owned_by(namespace, ctx.obj):
            return
        pods = ctx.client.list(POD, key.namespace(ctx.name), label_selector=f"{key.APP_LABEL}=flannel")["items"]
        if pods:
            names = sorted(p["metadata"]["name"] for p in pods)
            raise RequeueAfter(2, f"waiting for {len(pods)} flannel pods to stop: {', '.join(names[:3])}")
