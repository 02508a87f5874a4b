"""Fixtures: kvm-operator in-process with a real cert-operator (real OpenBao) on the kwok control plane; the
control plane's pods run on kwok nodes (scheduled, Running and Ready as kwok plays them), which is what the
orchestration needs — the real-node tests run the same pods for real. Also what the kvm tests, the real-node tests
and the security suite share: KVMConfig manifests and readers, a guest's kubeconfig (GuestAccess), and a guest API
server with what flannel-operator and a VM's kubelet would report played by hand."""

from __future__ import annotations

import base64
import datetime
import socket
import ssl
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from guestkit import kubeconfig_secret
from kubeception_testenv import GuestAPIServer, SecretVolume
from kvm_operator import key
from kvm_operator.controller import kvm_controller
from kvm_operator.launcher.vm import ACCELERATOR_LABEL
from kvm_operator.settings import KVMSettings
from kvm_operator.shared import FLANNEL_CONFIG, Shared
from kvm_operator.spec import KVM_CONFIG
from operatorkit import KubeClient
from operatorkit.kinds import NODE, POD, SECRET
from operatorkit.testing import apply_crds, condition_of, in_process_settings, status_of, wait_progressing
from tests.cert.conftest import bao, cert_crds, start_cert_operator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kubeception_testenv import EtcdServer
    from operatorkit import Object, Operator
    from operatorkit.testing import OperatorRunner

CRDS = Path(__file__).parents[2] / "crds"
__all__ = ["bao", "cert_crds", "start_cert_operator"]
VERSIONS = ["1.35.2", "1.36.3", "1.36.4", "1.37.0"]


@pytest.fixture(scope="session")
def kvm_crds(kube: KubeClient) -> None:
    apply_crds(
        kube,
        *(
            CRDS / f"{name}.kubeception.io.yaml"
            for name in ("kvmconfigs", "flannelconfigs", "ingressconfigs", "domainclaims")
        ),
    )


@pytest.fixture
def start_kvm(
    operator_runner: OperatorRunner, start_cert_operator: Callable[..., Operator], kvm_crds: None, kube: KubeClient
) -> Iterator[Callable[..., Operator]]:
    def start(**overrides: Any) -> Operator:
        start_cert_operator(namespace=None)  # the PKI lives in each cluster's own namespace
        settings = in_process_settings(
            KVMSettings,
            versions={"supported": VERSIONS},
            reconcile={"backoff_base": 0.1, "backoff_cap": 2},
            **overrides,
        )
        assert isinstance(settings, KVMSettings)
        return operator_runner.start("kvm-operator", [kvm_controller(Shared(settings))], settings=settings)

    yield start
    for config in kube.list(KVM_CONFIG)["items"]:
        kube.delete(KVM_CONFIG, config["metadata"]["name"], config["metadata"]["namespace"])
    wait_progressing(lambda: kvm_configs_left(kube), stall=120, limit=600, message="KVMConfigs at teardown")


def kvm_configs_left(kube: KubeClient, namespace: str | None = None) -> dict[str, str]:
    """The KVMConfigs still there, and what holds them (finalizers, conditions not True)."""
    left = {}
    for config in kube.list(KVM_CONFIG, namespace)["items"]:
        held = [
            f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {str(c.get('message', ''))[:120]}"
            for c in (config.get("status") or {}).get("conditions") or []
            if c.get("status") != "True"
        ]
        left[config["metadata"]["name"]] = f"finalizers={config['metadata'].get('finalizers')} {', '.join(held)}"
    return left


def kvm_config(name: str, namespace: str, version: str = "1.36.3", **spec: Any) -> Object:
    return {
        "apiVersion": KVM_CONFIG.api_version,
        "kind": KVM_CONFIG.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterID": name, "kubernetesVersion": version, **spec},
    }


