"""kvm-operator as its chart deploys it, beside cert-, flannel- and ingress-operator, on a real node: a KVMConfig
gives a guest cluster whose control plane runs in pods from the kubernetes image (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler) and whose API answers through the HAProxy pod by SNI with the kubeconfig
Secret the operator wrote; its NetworkPolicies hold (etcd admits its API server and no other pod); another guest's
admin certificate is refused; a 3-replica control plane upgrades from the previous patch release while a client
keeps asking, and deletion leaves nothing."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import yaml

from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import wait_for
from kvm_operator import key
from kvm_operator.resources.apiserver import PORT as API_PORT
from kvm_operator.resources.etcd import CLIENT_PORT as ETCD_CLIENT_PORT
from kvm_operator.spec import KVM_CONFIG
from operatorkit.kinds import DEPLOYMENT, NAMESPACE, POD, STATEFUL_SET
from tests.ingress.conftest import kubectl
from tests.kvm.conftest import GuestAccess, kvm_config, status
from tests.realnodes.helpers import PYTHON_IMAGE, SMALL, connects, pod, ready, running, wait_ready

if TYPE_CHECKING:
    from pathlib import Path

    from operatorkit import KubeClient

PREVIOUS, CURRENT = "1.36.1", "1.36.3"


def pod_ip(kube: KubeClient, cluster: str, component: str) -> str:
    selector = ",".join(f"{label}={value}" for label, value in key.selector(cluster, component).items())
    (found,) = kube.list(POD, cluster, label_selector=selector)["items"][:1]
    return str(found["status"]["podIP"])


def probe_pod(name: str, namespace: str) -> dict[str, Any]:
    """A pod that sleeps (python3 for exec), fit for a namespace enforcing the restricted pod security standard."""
    manifest: dict[str, Any] = pod(name, namespace, PYTHON_IMAGE, ["sleep", "3600"])
    manifest["spec"]["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    manifest["spec"]["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    return manifest


def answering(access: GuestAccess) -> bool:
    listed = kubectl(access.kubeconfig, "get", "namespaces", "-o", "name", "--request-timeout=5s")
    return listed.returncode == 0 and "namespace/kube-system" in listed.stdout.split()


def running_versions(kube: KubeClient, cluster: str) -> set[str]:
    """The Kubernetes versions the control plane's running pods run (etcd's image is etcd's own version)."""
    return {
        container["image"].rsplit(":", 1)[1]
        for pod in kube.list(POD, cluster)["items"]
        if pod["status"].get("phase") == "Running"
        for container in pod["spec"]["containers"]
        if container["name"] != "etcd"
    }


