"""Benchmark: the console's pages with many clusters. A local control plane (no operator: each cluster's status is
written as kvm-operator would), one organization holding ``--clusters`` KVMConfigs with two worker nodes each, and
the console serving as a platform admin; each page fetched ``--runs`` times over HTTP (to the last byte: the API
server's lists, the summaries and the HTML), p50/p99. Issue 27 asks for the 100-cluster list under 300 ms.

Usage: ``python bench/console.py --clusters 100``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _measure import percentile

from kubeception_testenv import ControlPlane
from kubectl_kubeception import console, manifests
from kubectl_kubeception.mother import KVM_CONFIG, Mother
from operatorkit import KubeClient
from operatorkit.kinds import NAMESPACE
from operatorkit.testing import apply_crds

ROOT = Path(__file__).parents[1]
NAMESPACE_NAME = "org-bench"


def populate(kube: KubeClient, clusters: int) -> None:
    kube.create(NAMESPACE, {"metadata": {"name": NAMESPACE_NAME, "labels": {
        "kubeception.io/role": "organization", "kubeception.io/organization": "bench"}}})  # fmt: skip
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def one(i: int) -> None:
        name = f"bench-{i:03d}"
        obj = manifests.kvm_config(
            name, NAMESPACE_NAME, version="1.36.3", workers=2, pool="default", cpus=None, memory=None, replicas=1
        )
        kube.create(KVM_CONFIG, obj, NAMESPACE_NAME)
        endpoint = f"https://api.{name}.example.test:443"
        nodes = [{"name": f"worker-default-{n}", "ready": True, "version": "1.36.3", "upToDate": True} for n in (0, 1)]
        status = {
            "kubernetesVersion": "1.36.3", "workers": "2/2", "endpoint": endpoint, "controlPlaneReady": "1/1",
            "conditions": [{"type": t, "status": "True", "reason": t, "message": f"{t} at {endpoint}",
                            "lastTransitionTime": stamp} for t in ("Ready", "WorkersReady", "AddonsReady")],
            "workerPools": [{"name": "default", "desired": 2, "ready": 2, "upToDate": 2, "nodes": nodes}],
        }  # fmt: skip
        kube.patch(KVM_CONFIG, name, {"status": status}, NAMESPACE_NAME, subresource="status")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(clusters)))


def timed(url: str, cookie: str, runs: int) -> tuple[float, float, int]:
    """p50 and p99 in ms of fetching ``url`` to its last byte, and the page's size."""
    times, size = [], 0
    for _ in range(runs):
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        begin = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as answer:
            size = len(answer.read())
            assert answer.status == 200, answer.status
        times.append((time.perf_counter() - begin) * 1000)
    return percentile(times, 50), percentile(times, 99), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="kubeception-bench-console-") as tmp,
        ControlPlane(Path(tmp) / "plane", nodes=1) as plane,
    ):
        kube = KubeClient.load(str(plane.kubeconfig))
        apply_crds(kube, *(ROOT / "crds" / f"{p}.kubeception.io.yaml" for p in ("kvmconfigs", "awsconfigs")))
        print(f"# {args.clusters} KVMConfigs with their status ...", file=sys.stderr, flush=True)
        populate(kube, args.clusters)
        server = console.serve(Mother.connect(str(plane.kubeconfig), None), [NAMESPACE_NAME])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base, cookie = f"http://127.0.0.1:{server.port}", f"{console.COOKIE}={server.token}"
        try:
            timed(base + "/clusters", cookie, 3)  # warm: connections, templates compiled
            rows = [
                (path, *timed(base + path, cookie, args.runs))
                for path in ("/clusters", "/", "/orgs/bench/clusters", f"/clusters/{NAMESPACE_NAME}/bench-000")
            ]
        finally:
            server.shutdown()
            server.server_close()
    print(f"The console with {args.clusters} clusters, as a platform admin, {args.runs} loads per page:\n")
    print("| page | p50 (ms) | p99 (ms) | size (KiB) |")
    print("| --- | --- | --- | --- |")
    for path, p50, p99, size in rows:
        print(f"| `{path}` | {p50:.0f} | {p99:.0f} | {size / 1024:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
