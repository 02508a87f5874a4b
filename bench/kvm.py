"""Benchmark: kvm-operator on the local mother, every operator installed by its chart (cert-, flannel-, ingress-
and kvm-operator, 2 replicas each, in pods on the real node; OpenBao and the network etcd on the host).

1. scale: 100 KVMConfigs created at once, their control planes and bridges on kwok nodes (scheduled, Running and
   Ready as kwok plays them; HAProxy on the real node routes to them). Time until every KVMConfig is Ready —
   its 10 certificates issued by cert-operator from its own Vault mount, its FlannelConfig Ready, its route served
   by HAProxy, its control plane available — p50/p99 per cluster, kvm-operator CPU and memory; then all deleted.
2. the peer, in the same run: what cert-operator needs for the same clusters without kvm-operator — 100
   namespaces, CAConfigs and 10 CertConfigs each (the specs kvm-operator wrote), created at once, until all
   Ready. The difference is kvm-operator's orchestration (and flannel's and HAProxy's share of the 2 cores).
3. real: one KVMConfig at a time (3 in a row), its control plane in pods on the real node: apply → guest API
   answering through HAProxy with the kubeconfig Secret (Kamaji's published figure: 16 s), apply → Ready,
   delete → everything gone.

Usage: ``make bench`` or ``python bench/kvm.py --clusters 100`` (root: the real node is network namespaces).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml
from _measure import percentile, wait_all_ready

from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import ControlPlane, EtcdServer, OpenBaoServer, find_binary, wait_for
from kubeception_testenv.images import build_all
from kubeception_testenv.platform import Platform
from kvm_operator.spec import KVM_CONFIG
from operatorkit import KubeClient, is_true
from operatorkit._runtime.informer import Informer
from operatorkit.kinds import NAMESPACE, SECRET

NS = "bench-kvm"


def kvm_config(cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": KVM_CONFIG.api_version,
        "kind": KVM_CONFIG.kind,
        "metadata": {"name": cluster, "namespace": NS},
        "spec": {"clusterID": cluster, "kubernetesVersion": "1.36.3"},
    }


def operator_processes(name: str) -> list[psutil.Process]:
    """The operator's pods' processes, as the host sees them (containers are host processes in namespaces)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "-m" in cmdline and name in cmdline:
            found.append(process)
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def rss_mib(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total = max(total, process.memory_info().rss)
    return total / 2**20  # the larger replica: the leader, which holds the caches and does the work


def wait_gone(kube: KubeClient, clusters: list[str], timeout: float) -> float:
    begin = time.monotonic()
    wait_for(
        lambda: (
            not kube.list(KVM_CONFIG, NS)["items"]
            and not any(ns["metadata"]["name"] in clusters for ns in kube.list(NAMESPACE)["items"])
        ),
        timeout=timeout,
        interval=0.5,
        message="every cluster deleted",
    )
    return time.monotonic() - begin


def scale(kube: KubeClient, clusters: list[str]) -> dict[str, Any]:
    configs = Informer(kube, KVM_CONFIG, namespace=NS)
    configs.start()
    configs.wait_synced(60)
    kvm = operator_processes("kvm_operator")
    cpu_before = cpu_seconds(kvm)
    starts: dict[str, float] = {}
    begin = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for cluster in clusters:
            starts[cluster] = time.monotonic()
            pool.submit(kube.create, KVM_CONFIG, kvm_config(cluster))
    latencies = wait_all_ready(configs, set(clusters), starts, 900)
    total = time.monotonic() - begin
    cpu = cpu_seconds(kvm) - cpu_before
    rss = rss_mib(kvm)
    configs.stop()
    specs = {
        "ca": kube.get(CA_CONFIG, "ca", clusters[0])["spec"],
        "certs": [c["spec"] for c in kube.list(CERT_CONFIG, clusters[0])["items"]],
        "names": [c["metadata"]["name"] for c in kube.list(CERT_CONFIG, clusters[0])["items"]],
    }
    cpu_delete = cpu_seconds(kvm)
    for cluster in clusters:
        kube.delete(KVM_CONFIG, cluster, NS)
    deleted = wait_gone(kube, clusters, 900)
    values = list(latencies.values())
    return {
        "total": total,
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "cpu": cpu,
        "cpu_delete": cpu_seconds(kvm) - cpu_delete,
        "rss": rss,
        "deleted": deleted,
        "specs": specs,
        "template": clusters[0],
    }


def peer(kube: KubeClient, clusters: list[str], specs: dict[str, Any], template: str) -> dict[str, Any]:
    """The same CAs and certificates for new cluster ids, created directly: cert-operator's share."""

    def rename(spec: dict[str, Any], cluster: str) -> dict[str, Any]:
        return dict(json.loads(json.dumps(spec).replace(template, cluster)))

    def create(cluster: str) -> None:
        kube.create(NAMESPACE, {"metadata": {"name": cluster}})
        kube.create(
            CA_CONFIG,
            {"apiVersion": CA_CONFIG.api_version, "kind": CA_CONFIG.kind,
             "metadata": {"name": "ca", "namespace": cluster}, "spec": rename(specs["ca"], cluster)},
        )  # fmt: skip
        for name, spec in zip(specs["names"], specs["certs"], strict=True):
            kube.create(
                CERT_CONFIG,
                {"apiVersion": CERT_CONFIG.api_version, "kind": CERT_CONFIG.kind,
                 "metadata": {"name": name, "namespace": cluster}, "spec": rename(spec, cluster)},
            )  # fmt: skip

    certs = Informer(kube, CERT_CONFIG)
    certs.start()
    certs.wait_synced(60)
    begin = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, clusters))
    per_cluster = len(specs["names"])

    def all_ready() -> bool:
        ready = [o for o in certs.store.objects() if is_true(o.get("status"), "Ready")]
        return len(ready) >= len(clusters) * per_cluster

    wait_for(all_ready, timeout=900, interval=0.05, message="every certificate Ready")
    total = time.monotonic() - begin
    certs.stop()
    for cluster in clusters:
        kube.delete(CA_CONFIG, "ca", cluster)
    for cluster in clusters:
        kube.delete(NAMESPACE, cluster)
    wait_for(
        lambda: not any(ns["metadata"]["name"] in clusters for ns in kube.list(NAMESPACE)["items"]),
        timeout=600,
        interval=0.5,
        message="peer namespaces gone",
    )
    return {"total": total}


