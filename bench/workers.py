"""Benchmark: worker VMs on the local mother's real node, every operator installed by its chart, QEMU under TCG
(/dev/kvm opens here but a guest makes no progress under it: real-nodes.md).

1. the platform, ``--runs`` times: a KVMConfig with one worker (1 CPU, 1 GiB) applied → control plane Ready →
   worker Node Ready in the guest (and the VM pod's creation → its Node Ready, as the two API servers recorded
   them); 1 → 2 workers (the second VM's boot); 2 → 1 (drain of the removed Node until its Node is gone); a shape
   change (memory 1 GiB → 1.25 GiB) replacing the VM (drain, power-off, new VM Ready); deletion → everything gone.
2. the peer, in the same run: the same node image booted by the same launcher outside the mother — no pod, no
   operator, no certificate from Vault, a guest kube-apiserver on a bridge of its own (tests/vm's harness): the
   launcher's start → Node Ready. The difference is what the platform adds (pod start, the init container's copy of
   the boot files, the route through HAProxy).

Usage: ``python bench/workers.py --runs 2`` (root: the real node is network namespaces).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubeception_testenv import ControlPlane, EtcdServer, OpenBaoServer, wait_for
from kubeception_testenv.guest import NodeGuest, WorkerVM
from kubeception_testenv.images import RECIPES, Recipe, build, build_all, extract, version
from kubeception_testenv.platform import Platform
from kvm_operator import bootconfig
from kvm_operator.spec import KVM_CONFIG
from operatorkit import KubeClient, get_condition, is_true
from operatorkit.kinds import NAMESPACE, NODE, POD

NS = "bench-workers"
POOL = {"name": "default", "replicas": 1, "cpus": 1, "memory": "1Gi", "disk": "4Gi"}
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def kvm_config(cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": KVM_CONFIG.api_version,
        "kind": KVM_CONFIG.kind,
        "metadata": {"name": cluster, "namespace": NS},
        "spec": {"clusterID": cluster, "kubernetesVersion": "1.36.3", "workerPools": [POOL]},
    }


def state(kube: KubeClient, cluster: str) -> dict[str, Any]:
    return dict(kube.get(KVM_CONFIG, cluster, NS).get("status") or {})


def workers(kube: KubeClient, cluster: str, wanted: str) -> bool:
    st = state(kube, cluster)
    return is_true(st, "WorkersReady") and st.get("workers") == wanted


def guest_client(platform: Platform, cluster: str, workdir: Path) -> KubeClient:
    path = workdir / f"{cluster}.kubeconfig"
    path.write_text(platform.guest_kubeconfig(NS, cluster))
    return KubeClient.load(str(path))


def pod_to_ready(kube: KubeClient, guest: KubeClient, cluster: str, node: str) -> float:
    pod = kube.get(POD, node, f"{cluster}-workers")
    ready = get_condition(guest.get(NODE, node)["status"], "Ready") or {}
    created = time.mktime(time.strptime(pod["metadata"]["creationTimestamp"], STAMP))
    return time.mktime(time.strptime(ready["lastTransitionTime"], STAMP)) - created


def platform_run(kube: KubeClient, platform: Platform, cluster: str, workdir: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    began = time.monotonic()
    kube.create(KVM_CONFIG, kvm_config(cluster))
    wait_for(lambda: is_true(state(kube, cluster), "Ready"), timeout=600, interval=0.5)
    found["ready"] = time.monotonic() - began
    wait_for(lambda: workers(kube, cluster, "1/1"), timeout=600, interval=0.5)
    found["worker"] = time.monotonic() - began
    guest = guest_client(platform, cluster, workdir)
    found["pod_to_node"] = pod_to_ready(kube, guest, cluster, "worker-default-0")

    kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [{**POOL, "replicas": 2}]}}, NS)
    began = time.monotonic()
    wait_for(lambda: workers(kube, cluster, "2/2"), timeout=600, interval=0.5)
    found["second"] = time.monotonic() - began
    found["second_pod_to_node"] = pod_to_ready(kube, guest, cluster, "worker-default-1")

    kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [POOL]}}, NS)
    began = time.monotonic()
    wait_for(lambda: guest.get_or_none(NODE, "worker-default-1") is None, timeout=600, interval=0.5)
    found["drain"] = time.monotonic() - began

    first = kube.get(POD, "worker-default-0", f"{cluster}-workers")["metadata"]["uid"]
    kube.patch(KVM_CONFIG, cluster, {"spec": {"workerPools": [{**POOL, "memory": "1280Mi"}]}}, NS)
    began = time.monotonic()

    def replaced() -> bool:
        pod = kube.get_or_none(POD, "worker-default-0", f"{cluster}-workers")
        return pod is not None and pod["metadata"]["uid"] != first and workers(kube, cluster, "1/1")

    wait_for(replaced, timeout=600, interval=0.5)
    found["replace"] = time.monotonic() - began

    began = time.monotonic()
    kube.delete(KVM_CONFIG, cluster, NS)
    wait_for(lambda: kube.get_or_none(KVM_CONFIG, cluster, NS) is None, timeout=600, interval=0.5)
    found["deleted"] = time.monotonic() - began
    return found


def peer_run(workdir: Path, boot_files: tuple[Path, Path], index: int) -> float:
    """The launcher booting the node image straight into a guest kube-apiserver (tests/vm's harness)."""
    host = "api.bench.kubeception.test"
    with NodeGuest(workdir / f"peer-{index}", host) as guest:
        node = f"peer-{index}"
        certificate = guest.node_certificate(node)
        config = workdir / f"peer-{index}.ign"
        config.write_bytes(
            bootconfig.dumps(
                bootconfig.render(
                    bootconfig.WorkerBoot(
                        node=node, api_host=host, api_port=guest.server.port, api_address=guest.gateway,
                        ca_pem=guest.pki.ca.cert.read_text(), cert_pem=certificate.cert.read_text(),
                        key_pem=certificate.key.read_text(), sandbox_image=f"ghcr.io/kubeception/pause:{version()}",
                    )
                )
            )
        )  # fmt: skip
        kube = KubeClient.load(str(guest.kubeconfig))
        vm = WorkerVM(workdir / f"peer-{index}-vm", guest, node, boot_files, config)
        began = time.monotonic()
        vm.launch()
        try:
            wait_for(lambda: kube.get_or_none(NODE, node), timeout=300, interval=0.2)
            kube.patch(NODE, node, {"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}})
            wait_for(lambda: guest.node_ready(node), timeout=300, interval=0.2)
            return time.monotonic() - began
        finally:
            vm.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeception-bench-workers-") as tmp:
        workdir = Path(tmp)
        (workdir / "boot").mkdir()
        node_image = build(Recipe.load(RECIPES / "node.yaml"))
        boot_files = extract(node_image, ["boot/vmlinuz", "boot/initrd.img"], workdir / "boot")
        print("# the peer: the launcher booting the node image outside the mother ...", file=sys.stderr, flush=True)
        peers = [peer_run(workdir, (boot_files[0], boot_files[1]), index) for index in range(args.runs)]
        with (
            ControlPlane(workdir / "plane", nodes=0, real_nodes=1, images=build_all()) as plane,
            OpenBaoServer(workdir / "openbao", host=plane.host, tls=True) as openbao,
            EtcdServer(workdir / "etcd", name="flannel-etcd", host=plane.host, tls=True) as etcd,
        ):
            kube = KubeClient.load(str(plane.kubeconfig))
            platform = Platform.on(plane, openbao, etcd)
            print("# installing the platform ...", file=sys.stderr, flush=True)
            platform.install()
            kube.create(NAMESPACE, {"metadata": {"name": NS}})
            runs = []
            for index in range(args.runs):
                print(f"# run {index + 1}: a guest cluster with worker VMs ...", file=sys.stderr, flush=True)
                runs.append(platform_run(kube, platform, f"bw{index}", workdir))
            platform.uninstall()

    print("\nWorker VMs on the real node (TCG, 1 CPU, 1 GiB), every operator in its pods:\n")
    print(
        "| run | apply → Ready (s) | apply → worker Node Ready (s) | VM pod → Node Ready (s) "
        "| 2nd VM: scale → Ready (s) | 2nd VM pod → Node Ready (s) | 2 → 1: drain → Node gone (s) "
        "| shape change → VM replaced, Ready (s) | delete → gone (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for index, run in enumerate(runs):
        print(
            f"| {index + 1} | {run['ready']:.1f} | {run['worker']:.1f} | {run['pod_to_node']:.0f} | "
            f"{run['second']:.1f} | {run['second_pod_to_node']:.0f} | {run['drain']:.1f} | {run['replace']:.1f} | "
            f"{run['deleted']:.1f} |"
        )
    print(f"\npeer: the launcher alone, start → Node Ready: {', '.join(f'{p:.1f}' for p in peers)} s")
    median = statistics.median(run["pod_to_node"] for run in runs)
    print(f"median VM pod created → Node Ready: {median:.0f} s (goal: 60 s under TCG on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
