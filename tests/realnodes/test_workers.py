"""A worker VM in a pod of the local mother, joining a guest cluster the platform made — what kvm-operator's worker
pools will create, assembled here by hand from its parts: the node's certificate from cert-operator (a CertConfig
with the cluster CA's ``node`` role), the boot configuration ``bootconfig`` renders, and the pod ``vmpod`` specifies
(the node image's kernel copied by an init container, the launcher with its tap on the cluster's flannel bridge and
an address from the node's flannel lease). The VM's kubelet reaches the guest API through the HAProxy pod by SNI,
the guest's controller-manager gives the Node its pod range and its scheduler a pod, and deleting the VM's pod
powers the VM off and leaves no tap behind."""

from __future__ import annotations

import base64
import ipaddress
import time
import uuid
from typing import TYPE_CHECKING

from cert_operator.spec import CERT_CONFIG
from flannel_operator.spec import FLANNEL_CONFIG
from kubeception_testenv import wait_for
from kubeception_testenv.images import version
from kubeception_testenv.network import run
from kvm_operator import bootconfig
from kvm_operator.launcher.address import read_lease
from kvm_operator.launcher.vm import tap_name
from kvm_operator.settings import KVMSettings
from kvm_operator.spec import KVM_CONFIG
from kvm_operator.vmpod import VMPod
from operatorkit import is_true
from operatorkit.kinds import NAMESPACE, POD, SECRET
from tests.ingress.conftest import kubectl
from tests.kvm.conftest import kvm_config
from tests.realnodes.test_kvm import SMALL, GuestAccess, wait_ready

if TYPE_CHECKING:
    from pathlib import Path

NODE = "worker-default-0"


def guest_get(access: GuestAccess, kind: str, name: str, jsonpath: str) -> str:
    got = kubectl(access.kubeconfig, "get", kind, name, "-o", f"jsonpath={{{jsonpath}}}")
    return got.stdout.strip() if got.returncode == 0 else ""


def guest_node_ready(access: GuestAccess) -> bool:
    return guest_get(access, "node", NODE, ".status.conditions[?(@.type=='Ready')].status") == "True"


