"""The guest's etcd: a StatefulSet (stable member names etcd-N.etcd-peers), mutual TLS for clients and peers
from cert-operator's certificates, data in an emptyDir or a PVC per member, metrics and probes on plain HTTP
:2381 (no data there). Its Services: ``etcd-peers`` (headless, for the members) and ``etcd`` (for the API
server)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject, service
from kvm_operator.resources._pod import PKI, certificate_volume, container, pod_spec
from kvm_operator.resources._workload import Workload
from operatorkit.kinds import SERVICE, STATEFUL_SET

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object

CLIENT_PORT, PEER_PORT, METRICS_PORT = 2379, 2380, 2381
DATA = "/var/lib/etcd"


def members(ctx: KVMContext) -> int:
    """etcd's member count is set when the cluster is created (growing a running etcd needs member changes)."""
    return ctx.status.etcd_members or ctx.spec.control_plane.replicas


def client_url(cluster_id: str) -> str:
    return f"https://etcd.{key.namespace(cluster_id)}.svc:{CLIENT_PORT}"


class EtcdCluster(Workload):
    kind = STATEFUL_SET
    component = key.ETCD

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster, storage = ctx.spec.cluster_id, ctx.spec.control_plane.etcd_storage
        namespace, count = key.namespace(cluster), members(ctx)
        ctx.status.etcd_members = count
        peer = f"$(POD_NAME).{key.etcd_peers(cluster)}.{namespace}.svc"
        initial = ",".join(
            f"etcd-{i}=https://etcd-{i}.{key.etcd_peers(cluster)}.{namespace}.svc:{PEER_PORT}" for i in range(count)
        )
        server, peers = f"{PKI}/etcd-server", f"{PKI}/etcd-peer"
        command = [
            "etcd",
            "--name=$(POD_NAME)",
            f"--data-dir={DATA}/data",
            f"--listen-client-urls=https://0.0.0.0:{CLIENT_PORT}",
            f"--advertise-client-urls=https://{peer}:{CLIENT_PORT}",
            f"--listen-peer-urls=https://0.0.0.0:{PEER_PORT}",
            f"--initial-advertise-peer-urls=https://{peer}:{PEER_PORT}",
            f"--listen-metrics-urls=http://0.0.0.0:{METRICS_PORT}",
            f"--initial-cluster={initial}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={cluster}",
            "--client-cert-auth",
            f"--trusted-ca-file={server}/ca.crt",
            f"--cert-file={server}/tls.crt",
            f"--key-file={server}/tls.key",
            "--peer-client-cert-auth",
            f"--peer-trusted-ca-file={peers}/ca.crt",
            f"--peer-cert-file={peers}/tls.crt",
            f"--peer-key-file={peers}/tls.key",
            "--auto-compaction-retention=1h",
        ]
        volumes, mounts = [], [{"name": "data", "mountPath": DATA}]
        for name in ("etcd-server", "etcd-peer"):
            volume, mount = certificate_volume(name)
            volumes.append(volume)
            mounts.append(mount)
        probe = {"httpGet": {"path": "/readyz", "port": METRICS_PORT}}
        version = self.version(ctx)  # the Kubernetes version it is at in the upgrade order; its image is etcd's own
        etcd = container(
            self.shared,
            "etcd",
            self.shared.settings.images.etcd,
            command,
            ctx.spec.control_plane.resources.etcd,
            mounts,
            [
                {"name": "client", "containerPort": CLIENT_PORT},
                {"name": "peer", "containerPort": PEER_PORT},
                {"name": "metrics", "containerPort": METRICS_PORT},
            ],
            probe,
            live_path="/livez",
        )
        etcd["env"] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        spec: dict[str, Any] = {
            "serviceName": key.etcd_peers(cluster),
            "replicas": count,
            "podManagementPolicy": "Parallel",  # members must start together to form the cluster
            "selector": {"matchLabels": key.selector(cluster, key.ETCD)},
            "template": {
                "metadata": {"labels": key.labels(cluster, key.ETCD)},
                "spec": pod_spec(ctx, self.shared, key.ETCD, [etcd], volumes),
            },
        }
        if storage.type == "persistentVolumeClaim":
            claim: dict[str, Any] = {
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage.size}}},
            }
            if storage.storage_class_name:
                claim["spec"]["storageClassName"] = storage.storage_class_name
            spec["volumeClaimTemplates"] = [claim]
        else:
            volumes.append({"name": "data", "emptyDir": {"sizeLimit": storage.size}})
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": self.metadata(ctx, version), "spec": spec}


class EtcdPeerService(ClusterObject):
    kind = SERVICE

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        ports = [{"name": "client", "port": CLIENT_PORT}, {"name": "peer", "port": PEER_PORT}]
        # Headless, and publishing members before they are ready: they must find each other to become ready.
        return service(
            cluster, key.etcd_peers(cluster), key.ETCD, ports, clusterIP="None", publishNotReadyAddresses=True
        )


class EtcdClientService(ClusterObject):
    kind = SERVICE

    def manifest(self, ctx: KVMContext) -> Object | None:
        ports = [{"name": "client", "port": CLIENT_PORT, "targetPort": CLIENT_PORT}]
        return service(ctx.spec.cluster_id, key.ETCD, key.ETCD, ports)
