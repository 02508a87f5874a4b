"""Worker VMs for real: every operator from its chart on the real node of the local mother, a KVMConfig with a worker
pool, and kvm-operator doing the rest — the node's certificate from cert-operator, the boot configuration, the
StatefulSet whose pod boots a VM (TCG here) that joins the guest through HAProxy. Then the pool's life: a pod of the
guest runs on the VM and ``kubectl logs`` reads it; 1 → 2 → 1 VMs, the removed Node drained first (its pod, under a
PodDisruptionBudget, moves to the other VM; the eviction is an Event in the guest); a patch-version change replaces
the VM after the control plane rolled; a VM killed from outside comes back; and deletion leaves nothing on the
node — no tap, no address claim, no disk, no QEMU."""

from __future__ import annotations

import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

from flannel_operator.spec import FLANNEL_CONFIG
from kubeception_testenv import wait_for
from kubeception_testenv.images import version
from kubeception_testenv.network import run
from kubeception_testenv.nodes import KUBELET_ROOT
from kvm_operator import key
from kvm_operator.launcher.tap import tap_name
from kvm_operator.spec import KVM_CONFIG
from operatorkit import KubeClient, get_condition, is_true
from operatorkit.kinds import DEPLOYMENT, EVENT, NAMESPACE, NODE, POD, POD_DISRUPTION_BUDGET
from operatorkit.testing import condition_of
from tests.ingress.conftest import kubectl
from tests.kvm.conftest import GuestAccess, kvm_config, status
from tests.realnodes.helpers import SMALL, wait_ready

if TYPE_CHECKING:
    from pathlib import Path

POOL = {"name": "default", "replicas": 1, "cpus": 1, "memory": "1Gi", "disk": "4Gi"}
BUSYBOX = f"ghcr.io/kubeception/busybox:{version()}"
NODES = ("worker-default-0", "worker-default-1")


def workers_ready(kube: KubeClient, cluster: str, namespace: str, workers: str) -> bool:
    st = status(kube, cluster, namespace)
    return is_true(st, "WorkersReady") and st.get("workers") == workers


def wait_workers(kube: KubeClient, cluster: str, namespace: str, workers: str, timeout: float) -> None:
    try:
        wait_for(lambda: workers_ready(kube, cluster, namespace, workers), timeout=timeout)
    except TimeoutError as exc:
        said = condition_of(kube, KVM_CONFIG, cluster, namespace, type_="WorkersReady")
        raise AssertionError(f"workers not {workers}: {said}") from exc


def booted_in(kube: KubeClient, guest: KubeClient, cluster: str, node: str) -> float:
    """Seconds from the VM's pod created to its Node Ready, as the two API servers recorded them."""
    pod = kube.get(POD, node, key.workers_namespace(cluster))
    ready = get_condition(guest.get(NODE, node)["status"], "Ready") or {}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    created = time.mktime(time.strptime(pod["metadata"]["creationTimestamp"], stamp))
    return time.mktime(time.strptime(ready["lastTransitionTime"], stamp)) - created


def restart_count(kube: KubeClient, workers: str) -> int:
    return int(kube.get(POD, NODES[0], workers)["status"]["containerStatuses"][0]["restartCount"])


def on_node(guest: KubeClient, name: str, namespace: str = "default") -> str | None:
    pods = guest.list(POD, namespace, label_selector=f"app={name}")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return running[0]["spec"].get("nodeName") if len(running) == 1 else None


def web(replicas: int = 1) -> dict[str, Any]:
    """A Deployment preferring the second VM (so scaling down has something to move)."""
    prefer = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-default-1"]}]}
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": prefer}]
                        }
                    },
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "web",
                            "image": BUSYBOX,
                            "imagePullPolicy": "Never",
                            "command": ["/bin/busybox", "sleep", "3600"],
                        }
                    ],
                },
            },
        },
    }