def test_a_worker_vm_in_a_pod_joins_its_guest_cluster_through_the_ingress(
    platform, real_plane, real_kube, real_namespace, tmp_path: Path
):
    cluster, namespace = f"w{uuid.uuid4().hex[:6]}", real_namespace
    real_node = real_plane.real_node("real-node-0")
    haproxy = str(real_node.address.ip)
    real_kube.create(KVM_CONFIG, kvm_config(cluster, namespace, controlPlane={"resources": SMALL}))
    wait_ready(real_kube, cluster, namespace, timeout=300)
    access = GuestAccess(real_kube, cluster, namespace, haproxy, tmp_path)
    bridge = real_kube.get(FLANNEL_CONFIG, cluster)["status"]["bridge"]

    # The node's certificate, from the cluster's CA (in Vault) by cert-operator.
    real_kube.create(
        CERT_CONFIG,
        {
            "apiVersion": CERT_CONFIG.api_version,
            "kind": CERT_CONFIG.kind,
            "metadata": {"name": f"node-{NODE}", "namespace": cluster},
            "spec": {"clusterID": cluster, "role": "node", "commonName": f"system:node:{NODE}"},
        },
    )
    wait_for(
        lambda: is_true(real_kube.get(CERT_CONFIG, f"node-{NODE}", cluster).get("status"), "Ready"),
        timeout=60,
        message="the node's certificate",
    )
    issued = {
        k: base64.b64decode(v).decode() for k, v in real_kube.get(SECRET, f"node-{NODE}", cluster)["data"].items()
    }
    config = bootconfig.render(
        bootconfig.WorkerBoot(
            node=NODE,
            api_host=access.hostname,
            api_port=443,
            api_address=ipaddress.IPv4Address(haproxy),
            ca_pem=issued["ca.crt"],
            cert_pem=issued["tls.crt"],
            key_pem=issued["tls.key"],
            sandbox_image=f"ghcr.io/kubeception/pause:{version()}",
            labels={"kubeception.io/pool": "default"},
        )
    )

    # Worker pods live apart from the control plane: their namespace allows privileged pods and holds nothing else.
    workers = f"{cluster}-workers"
    real_kube.create(
        NAMESPACE,
        {
            "metadata": {
                "name": workers,
                "labels": {"kubeception.io/cluster": cluster, "pod-security.kubernetes.io/enforce": "privileged"},
            }
        },
    )
    real_kube.create(
        SECRET,
        {
            "metadata": {"name": "worker-default-boot", "namespace": workers},
            "data": {f"{NODE}.ign": base64.b64encode(bootconfig.dumps(config)).decode()},
        },
    )
    settings = KVMSettings()
    pod = VMPod(
        node_image=f"{settings.images.node}:v1.36.3",
        vm_image=settings.images.vm,
        bridge=bridge,
        boot_secret="worker-default-boot",
        cpus=1,
        memory_mib=1024,
        disk_gib=4,
        accelerator="tcg",  # /dev/kvm opens here but a guest makes no progress under it (real-nodes.md)
        node_selector={"kubernetes.io/hostname": "real-node-0"},
    )
    started = time.monotonic()
    real_kube.create(
        POD,
        {
            "metadata": {"name": NODE, "namespace": workers, "labels": {"kubeception.io/cluster": cluster}},
            "spec": pod.spec(),
        },
    )
    try:
        wait_for(lambda: guest_node_ready(access), timeout=300, message=f"guest Node {NODE} Ready")
    except TimeoutError:
        logs = kubectl(platform.kubeconfig, "logs", "-n", workers, NODE, "--all-containers", "--tail=60")
        raise AssertionError(f"VM pod's log:\n{logs.stdout}{logs.stderr}") from None
    print(f"\nworker VM pod created -> guest Node Ready in {time.monotonic() - started:.1f} s")
    internal = guest_get(access, "node", NODE, ".status.addresses[?(@.type=='InternalIP')].address")
    lease = read_lease(real_node.path(f"/run/flannel/{bridge}.env"))
    assert ipaddress.IPv4Address(internal) in lease.network, "an address of the node's lease"
    assert guest_get(access, "node", NODE, ".spec.podCIDR"), "the guest's controller-manager gave it a pod range"

    # The guest schedules a pod on it, and reads its log through the kubelet.
    made = kubectl(
        access.kubeconfig, "run", "hello", "--image", f"ghcr.io/kubeception/busybox:{version()}",
        "--image-pull-policy=Never", "--restart=Never", "--command", "--", "/bin/busybox", "echo", "hello from a VM",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    wait_for(
        lambda: (
            kubectl(access.kubeconfig, "get", "pod", "hello", "-o", "jsonpath={.status.phase}").stdout == "Succeeded"
        ),
        timeout=120,
        message="the guest's pod to run on the VM",
    )
    logs = kubectl(access.kubeconfig, "logs", "hello")
    assert (logs.returncode, logs.stdout.strip()) == (0, "hello from a VM"), logs.stderr

    # Deleting the pod powers the VM off (the launcher's SIGTERM); its tap and address claim go with it.
    tap = tap_name(NODE)
    assert tap in run("ip", "-o", "link", netns=real_node.address.netns).stdout
    real_kube.delete(POD, NODE, workers)
    wait_for(lambda: real_kube.get_or_none(POD, NODE, workers) is None, timeout=120, message="the VM's pod to go")
    assert tap not in run("ip", "-o", "link", netns=real_node.address.netns).stdout
    assert not [p for p in real_node.path(f"/run/flannel/{bridge}.vms").iterdir() if p.name != ".lock"]

    # What the worker pool will own goes with it: the node's certificate (revoked; the CA stays until its last
    # certificate is gone) and the workers' namespace.
    real_kube.delete(CERT_CONFIG, f"node-{NODE}", cluster)
    real_kube.delete(NAMESPACE, workers)
    real_kube.delete(KVM_CONFIG, cluster, namespace)
    wait_for(lambda: real_kube.get_or_none(KVM_CONFIG, cluster, namespace) is None, timeout=180, message="deleted")
