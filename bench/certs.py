"""Benchmark: cert-operator issuing 500 certificates over 50 guest clusters, against real OpenBao.

Phase 1 creates 50 CAConfigs (a PKI mount, an internal root CA and a role each) and waits until all are Ready.
Phase 2 creates 500 CertConfigs (10 per cluster) at once; each one's issuance latency runs from just before its
create call until a watch sees it Ready with a serial. The peer is Vault itself: the same 500 issuances made
straight through hvac with as many threads as the operator has workers, on the same mounts and roles — the floor
any operator pays, since Vault generates every private key.
Usage: ``make bench`` or ``python bench/certs.py --clusters 50 --per-cluster 10``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hvac
import psutil
from _bytecode import compile_bytecode
from _measure import percentile, wait_all_ready

from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import ControlPlane, OpenBaoServer
from operatorkit import KubeClient
from operatorkit._runtime.informer import Informer
from operatorkit.kinds import NAMESPACE

ROOT = Path(__file__).resolve().parents[1]
NS = "bench-certs"


def ca_config(cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": CA_CONFIG.api_version,
        "kind": CA_CONFIG.kind,
        "metadata": {"name": cluster, "namespace": NS},
        "spec": {
            "clusterID": cluster,
            "commonName": f"{cluster} CA",
            "ttl": "8760h",
            "roles": [{"name": "component", "allowedDomains": [f"{cluster}.local"], "allowSubdomains": True}],
        },
    }


def cert_config(cluster: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": CERT_CONFIG.api_version,
        "kind": CERT_CONFIG.kind,
        "metadata": {"name": f"{cluster}-c{index}", "namespace": NS},
        "spec": {
            "clusterID": cluster,
            "role": "component",
            "commonName": f"c{index}.{cluster}.local",
            "ttl": "720h",
        },
    }


def run_operator(
    plane: ControlPlane, bao: OpenBaoServer, clusters: int, per_cluster: int, workers: int
) -> dict[str, Any]:
    kube = KubeClient.load(str(plane.kubeconfig))
    kube.create(NAMESPACE, {"metadata": {"name": NS}})
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "VAULT_TOKEN": bao.root_token}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cert_operator",
            f"--vault.address={bao.url}",
            f"--namespace={NS}",
            "--no-leader-election.enabled",
            f"--workers={workers}",
            "--http.metrics-address=127.0.0.1:0",
            "--http.probe-address=127.0.0.1:0",
            "--log-level=warning",
        ],
        env=env,
    )
    proc = psutil.Process(process.pid)
    cas = Informer(kube, CA_CONFIG, namespace=NS)
    certs = Informer(kube, CERT_CONFIG, namespace=NS)
    for informer in (cas, certs):
        informer.start()
        informer.wait_synced(60)
    try:
        names = [f"k{i:02d}" for i in range(clusters)]
        begin = time.monotonic()
        starts: dict[str, float] = {}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for name in names:
                starts[name] = time.monotonic()
                pool.submit(kube.create, CA_CONFIG, ca_config(name))
        ca_latency = wait_all_ready(cas, set(names), starts, 600)
        ca_seconds = time.monotonic() - begin

        wanted = [cert_config(c, i) for c in names for i in range(per_cluster)]
        starts = {}
        cpu_before = proc.cpu_times()
        begin = time.monotonic()

        def create(obj: dict[str, Any]) -> None:
            starts[obj["metadata"]["name"]] = time.monotonic()
            kube.create(CERT_CONFIG, obj)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, wanted))
        latency = wait_all_ready(certs, {o["metadata"]["name"] for o in wanted}, starts, 1200)
        total = time.monotonic() - begin
        cpu_after = proc.cpu_times()
        rss = proc.memory_info().rss / 2**20
        return {
            "ca_seconds": ca_seconds,
            "ca_p50": statistics.median(ca_latency.values()),
            "total": total,
            "p50": percentile(list(latency.values()), 50),
            "p99": percentile(list(latency.values()), 99),
            "cpu": (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system),
            "rss": rss,
            "clusters": names,
        }
    finally:
        cas.stop()
        certs.stop()
        process.terminate()
        process.wait(30)


def run_vault_direct(bao: OpenBaoServer, clusters: list[str], per_cluster: int, workers: int) -> dict[str, Any]:
    client = hvac.Client(url=bao.url, token=bao.root_token)
    client.session.trust_env = False
    latencies: list[float] = []

    def issue(job: tuple[str, int]) -> None:
        cluster, index = job
        start = time.monotonic()
        client.secrets.pki.generate_certificate(
            "component", f"d{index}.{cluster}.local", extra_params={"ttl": "720h"}, mount_point=f"pki-{cluster}"
        )
        latencies.append(time.monotonic() - start)

    begin = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(issue, [(c, i) for c in clusters for i in range(per_cluster)]))
    total = time.monotonic() - begin
    return {"total": total, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--per-cluster", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    compile_bytecode()
    count = args.clusters * args.per_cluster
    with (
        tempfile.TemporaryDirectory(prefix="kubeception-bench-certs-") as tmp,
        ControlPlane(Path(tmp) / "plane", nodes=1) as plane,
        OpenBaoServer(Path(tmp) / "bao") as bao,
    ):
        for crd in ("caconfigs", "certconfigs", "guestcredentialrequests"):  # cert-operator watches all three
            plane.kubectl("apply", "-f", str(ROOT / "crds" / f"{crd}.kubeception.io.yaml"))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{crd}.kubeception.io")
        print(f"# cert-operator: {args.clusters} CAs, then {count} certificates ...", file=sys.stderr, flush=True)
        operator = run_operator(plane, bao, args.clusters, args.per_cluster, args.workers)
        print(f"# Vault directly: {count} certificates ...", file=sys.stderr, flush=True)
        direct = run_vault_direct(bao, operator["clusters"], args.per_cluster, args.workers)
    print(
        f"{args.clusters} clusters (mount, root CA, role each): all Ready in {operator['ca_seconds']:.1f} s "
        f"(p50 {operator['ca_p50']:.2f} s per CA)\n"
    )
    print(f"{count} certificates (RSA 2048, Vault-generated keys), {args.workers} workers / threads:\n")
    print("| path | total (s) | certificates/s | p50 latency (s) | p99 latency (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in (("cert-operator (CertConfig → Ready)", operator), ("Vault directly (hvac)", direct)):
        print(f"| {name} | {r['total']:.1f} | {count / r['total']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} |")
    print(
        f"\ncert-operator vs Vault directly: total ratio {operator['total'] / direct['total']:.2f}x; "
        f"operator CPU {operator['cpu']:.1f} s ({operator['cpu'] / count * 1000:.1f} ms per certificate), "
        f"RSS {operator['rss']:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
