"""Worker pools' orchestration on the kwok control plane: the VM pods are scheduled and "run" on kwok nodes, and the
guest's API is a real kube-apiserver serving with the certificates cert-operator issued for the cluster (as its
control-plane pod would), on loopback where the operator's ``routing.address`` points. The test registers each
VM's Node there, as the VM's kubelet would (the real-node tests boot real VMs whose kubelets do it), so what is
checked is what the operator does with what the guest reports: scale up as far as certificates are issued; scale
down after draining through the Eviction API, a PodDisruptionBudget holding it; a version change replacing a VM
after the control plane rolled; a NotReady Node repaired; the removed VM's Node, certificate and pod gone; and
deletion leaving nothing."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import time
import uuid
from typing import Any

import pytest

from guestkit import CERT_CONFIG
from kubeception_testenv import EtcdServer, wait_for
from kubeception_testenv._ports import free_port
from kvm_operator import key
from kvm_operator.shared import FLANNEL_CONFIG
from kvm_operator.spec import KVM_CONFIG
from operatorkit import ApiError, KubeClient, is_true
from operatorkit.kinds import (
    CLUSTER_ROLE_BINDING,
    CONFIG_MAP,
    DAEMON_SET,
    DEPLOYMENT,
    EVENT,
    NAMESPACE,
    NODE,
    POD,
    POD_DISRUPTION_BUDGET,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    STATEFUL_SET,
)
from operatorkit.testing import metric_sum
from tests.conftest import throwaway_namespace
from tests.kvm.conftest import condition, guest_client, kvm_config, play_flannel, pod_uid, register, start_guest, status

POOL = {"name": "default", "replicas": 1, "cpus": 1, "memory": "1Gi", "disk": "4Gi", "labels": {"tier": "web"}}


def pool_status(kube: KubeClient, cluster: str, namespace: str) -> dict[str, Any]:
    pools = status(kube, cluster, namespace).get("workerPools") or [{}]
    return dict(pools[0])


def workers_say(kube: KubeClient, cluster: str, namespace: str, text: str) -> bool:
    return text in condition(kube, cluster, namespace, "WorkersReady").get("message", "")


def said(kube: KubeClient, namespace: str, reason: str, text: str) -> bool:
    """An Event with this reason whose message holds ``text``; waited for, since events are written after the act."""
    return any(text in e["message"] for e in kube.list(EVENT, namespace)["items"] if e.get("reason") == reason)


def versions(kube: KubeClient, cluster: str, namespace: str) -> dict[str, str]:
    """The resourceVersion of the KVMConfig and of every object kvm-operator keeps for it on the mother: equal
    before and after means nothing was written. (A process-wide write count also counts other tests' operators
    still cleaning up: their Events and revocations.)"""
    found = {"kvmconfig": kube.get(KVM_CONFIG, cluster, namespace)["metadata"]["resourceVersion"]}
    for kind in (SECRET, STATEFUL_SET, CERT_CONFIG, FLANNEL_CONFIG, POD_DISRUPTION_BUDGET):
        for where in (key.namespace(cluster), key.workers_namespace(cluster)):
            for item in kube.list(kind, where)["items"]:
                found[f"{kind.kind}/{where}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return found


def guest_writes(port: int) -> float:
    """Every write any in-process operator sent to the guest API server on ``port`` so far."""
    return metric_sum(
        "rest_client_requests_total",
        method=lambda method: method in ("POST", "PUT", "PATCH", "DELETE"),
        host=lambda host: host.endswith(f":{port}"),
    )


def reconciles() -> float:
    return metric_sum("controller_runtime_reconcile_total", controller="kvmconfig")  # every result


def addons_say(kube: KubeClient, cluster: str, namespace: str, text: str, status_: str = "False") -> bool:
    found = condition(kube, cluster, namespace, "AddonsReady")
    return found.get("status") == status_ and text in found.get("message", "")


def kube_proxy_image(guest: KubeClient) -> str:
    return str(guest.get(DAEMON_SET, "kube-proxy", "kube-system")["spec"]["template"]["spec"]["containers"][0]["image"])


def play_rollout(guest: KubeClient, ready: int) -> None:
    """What the guest's DaemonSet and Deployment controllers report (this guest runs none): ``ready`` pods each."""
    workloads = ((DAEMON_SET, "flannel"), (DAEMON_SET, "network-policies"), (DAEMON_SET, "kube-proxy"),
                 (DEPLOYMENT, "coredns"))  # fmt: skip
    for kind, name in workloads:
        obj = guest.get(kind, name, "kube-system")
        generation = obj["metadata"]["generation"]
        if kind == DAEMON_SET:
            counts = {"desiredNumberScheduled": 1, "numberReady": ready, "updatedNumberScheduled": 1,
                      "currentNumberScheduled": 1, "numberMisscheduled": 0}  # fmt: skip
        else:
            counts = {"replicas": 1, "readyReplicas": ready, "updatedReplicas": 1}
        guest.patch(kind, name, {"status": {"observedGeneration": generation, **counts}}, "kube-system",
                    subresource="status")  # fmt: skip