def status(kube: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    return status_of(kube, KVM_CONFIG, name, namespace)


def condition(kube: KubeClient, name: str, namespace: str, type_: str) -> dict[str, Any]:
    return condition_of(kube, KVM_CONFIG, name, namespace, type_=type_) or {}


class GuestAccess:
    """A guest's kubeconfig Secret, pointed at one HAProxy (users resolve api.<cluster>.<base domain> to it; the
    server name stays the cluster's for SNI), and the same credentials for a raw HTTPS client."""

    def __init__(
        self, kube: KubeClient, cluster: str, namespace: str, haproxy: str, workdir: Path, port: int = 443
    ) -> None:
        secret = kube.get(SECRET, kubeconfig_secret(cluster), namespace)
        config = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
        self.cluster = config["clusters"][0]["cluster"]
        self.user = config["users"][0]["user"]
        self.hostname: str = self.cluster["tls-server-name"]
        self.haproxy = haproxy
        self.port = port
        config["clusters"][0]["cluster"]["server"] = f"https://{haproxy}:{port}"
        self.kubeconfig = workdir / f"{cluster}.kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.workdir = workdir

    def kubeconfig_as(self, other: GuestAccess) -> Path:
        """This cluster's endpoint with ``other``'s admin credentials."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"][0]["user"] = other.user
        path = self.workdir / f"{uuid.uuid4().hex[:6]}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    def context(self) -> ssl.SSLContext:
        ca = base64.b64decode(self.cluster["certificate-authority-data"]).decode()
        context = ssl.create_default_context(cadata=ca)
        cert, private = self.workdir / f"{self.hostname}.crt", self.workdir / f"{self.hostname}.key"
        cert.write_bytes(base64.b64decode(self.user["client-certificate-data"]))
        private.write_bytes(base64.b64decode(self.user["client-key-data"]))
        context.load_cert_chain(cert, private)
        return context

    def get(self, context: ssl.SSLContext, path: str) -> int:
        """GET ``path`` on a fresh connection through HAProxy (each request may land on another replica)."""
        with (
            socket.create_connection((self.haproxy, self.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=self.hostname) as tls,
        ):
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.hostname}\r\nConnection: close\r\n\r\n".encode())
            return int(tls.recv(64).decode(errors="replace").split()[1])


def play_flannel(kube: KubeClient, cluster: str) -> None:
    """What flannel-operator reports once the cluster's network is up on the hosts: its bridge."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": now}
    kube.patch(
        FLANNEL_CONFIG,
        cluster,
        {"status": {"bridge": f"br-{cluster}", "network": "10.9.0.0/16", "vni": 9, "conditions": [ready]}},
        subresource="status",
    )


def register(guest: KubeClient, node: str, *, ready: bool = True, version: str = "v1.36.3") -> None:
    """What the VM's kubelet does: register its Node (with the labels its boot configuration names) and report it."""
    if guest.get_or_none(NODE, node) is None:
        labels = {key.POOL_LABEL: "default", "tier": "web", ACCELERATOR_LABEL: "tcg"}
        guest.create(NODE, {"metadata": {"name": node, "labels": labels}})
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready_condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "NodeStatusUnknown",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    guest.patch(
        NODE, node, {"status": {"conditions": [ready_condition], "nodeInfo": {"kubeletVersion": version}}},
        subresource="status",
    )  # fmt: skip


def pod_uid(kube: KubeClient, cluster: str, node: str) -> str | None:
    pod = kube.get_or_none(POD, node, key.workers_namespace(cluster))
    if pod is None or pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running":
        return None
    return str(pod["metadata"]["uid"])


def start_guest(kube: KubeClient, cluster: str, workdir: Path, port: int, etcd: EtcdServer) -> GuestAPIServer:
    """The guest's API server with the serving certificate and CA cert-operator issued for the cluster."""
    volume = SecretVolume(workdir / "apiserver")
    data = kube.get(SECRET, "apiserver", key.namespace(cluster))["data"]
    volume.write({name: base64.b64decode(value) for name, value in data.items()})
    return GuestAPIServer(
        workdir,
        etcd_url=etcd.url,
        serving_cert=volume.path("tls.crt"),
        serving_key=volume.path("tls.key"),
        client_ca=volume.path("ca.crt"),
        name=f"guest-{cluster}",
        port=port,
        service_cidr="172.31.0.0/16",  # the KVMConfig's default serviceCIDR: its add-ons' kube-dns is at .10
    )


def guest_client(kube: KubeClient, cluster: str, namespace: str, port: int, workdir: Path) -> KubeClient:
    """The cluster's admin kubeconfig (its Secret), pointed at the guest's API server."""
    return KubeClient.load(str(GuestAccess(kube, cluster, namespace, "127.0.0.1", workdir, port).kubeconfig))
