"""kube-controller-manager and kube-scheduler: Deployments with leader election, talking to the API server's
Service with their own client certificates (file paths in a kubeconfig ConfigMap — no key material in it — so a
renewed certificate is picked up from the mounted Secret without a restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guestkit import kubeconfig
from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from kvm_operator.resources._pod import (
    PKI,
    certificate_volume,
    container,
    https_probe,
    kubernetes_image,
    pod_spec,
    rollout,
)
from kvm_operator.resources._workload import Workload, workloads
from operatorkit.kinds import CONFIG_MAP, DEPLOYMENT

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext, Resources
    from operatorkit import Object

KUBECONFIGS = "component-kubeconfigs"
MOUNT = "/etc/kubernetes/kubeconfig"


def component_kubeconfig(cluster_id: str, component: str) -> str:
    files = f"{PKI}/{component}"
    return kubeconfig(
        cluster_id,
        component,
        {
            "server": f"https://{key.APISERVER}.{key.namespace(cluster_id)}.svc:443",
            "certificate-authority": f"{files}/ca.crt",
        },
        {"client-certificate": f"{files}/tls.crt", "client-key": f"{files}/tls.key"},
    )


class ComponentKubeconfigs(ClusterObject):
    kind = CONFIG_MAP

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": key.metadata(cluster, KUBECONFIGS),
            "data": {
                f"{component}.conf": component_kubeconfig(cluster, component)
                for component in (key.CONTROLLER_MANAGER, key.SCHEDULER)
            },
        }


def serving(apiserver: Object | None) -> bool:
    """Whether at least one API server replica is available (the controller-manager and scheduler need one)."""
    return apiserver is not None and int((apiserver.get("status") or {}).get("availableReplicas", 0)) > 0


class _Component(Workload):
    kind = DEPLOYMENT
    binary = ""
    port = 0
    extra_certificates: tuple[str, ...] = ()

    def flags(self, ctx: KVMContext) -> list[str]:
        return []

    def resources(self, ctx: KVMContext) -> Resources:
        raise NotImplementedError

    def manifest(self, ctx: KVMContext) -> Object | None:
        found = workloads(ctx)
        if found[self.component] is None and not serving(found[key.APISERVER]):
            # Made once an API server answers (its Deployment's status change wakes this cluster): started before,
            # the component only exits, again and again, into a back-off of minutes that outlasts the wait.
            return None
        cluster, config = ctx.spec.cluster_id, f"{MOUNT}/{self.component}.conf"
        command = [
            self.binary,
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--leader-elect=true",
            f"--secure-port={self.port}",
            "--profiling=false",
            *self.flags(ctx),
        ]
        volumes: list[dict[str, Any]] = [
            {
                "name": "kubeconfig",
                "configMap": {
                    "name": KUBECONFIGS,
                    "items": [{"key": f"{self.component}.conf", "path": f"{self.component}.conf"}],
                },
            }
        ]
        mounts: list[dict[str, Any]] = [{"name": "kubeconfig", "mountPath": MOUNT, "readOnly": True}]
        for name in (self.component, *self.extra_certificates):
            volume, mount = certificate_volume(name)
            volumes.append(volume)
            mounts.append(mount)
        version = self.version(ctx)
        main = container(
            self.shared,
            self.binary,
            kubernetes_image(self.shared, version),
            command,
            self.resources(ctx),
            mounts,
            [{"name": "https", "containerPort": self.port}],
            https_probe("/healthz", self.port),
        )
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(ctx, version),
            "spec": {
                "replicas": ctx.spec.control_plane.replicas,
                "selector": {"matchLabels": key.selector(cluster, self.component)},
                "strategy": rollout(ctx, self.shared),
                "template": {
                    "metadata": {"labels": key.labels(cluster, self.component)},
                    "spec": pod_spec(ctx, self.shared, self.component, [main], volumes),
                },
            },
        }


class ControllerManager(_Component):
    component = key.CONTROLLER_MANAGER
    binary = "kube-controller-manager"
    port = 10257
    extra_certificates = ("service-accounts",)

    def flags(self, ctx: KVMContext) -> list[str]:
        network = ctx.spec.network
        return [
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={PKI}/service-accounts/tls.key",
            f"--root-ca-file={PKI}/{self.component}/ca.crt",
            f"--cluster-name={ctx.spec.cluster_id}",
            f"--service-cluster-ip-range={network.service_cidr}",
            f"--cluster-cidr={network.pod_cidr}",
            "--allocate-node-cidrs=true",
            # No cluster signing: the CA's key never leaves Vault; node certificates come from cert-operator.
            "--controllers=*,-csrsigning",
        ]

    def resources(self, ctx: KVMContext) -> Resources:
        return ctx.spec.control_plane.resources.controller_manager


class Scheduler(_Component):
    component = key.SCHEDULER
    binary = "kube-scheduler"
    port = 10259

    def resources(self, ctx: KVMContext) -> Resources:
        return ctx.spec.control_plane.resources.scheduler