def check_addons(kube: KubeClient, guest: KubeClient, cluster: str, namespace: str) -> None:
    """kube-proxy and CoreDNS applied in the guest with their label and field manager; AddonsReady counts their
    pods; drift and a deleted object repaired; an object of the same name that is not the operator's left alone and
    named."""
    proxy = guest.get(DAEMON_SET, "kube-proxy", "kube-system")
    assert proxy["metadata"]["labels"][key.ADDON_LABEL] == "kube-proxy"
    assert {f["manager"] for f in proxy["metadata"]["managedFields"]} >= {key.ADDON_MANAGER}
    assert kube_proxy_image(guest) == "ghcr.io/kubeception/kube-proxy:v1.36.3"
    assert guest.get(DEPLOYMENT, "coredns", "kube-system")["spec"]["replicas"] == 1, "min(2, workers)"
    dns = guest.get(SERVICE, "kube-dns", "kube-system")
    assert dns["spec"]["clusterIP"] == "172.31.0.10"
    assert dns["metadata"]["labels"][key.ADDON_LABEL] == "coredns"
    assert guest.get(CLUSTER_ROLE_BINDING, "kubeception:kube-proxy")["roleRef"]["name"] == "system:node-proxier"
    # No controller runs their pods here: not ready, and the condition says what it counted.
    wait_for(
        lambda: addons_say(kube, cluster, namespace, "DaemonSet kube-system/kube-proxy not yet observed"),
        timeout=30,
        message="AddonsReady names what is not running",
    )
    play_rollout(guest, ready=0)
    wait_for(
        lambda: addons_say(kube, cluster, namespace, "not ready: coredns: Deployment kube-system/coredns 0/1 ready"),
        timeout=30,
        message="AddonsReady counts ready pods",
    )
    play_rollout(guest, ready=1)
    wait_for(
        lambda: addons_say(kube, cluster, namespace, "kube-proxy: DaemonSet kube-system/kube-proxy 1/1 ready", "True"),
        timeout=30,
        message="AddonsReady True once every add-on's pods are ready",
    )
    # Drift: a changed field and a deleted object, both put back by the next health check.
    guest.patch(DEPLOYMENT, "coredns", {"spec": {"replicas": 5}}, "kube-system", field_manager="someone")
    guest.delete(CONFIG_MAP, "kube-proxy", "kube-system")
    wait_for(
        lambda: (
            guest.get(DEPLOYMENT, "coredns", "kube-system")["spec"]["replicas"] == 1
            and guest.get_or_none(CONFIG_MAP, "kube-proxy", "kube-system") is not None
        ),
        timeout=30,
        message="drift repaired",
    )
    wait_for(lambda: said(kube, namespace, "AddonRepaired", "Deployment kube-system/coredns"), timeout=30,
             message="AddonRepaired Event")  # fmt: skip
    # Someone else's kube-dns: never touched, named in the condition; the rest of CoreDNS waits for it.
    guest.delete(SERVICE, "kube-dns", "kube-system")
    foreign = guest.create(
        SERVICE,
        {
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"owner": "user"}},
            "spec": {"ports": [{"port": 5353, "protocol": "UDP"}]},
        },
    )
    wait_for(
        lambda: addons_say(
            kube, cluster, namespace, "coredns not applied: Service kube-system/kube-dns exists without"
        ),
        timeout=30,
        message="the foreign object named",
    )
    assert condition(kube, cluster, namespace, "AddonsReady")["reason"] == "Refused"
    guest.patch(DEPLOYMENT, "coredns", {"spec": {"replicas": 4}}, "kube-system", field_manager="someone")
    passes = reconciles()
    wait_for(lambda: reconciles() >= passes + 3, timeout=30, message="three more passes")
    found = guest.get(SERVICE, "kube-dns", "kube-system")
    assert found["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"], "left alone"
    assert guest.get(DEPLOYMENT, "coredns", "kube-system")["spec"]["replicas"] == 4, "nothing of CoreDNS applied"
    guest.delete(SERVICE, "kube-dns", "kube-system")
    wait_for(
        lambda: (
            (svc := guest.get_or_none(SERVICE, "kube-dns", "kube-system")) is not None
            and svc["metadata"]["labels"].get(key.ADDON_LABEL) == "coredns"
        ),
        timeout=30,
        message="the operator's own kube-dns once the foreign one is gone",
    )
    play_rollout(guest, ready=1)
    wait_for(lambda: addons_say(kube, cluster, namespace, "1/1 ready", "True"), timeout=30, message="Ready again")