def answering(kubeconfig: Path) -> bool:
    listed = subprocess.run(
        [str(find_binary("kubectl")), f"--kubeconfig={kubeconfig}", "get", "namespaces", "--request-timeout=3s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return listed.returncode == 0 and "kube-system" in listed.stdout


def is_ready(kube: KubeClient, cluster: str) -> bool:
    return is_true(kube.get(KVM_CONFIG, cluster, NS).get("status"), "Ready")


def real(kube: KubeClient, haproxy: str, runs: int, workdir: Path) -> list[dict[str, float]]:
    results = []
    for index in range(runs):
        cluster = f"real{index}"
        begin = time.monotonic()
        kube.create(KVM_CONFIG, kvm_config(cluster))
        path = workdir / f"{cluster}.kubeconfig"

        def written(cluster: str = cluster, path: Path = path) -> bool:
            secret = kube.get_or_none(SECRET, f"{cluster}-kubeconfig", NS)
            if secret is None:
                return False
            config = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
            config["clusters"][0]["cluster"]["server"] = f"https://{haproxy}:443"  # what DNS would give users
            path.write_text(yaml.safe_dump(config))
            return True

        wait_for(written, timeout=300, interval=0.1, message="the kubeconfig Secret")
        wait_for(functools.partial(answering, path), timeout=300, interval=0.1, message="the guest API answering")
        answered = time.monotonic() - begin
        wait_for(functools.partial(is_ready, kube, cluster), timeout=300, interval=0.1, message="Ready")
        ready = time.monotonic() - begin
        kube.delete(KVM_CONFIG, cluster, NS)
        deleted = wait_gone(kube, [cluster], 300)
        results.append({"answering": answered, "ready": ready, "deleted": deleted})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--real-runs", type=int, default=3)
    args = parser.parse_args()
    clusters = [f"b{index:03d}" for index in range(args.clusters)]
    with tempfile.TemporaryDirectory(prefix="kubeception-bench-kvm-") as tmp:
        workdir = Path(tmp)
        with (
            ControlPlane(workdir / "plane", nodes=3, real_nodes=1, images=build_all(), pods_per_node=500) as plane,
            OpenBaoServer(workdir / "openbao", host=plane.host, tls=True) as openbao,
            EtcdServer(workdir / "etcd", name="flannel-etcd", host=plane.host, tls=True) as etcd,
        ):
            kube = KubeClient.load(str(plane.kubeconfig))
            platform = Platform.on(plane, openbao, etcd, guest_nodes="type=kwok")
            print("# installing the platform (guests on kwok nodes) ...", file=sys.stderr, flush=True)
            platform.install()
            kube.create(NAMESPACE, {"metadata": {"name": NS}})
            print(f"# {len(clusters)} KVMConfigs at once ...", file=sys.stderr, flush=True)
            result = scale(kube, clusters)
            print("# the peer: the same CAs and certificates without kvm-operator ...", file=sys.stderr, flush=True)
            others = [f"p{index:03d}" for index in range(args.clusters)]
            direct = peer(kube, others, result["specs"], result["template"])
            print("# guests on the real node, one at a time ...", file=sys.stderr, flush=True)
            platform.guest_nodes = "kubeception.io/node=real"
            platform.install()
            haproxy = str(plane.real_node("real-node-0").address.ip)
            runs = real(kube, haproxy, args.real_runs, workdir)
            platform.uninstall()

    count = len(clusters)
    print(f"\n{count} KVMConfigs at once (control planes on kwok nodes), every operator in its pods:\n")
    print("| path | all Ready (s) | clusters/s | p50 per cluster (s) | p99 per cluster (s) |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| KVMConfig → Ready (children, network, route, control plane) | {result['total']:.1f} | "
          f"{count / result['total']:.2f} | {result['p50']:.1f} | {result['p99']:.1f} |")  # fmt: skip
    print(f"| peer: CAConfig + 10 CertConfigs per cluster, created directly | {direct['total']:.1f} | "
          f"{count / direct['total']:.2f} | | |")  # fmt: skip
    print(
        f"\nkvm-operator (leader + standby): CPU {result['cpu']:.1f} s to converge "
        f"({result['cpu'] / count * 1000:.0f} ms per cluster), {result['cpu_delete']:.1f} s to delete; "
        f"RSS {result['rss']:.0f} MiB; all {count} deleted in {result['deleted']:.1f} s"
    )
    print("\nOn the real node, one at a time (default resources):\n")
    print("| run | apply → API answering through HAProxy (s) | apply → Ready (s) | delete → gone (s) |")
    print("| --- | --- | --- | --- |")
    for index, run in enumerate(runs):
        print(f"| {index + 1} | {run['answering']:.1f} | {run['ready']:.1f} | {run['deleted']:.1f} |")
    if runs:  # --real-runs 0: the scale part only
        median = statistics.median(run["answering"] for run in runs)
        print(f"\nmedian apply → API answering: {median:.1f} s (Kamaji publishes 16 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