def test_a_worker_pool_boots_scales_drains_rolls_recovers_and_goes(
    platform, real_plane, real_kube, real_namespace, tmp_path: Path
):
    cluster, namespace = f"w{uuid.uuid4().hex[:6]}", real_namespace
    workers = key.workers_namespace(cluster)
    real_node = real_plane.real_node("real-node-0")
    haproxy = str(real_node.address.ip)
    started = time.monotonic()
    real_kube.create(KVM_CONFIG, kvm_config(cluster, namespace, controlPlane={"resources": SMALL}, workerPools=[POOL]))
    wait_ready(real_kube, cluster, namespace, timeout=300)
    wait_workers(real_kube, cluster, namespace, "1/1", timeout=300)
    print(f"\nKVMConfig with one worker applied -> worker Node Ready in {time.monotonic() - started:.1f} s")
    access = GuestAccess(real_kube, cluster, namespace, haproxy, tmp_path)
    guest = KubeClient.load(str(access.kubeconfig))
    print(f"worker-default-0: pod created -> Node Ready in {booted_in(real_kube, guest, cluster, NODES[0]):.1f} s")
    node = guest.get(NODE, "worker-default-0")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    assert node["metadata"]["labels"]["kubeception.io/accelerator"] == "tcg"
    assert node["spec"].get("podCIDR"), "the guest's controller-manager gave it a pod range"
    assert status(real_kube, cluster, namespace)["workerPools"][0]["nodes"][0]["accelerator"] == "tcg"
    bridge = real_kube.get(FLANNEL_CONFIG, cluster)["status"]["bridge"]

    # The guest schedules a pod on it, and reads its log through the kubelet.
    made = kubectl(
        access.kubeconfig, "run", "hello", "--image", BUSYBOX, "--image-pull-policy=Never", "--restart=Never",
        "--command", "--", "/bin/busybox", "echo", "hello from a VM",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    wait_for(
        lambda: (guest.get(POD, "hello", "default").get("status") or {}).get("phase") == "Succeeded",
        timeout=120,
        message="the guest's pod to run on the VM",
    )
    logs = kubectl(access.kubeconfig, "logs", "hello")
    assert (logs.returncode, logs.stdout.strip()) == (0, "hello from a VM"), logs.stderr

    # 1 → 2: a second VM; a Deployment with a budget lands on it.
    real_kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [{**POOL, "replicas": 2}]}}, namespace)
    wait_workers(real_kube, cluster, namespace, "2/2", timeout=300)
    print(f"worker-default-1: pod created -> Node Ready in {booted_in(real_kube, guest, cluster, NODES[1]):.1f} s")
    guest.create(DEPLOYMENT, web())
    budget = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"maxUnavailable": 1,
              "selector": {"matchLabels": {"app": "web"}}}}  # fmt: skip
    guest.create(POD_DISRUPTION_BUDGET, budget)
    wait_for(lambda: on_node(guest, "web") == "worker-default-1", timeout=120, message="web on the second VM")

    # 2 → 1: the second Node is drained (web moves to the first VM), then its VM stops and its Node goes.
    drain_started = time.monotonic()
    real_kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [POOL]}}, namespace)
    wait_for(lambda: on_node(guest, "web") == "worker-default-0", timeout=180, message="web moved to the first VM")
    wait_for(lambda: guest.get_or_none(NODE, "worker-default-1") is None, timeout=180, message="the Node gone")
    print(f"scale 2 -> 1: drained and Node removed in {time.monotonic() - drain_started:.1f} s")
    evicted = [e for e in guest.list(EVENT, "default")["items"] if e.get("reason") == "Evicted"]
    assert any("worker-default-1" in e["message"] for e in evicted), "the eviction is an Event in the guest"
    assert real_kube.get_or_none(POD, "worker-default-1", workers) is None
    wait_workers(real_kube, cluster, namespace, "1/1", timeout=60)

    # A patch-version change: the control plane rolls, then the VM is replaced by one with that kubelet.
    replace_started = time.monotonic()
    real_kube.patch(KVM_CONFIG, cluster, {"spec": {"kubernetesVersion": "1.36.1"}}, namespace)
    wait_for(
        lambda: (
            (n := guest.get_or_none(NODE, "worker-default-0")) is not None
            and n["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.1"
            and is_true(n["status"], "Ready")
        ),
        timeout=600,
        message="the worker replaced by a v1.36.1 VM",
    )
    print(f"1.36.3 -> 1.36.1: control plane rolled and worker replaced in {time.monotonic() - replace_started:.1f} s")
    wait_workers(real_kube, cluster, namespace, "1/1", timeout=120)
    wait_for(lambda: on_node(guest, "web") == "worker-default-0", timeout=180, message="web back on the new VM")

    # A VM killed from outside (its QEMU, by the host): the pod's container restarts it, and the Node is Ready again.
    tap = tap_name("worker-default-0", bridge)
    restarts = restart_count(real_kube, workers)
    subprocess.run(["pkill", "-KILL", "-f", f"id={tap},fd="], check=True)
    wait_for(
        lambda: (
            real_kube.get(POD, "worker-default-0", workers)["status"]["containerStatuses"][0]["restartCount"] > restarts
        ),
        timeout=60,
        message="the VM's container restarted",
    )
    wait_workers(real_kube, cluster, namespace, "1/1", timeout=300)

    # Deletion: nothing of the VMs is left on the node.
    pod_uid = real_kube.get(POD, "worker-default-0", workers)["metadata"]["uid"]
    real_kube.delete(KVM_CONFIG, cluster, namespace)
    wait_for(lambda: real_kube.get_or_none(KVM_CONFIG, cluster, namespace) is None, timeout=300, message="deleted")
    assert real_kube.get_or_none(NAMESPACE, workers) is None
    assert tap not in run("ip", "-o", "link", netns=real_node.address.netns).stdout
    assert subprocess.run(["pgrep", "-f", f"id={tap},fd="], check=False).returncode == 1, "no QEMU left"
    assert not real_node.path(f"{KUBELET_ROOT}/pods/{pod_uid}").exists(), "the VM's disk went with its pod"
    assert not real_node.path(f"/run/flannel/{bridge}.vms").exists(), "no address claim left"