@pytest.fixture
def guest_port() -> int:
    return free_port()


def test_a_pool_scales_drains_rolls_repairs_and_goes(kube, namespace, start_kvm, guest_port, tmp_path):
    start_kvm(
        routing={"address": "127.0.0.1", "port": guest_port},
        vms={"repair_after_seconds": 10, "drain_timeout_seconds": 120, "health_check_seconds": 1},
    )
    cluster = f"w{uuid.uuid4().hex[:6]}"
    workers = key.workers_namespace(cluster)
    kube.create(KVM_CONFIG, kvm_config(cluster, namespace, workerPools=[POOL]))
    wait_for(lambda: is_true(status(kube, cluster, namespace), "CertificatesReady"), timeout=90, message="PKI")
    # Without a network, no VM starts; the condition says what it waits for.
    wait_for(
        lambda: workers_say(kube, cluster, namespace, "network"), timeout=60, message="WorkersReady waits for network"
    )
    assert kube.get_or_none(STATEFUL_SET, "worker-default", workers) is None
    play_flannel(kube, cluster)

    with (
        EtcdServer(tmp_path / "etcd", name=f"etcd-{cluster}") as etcd,
        start_guest(kube, cluster, tmp_path, guest_port, etcd),
    ):
        guest = guest_client(kube, cluster, namespace, guest_port, tmp_path)

        # One VM: its certificate, its boot configuration, its pod (node name = pod name) in a privileged namespace.
        wait_for(lambda: pod_uid(kube, cluster, "worker-default-0"), timeout=90, message="the first VM's pod")
        assert kube.get(NAMESPACE, workers)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
        certificate = kube.get(CERT_CONFIG, "node-worker-default-0", cluster)["spec"]
        assert (certificate["role"], certificate["commonName"]) == ("node", "system:node:worker-default-0")
        boot = kube.get(SECRET, "worker-default-boot", workers)["data"]
        config = json.loads(gzip.decompress(base64.b64decode(boot["worker-default-0.ign"])))
        assert config["ignition"]["version"] == "3.4.0"
        kubelet = next(u for u in config["systemd"]["units"] if u["name"] == "kubelet.service")["contents"]
        assert "--node-labels=kubeception.io/pool=default,tier=web" in kubelet
        workload = kube.get(STATEFUL_SET, "worker-default", workers)
        assert workload["spec"]["updateStrategy"] == {"type": "OnDelete"}
        vm = workload["spec"]["template"]["spec"]["containers"][0]
        assert vm["resources"]["requests"] == {"cpu": "1", "memory": "1344Mi"}  # 1Gi and QEMU's overhead
        assert "--bridge=br-" + cluster in vm["args"]
        init = workload["spec"]["template"]["spec"]["initContainers"][0]
        assert init["image"].endswith(":v1.36.3")
        wait_for(lambda: workers_say(kube, cluster, namespace, "0/1 Ready"), timeout=30, message="not Ready yet")
        register(guest, "worker-default-0")
        wait_for(lambda: is_true(status(kube, cluster, namespace), "WorkersReady"), timeout=30, message="1/1")
        # Steady state: the health check passes again and again (every second here), and writes nothing.
        before, written, passes = versions(kube, cluster, namespace), guest_writes(guest_port), reconciles()
        wait_for(lambda: reconciles() >= passes + 3, timeout=30, message="three more passes")
        assert versions(kube, cluster, namespace) == before, "an unchanged pool is not written again"
        assert guest_writes(guest_port) == written, "nor anything in the guest"
        st = status(kube, cluster, namespace)
        assert st["workers"] == "1/1"
        assert st["workerPools"][0]["nodes"] == [
            {"name": "worker-default-0", "ready": True, "version": "v1.36.3", "accelerator": "tcg", "upToDate": True}
        ]
        check_addons(kube, guest, cluster, namespace)

        # Scale up: the second VM starts once its certificate is issued.
        kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [{**POOL, "replicas": 2}]}}, namespace)
        wait_for(lambda: pod_uid(kube, cluster, "worker-default-1"), timeout=60, message="the second VM's pod")
        grown = kube.get(SECRET, "worker-default-boot", workers)["data"]
        assert grown["worker-default-0.ign"] == boot["worker-default-0.ign"], "the first node's config kept as it was"
        assert json.loads(gzip.decompress(base64.b64decode(grown["worker-default-1.ign"])))["ignition"]
        register(guest, "worker-default-1")
        wait_for(lambda: status(kube, cluster, namespace).get("workers") == "2/2", timeout=30, message="2/2")

        # Scale down: the highest-numbered Node is drained first. A budget allowing no disruption holds it.
        guest.create(SERVICE_ACCOUNT, {"metadata": {"name": "default", "namespace": "default"}})
        guest.create(
            POD,
            {
                "metadata": {"name": "app", "namespace": "default", "labels": {"app": "web"}},
                "spec": {
                    "nodeName": "worker-default-1",
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "app", "image": "ghcr.io/kubeception/busybox:0.2.0"}],
                },
            },
        )
        running = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}  # its kubelet says so
        guest.patch(POD, "app", {"status": running}, "default", subresource="status")
        budget = {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        }
        guest.create(POD_DISRUPTION_BUDGET, budget)
        kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [POOL]}}, namespace)
        wait_for(
            lambda: workers_say(kube, cluster, namespace, "evictions refused: default/app"),
            timeout=60,
            message="the drain held by the budget, said in WorkersReady",
        )
        node = guest.get(NODE, "worker-default-1")
        assert node["spec"]["unschedulable"] is True
        assert kube.get(STATEFUL_SET, "worker-default", workers)["spec"]["replicas"] == 2, "the VM stays meanwhile"
        guest.delete(POD_DISRUPTION_BUDGET, "web", "default")
        wait_for(lambda: guest.get_or_none(POD, "app", "default") is None, timeout=60, message="the pod evicted")
        wait_for(
            lambda: said(guest, "default", "Evicted", "drain Node worker-default-1"),
            timeout=30,
            message="said in the guest",
        )
        wait_for(lambda: kube.get_or_none(POD, "worker-default-1", workers) is None, timeout=60, message="VM gone")
        wait_for(lambda: guest.get_or_none(NODE, "worker-default-1") is None, timeout=30, message="its Node gone")
        wait_for(
            lambda: kube.get_or_none(CERT_CONFIG, "node-worker-default-1", cluster) is None,
            timeout=30,
            message="its certificate gone",
        )
        wait_for(
            lambda: said(kube, namespace, "NodeDrained", "worker-default-1 drained"),
            timeout=30,
            message="NodeDrained Event",
        )
        wait_for(lambda: status(kube, cluster, namespace).get("workers") == "1/1", timeout=30, message="1/1")

        # A new patch version: the control plane rolls first, then the VM is replaced (drained, pod deleted).
        first = pod_uid(kube, cluster, "worker-default-0")
        kube.patch(KVM_CONFIG, cluster, {"spec": {"kubernetesVersion": "1.36.4"}}, namespace)
        wait_for(
            lambda: (uid := pod_uid(kube, cluster, "worker-default-0")) is not None and uid != first,
            timeout=180,
            message="the VM replaced after the control plane's upgrade",
        )
        assert status(kube, cluster, namespace)["kubernetesVersion"] == "1.36.4"
        replaced = kube.get(STATEFUL_SET, "worker-default", workers)["spec"]["template"]["spec"]["initContainers"][0]
        assert replaced["image"].endswith(":v1.36.4")
        wait_for(lambda: guest.get_or_none(NODE, "worker-default-0") is None, timeout=30, message="the old Node gone")
        register(guest, "worker-default-0", version="v1.36.4")
        wait_for(lambda: is_true(status(kube, cluster, namespace), "WorkersReady"), timeout=30, message="rolled")
        assert pool_status(kube, cluster, namespace)["nodes"][0]["version"] == "v1.36.4"
        wait_for(
            lambda: kube_proxy_image(guest) == "ghcr.io/kubeception/kube-proxy:v1.36.4",
            timeout=30,
            message="kube-proxy follows the cluster's version",
        )
        wait_for(
            lambda: said(kube, namespace, "WorkerReplaced", "new version or shape"),
            timeout=30,
            message="WorkerReplaced Event",
        )

        # A Node NotReady longer than the threshold: its VM is replaced.
        second = pod_uid(kube, cluster, "worker-default-0")
        register(guest, "worker-default-0", ready=False, version="v1.36.4")
        wait_for(
            lambda: (uid := pod_uid(kube, cluster, "worker-default-0")) is not None and uid != second,
            timeout=60,
            message="the unhealthy VM repaired",
        )
        wait_for(
            lambda: said(kube, namespace, "WorkerRepaired", "worker-default-0 replaced"),
            timeout=30,
            message="WorkerRepaired Event",
        )

        # Deletion: no draining, everything of the workers goes.
        kube.delete(KVM_CONFIG, cluster, namespace)
        wait_for(lambda: kube.get_or_none(KVM_CONFIG, cluster, namespace) is None, timeout=120, message="deleted")
    assert kube.get_or_none(NAMESPACE, workers) is None
    assert not [c for c in kube.list(CERT_CONFIG)["items"] if c["metadata"]["name"].startswith("node-")]