class Asker(threading.Thread):
    """Asks the guest API for a namespace (a read that goes to etcd) as fast as it answers, until stopped."""

    def __init__(self, access: GuestAccess) -> None:
        super().__init__(daemon=True)
        self.access, self.context = access, access.context()
        self.answered = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                code = self.access.get(self.context, "/api/v1/namespaces/kube-system")
            except (OSError, ValueError, IndexError) as exc:
                self.failures.append(f"{time.strftime('%X')} {exc!r}")
                continue
            if code == 200:
                self.answered += 1
            else:
                self.failures.append(f"{time.strftime('%X')} HTTP {code}")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def test_kvmconfigs_give_guest_apis_through_haproxy_and_an_upgrade_drops_no_request(
    platform, real_plane, real_kube, real_namespace, tmp_path: Path
):
    namespace = real_namespace
    small, ha = f"g{uuid.uuid4().hex[:6]}", f"h{uuid.uuid4().hex[:6]}"
    haproxy = str(real_plane.real_node("real-node-0").address.ip)
    applied = time.monotonic()
    real_kube.create(KVM_CONFIG, kvm_config(small, namespace, CURRENT, controlPlane={"resources": SMALL}))
    real_kube.create(KVM_CONFIG, kvm_config(ha, namespace, PREVIOUS, controlPlane={"replicas": 3, "resources": SMALL}))
    wait_ready(real_kube, small, namespace, timeout=300)
    a = GuestAccess(real_kube, small, namespace, haproxy, tmp_path)
    wait_for(lambda: answering(a), timeout=60, message=f"{small}'s API answering through HAProxy")
    print(f"\n{small}: apply -> guest API answering through HAProxy in {time.monotonic() - applied:.1f} s")

    st = status(real_kube, small, namespace)
    assert st["kubernetesVersion"] == CURRENT
    assert st["controlPlaneReady"] == "1/1"
    assert st["endpoint"] == f"https://api.{small}.{platform.base_domain}"
    assert running_versions(real_kube, small) == {f"v{CURRENT}"}
    version = kubectl(a.kubeconfig, "version", "-o", "yaml")
    assert yaml.safe_load(version.stdout)["serverVersion"]["gitVersion"] == f"v{CURRENT}", version.stderr
    # The guest is a cluster of its own: what is created there is not in the mother.
    made = kubectl(a.kubeconfig, "create", "namespace", "only-in-the-guest")
    assert made.returncode == 0, made.stderr
    assert real_kube.get_or_none(NAMESPACE, "only-in-the-guest") is None
    # Its NetworkPolicies hold (kube-network-policies on the node): etcd admits the API server — which just answered
    # from it — and no other pod, not even one in the control plane's own namespace; the API server admits anyone.
    etcd_ip, api_ip = (pod_ip(real_kube, small, component) for component in (key.ETCD, key.APISERVER))
    real_kube.create(POD, probe_pod("probe", small))
    running(real_kube, "probe", small)
    assert connects(real_plane, small, "probe", api_ip, API_PORT)
    assert not connects(real_plane, small, "probe", etcd_ip, ETCD_CLIENT_PORT)
    real_kube.delete(POD, "probe", small)

    wait_ready(real_kube, ha, namespace, timeout=300)
    b = GuestAccess(real_kube, ha, namespace, haproxy, tmp_path)
    wait_for(lambda: answering(b), timeout=60, message=f"{ha}'s API answering through HAProxy")
    assert status(real_kube, ha, namespace)["controlPlaneReady"] == "3/3"
    assert running_versions(real_kube, ha) == {f"v{PREVIOUS}"}
    # Each guest trusts only its own CA: the other's admin is nobody there (TLS passes through HAProxy).
    for endpoint, stranger in ((a, b), (b, a)):
        refused = kubectl(endpoint.kubeconfig_as(stranger), "get", "namespaces", "--request-timeout=5s")
        assert refused.returncode != 0
        assert "Unauthorized" in refused.stderr or "must be logged in" in refused.stderr, refused.stderr

    # Upgrade the 3-replica control plane while a client asks without pause: not one request may fail.
    asker = Asker(b)
    asker.start()
    wait_for(lambda: asker.answered >= 20, timeout=30, message="the client answered before the upgrade")
    started = time.monotonic()
    real_kube.patch(KVM_CONFIG, ha, {"spec": {"kubernetesVersion": CURRENT}}, namespace)
    wait_for(
        lambda: (
            status(real_kube, ha, namespace).get("kubernetesVersion") == CURRENT
            and running_versions(real_kube, ha) == {f"v{CURRENT}"}
            and ready(real_kube, ha, namespace)
        ),
        timeout=600,
        message=f"{ha} upgraded to {CURRENT}",
    )
    rolled = time.monotonic() - started
    wait_for(lambda: asker.answered >= 20, timeout=30, message="the client answering after the upgrade")
    asker.stop()
    print(f"{ha}: upgrade {PREVIOUS} -> {CURRENT} with 3 replicas in {rolled:.0f} s, {asker.answered} requests, "
          f"{len(asker.failures)} failed")  # fmt: skip
    assert asker.failures == [], asker.failures[:10]
    assert asker.answered > 100
    version = kubectl(b.kubeconfig, "version", "-o", "yaml")
    assert yaml.safe_load(version.stdout)["serverVersion"]["gitVersion"] == f"v{CURRENT}", version.stderr
    for kind, name in ((STATEFUL_SET, key.ETCD), (DEPLOYMENT, key.APISERVER)):
        workload: dict[str, Any] = real_kube.get(kind, name, ha)
        assert workload["status"].get("readyReplicas") == 3

    # Deletion: control plane, children, namespace, route — nothing of either guest is left.
    for cluster in (small, ha):
        real_kube.delete(KVM_CONFIG, cluster, namespace)

    def gone(cluster: str) -> bool:
        return (
            real_kube.get_or_none(KVM_CONFIG, cluster, namespace) is None
            and real_kube.get_or_none(NAMESPACE, cluster) is None
            and real_kube.get_or_none(INGRESS_CONFIG, cluster) is None
        )

    for cluster in (small, ha):
        wait_for(functools.partial(gone, cluster), timeout=180, message=f"{cluster} deleted with everything it made")
    assert not answering(a), "the route must be gone with the cluster"
