"""The guest's kube-apiserver: a Deployment behind the ``apiserver`` Service (port 443, what ingress-operator
routes api.<cluster>.<base domain> to). Serving, client-CA, etcd-client, kubelet-client and front-proxy
certificates are mounted files kube-apiserver reloads on change; Secrets are encrypted at rest with the cluster's
key; service-account tokens are signed with the cluster's key and name the guest's public endpoint as issuer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject, service
from kvm_operator.resources._pod import (
    PKI,
    certificate_volume,
    container,
    https_probe,
    kubernetes_image,
    pod_spec,
    rollout,
)
from kvm_operator.resources._workload import Workload
from kvm_operator.resources.encryption import FILE as ENCRYPTION_FILE
from kvm_operator.resources.etcd import client_url
from operatorkit.kinds import DEPLOYMENT, SERVICE

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object

PORT = 6443
MOUNTED = ("apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "front-proxy-client", "service-accounts")


class APIServer(Workload):
    kind = DEPLOYMENT
    component = key.APISERVER

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster, spec = ctx.spec.cluster_id, ctx.spec
        hostname = self.shared.api_hostname(spec)
        own, etcd, kubelet, proxy, sa = (f"{PKI}/{name}" for name in MOUNTED)
        command = [
            "kube-apiserver",
            f"--secure-port={PORT}",
            "--advertise-address=$(POD_IP)",
            f"--tls-cert-file={own}/tls.crt",
            f"--tls-private-key-file={own}/tls.key",
            f"--client-ca-file={own}/ca.crt",
            f"--etcd-servers={client_url(cluster)}",
            f"--etcd-cafile={etcd}/ca.crt",
            f"--etcd-certfile={etcd}/tls.crt",
            f"--etcd-keyfile={etcd}/tls.key",
            f"--kubelet-client-certificate={kubelet}/tls.crt",
            f"--kubelet-client-key={kubelet}/tls.key",
            "--kubelet-preferred-address-types=InternalIP",
            f"--proxy-client-cert-file={proxy}/tls.crt",
            f"--proxy-client-key-file={proxy}/tls.key",
            f"--requestheader-client-ca-file={proxy}/ca.crt",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--service-account-key-file={sa}/tls.crt",
            f"--service-account-signing-key-file={sa}/tls.key",
            f"--service-account-issuer=https://{hostname}",
            f"--service-cluster-ip-range={spec.network.service_cidr}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",  # the guest's own workloads; the mother's policies never see them
            f"--encryption-provider-config=/etc/kubernetes/encryption/{ENCRYPTION_FILE}",
            "--encryption-provider-config-automatic-reload=true",
            "--profiling=false",
            # After SIGTERM /readyz fails at once and serving goes on this long: the EndpointSlice drops the pod and
            # HAProxy stops sending it connections before it closes its listener (no failed request in a roll).
            "--shutdown-delay-duration=5s",
        ]
        volumes, mounts = [], []
        for name in MOUNTED:
            volume, mount = certificate_volume(name)
            volumes.append(volume)
            mounts.append(mount)
        volumes.append({"name": "encryption", "secret": {"secretName": key.ENCRYPTION_SECRET, "defaultMode": 0o440}})
        mounts.append({"name": "encryption", "mountPath": "/etc/kubernetes/encryption", "readOnly": True})
        version = self.version(ctx)
        apiserver = container(
            self.shared,
            "kube-apiserver",
            kubernetes_image(self.shared, version),
            command,
            spec.control_plane.resources.apiserver,
            mounts,
            [{"name": "https", "containerPort": PORT}],
            https_probe("/readyz", PORT),
            live_path="/livez",
        )
        apiserver["env"] = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(ctx, version),
            "spec": {
                "replicas": spec.control_plane.replicas,
                "selector": {"matchLabels": key.selector(cluster, key.APISERVER)},
                "strategy": rollout(ctx, self.shared),
                "template": {
                    "metadata": {"labels": key.labels(cluster, key.APISERVER)},
                    "spec": pod_spec(ctx, self.shared, key.APISERVER, [apiserver], volumes),
                },
            },
        }


class APIServerService(ClusterObject):
    kind = SERVICE

    def manifest(self, ctx: KVMContext) -> Object | None:
        ports = [{"name": "https", "port": 443, "targetPort": PORT}]
        return service(ctx.spec.cluster_id, key.APISERVER, key.APISERVER, ports)