def test_many_clusters_and_pools_start_their_vms_and_go(kube, namespace, start_kvm, tmp_path):
    """Ten clusters of two pools each: every VM gets its certificate, boot configuration and pod; with no guest API
    answering, nothing is drained or repaired, and WorkersReady says why; deleting them leaves nothing."""
    start_kvm(routing={"address": "127.0.0.1", "port": free_port()}, vms={"health_check_seconds": 2}, workers=8)
    clusters = [f"m{index}{uuid.uuid4().hex[:5]}" for index in range(10)]
    pools = [{"name": "small", "replicas": 3, "cpus": 1, "memory": "512Mi"}, {"name": "big", "replicas": 2, "cpus": 2}]
    for cluster in clusters:
        kube.create(KVM_CONFIG, kvm_config(cluster, namespace, workerPools=pools))
    wait_for(
        lambda: all(is_true(status(kube, c, namespace), "ControlPlaneAvailable") for c in clusters),
        timeout=240,
        message="control planes available",
    )
    for cluster in clusters:
        play_flannel(kube, cluster)

    def started(cluster: str) -> bool:
        found = kube.list(POD, key.workers_namespace(cluster))["items"]
        return len([p for p in found if (p.get("status") or {}).get("phase") == "Running"]) == 5

    wait_for(lambda: all(map(started, clusters)), timeout=240, interval=1, message="50 VM pods running")
    for cluster in clusters:
        names = {p["metadata"]["name"] for p in kube.list(POD, key.workers_namespace(cluster))["items"]}
        assert names == {"worker-small-0", "worker-small-1", "worker-small-2", "worker-big-0", "worker-big-1"}
        assert len(kube.list(CERT_CONFIG, cluster, label_selector=key.POOL_LABEL)["items"]) == 5
        wait_for(
            functools.partial(workers_say, kube, cluster, namespace, "did not answer"),
            timeout=30,
            message="WorkersReady says the guest API does not answer",
        )
    # The same cluster id from another tenant's namespace, with the same pools: refused, naming the holder. Its
    # deletion waits for nothing of the holder's — not for the VMs of the same name — and finishes at once.
    taken = clusters[1]
    vms = {p["metadata"]["uid"] for p in kube.list(POD, key.workers_namespace(taken))["items"]}
    with throwaway_namespace(kube) as other:
        kube.create(KVM_CONFIG, kvm_config(taken, other, workerPools=pools))
        wait_for(
            lambda: f"KVMConfig {namespace}/{taken}" in condition(kube, taken, other, "Ready").get("message", ""),
            timeout=30,
            message="the second claim refused, naming the first",
        )
        began = time.monotonic()
        kube.delete(KVM_CONFIG, taken, other)
        wait_for(
            lambda: kube.get_or_none(KVM_CONFIG, taken, other) is None,
            timeout=10,
            message="the refused KVMConfig deleted within seconds",
        )
        print(f"\nthe refused KVMConfig deleted in {time.monotonic() - began:.1f} s")
    assert {p["metadata"]["uid"] for p in kube.list(POD, key.workers_namespace(taken))["items"]} == vms
    assert kube.get(STATEFUL_SET, "worker-small", key.workers_namespace(taken))["spec"]["replicas"] == 3
    assert kube.get(NAMESPACE, taken)["metadata"].get("deletionTimestamp") is None

    # Scaling down without a guest to drain through: refused, the VM stays.
    kube.patch(KVM_CONFIG, clusters[0], {"spec": {"workerPools": [{**pools[0], "replicas": 2}, pools[1]]}}, namespace)
    wait_for(
        lambda: workers_say(kube, clusters[0], namespace, "waits for the guest API to drain it"),
        timeout=30,
        message="the drain waits",
    )
    assert kube.get(STATEFUL_SET, "worker-small", key.workers_namespace(clusters[0]))["spec"]["replicas"] == 3

    for cluster in clusters:
        kube.delete(KVM_CONFIG, cluster, namespace)
    wait_for(
        lambda: not [c for c in kube.list(KVM_CONFIG, namespace)["items"] if c["metadata"]["name"] in clusters],
        timeout=240,
        message="all deleted",
    )
    for cluster in clusters:
        assert kube.get_or_none(NAMESPACE, key.workers_namespace(cluster)) is None
        with pytest.raises(ApiError):
            kube.get(NAMESPACE, cluster)
