"""Benchmark: what a guest's add-ons cost on a worker VM, and how long a user waits for an app answering by name.

Against a running ``make demo`` (its guest ``org-acme/demo``, one worker VM of 1 GiB under TCG):

1. **Add-on memory**: each ``kube-system`` pod's working set and the node's, from the kubelet's summary API
   (``/api/v1/nodes/<node>/proxy/stats/summary``, through the guest's API server) — what the VM's RAM holds for
   the pod network, NetworkPolicy, kube-proxy and CoreDNS, against what is left for workloads.
2. **An app by name**: ``kubectl create deployment --image=nginx`` and ``expose`` → a client pod on the VM getting
   nginx's page by the Service's name (the image pulled by name from the platform registry, CoreDNS, kube-proxy),
   ``--runs`` times, each with a fresh Deployment and Service.

Usage: ``python bench/guest_addons.py --runs 3`` after ``make demo``. Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from kubeception_testenv import wait_for

GUEST_KUBECONFIG = Path(".run/guest.kubeconfig")
MIB = 1024 * 1024
CLIENT = (
    "for i in $(seq 60); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {name} 80 | grep -q 'Welcome to nginx'"
    " && exit 0; sleep 1; done; exit 1"
)


def kubectl(*args: str, check: bool = True) -> str:
    done = subprocess.run(["kubectl", f"--kubeconfig={GUEST_KUBECONFIG}", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def addon_memory() -> None:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    print("| node | pod | working set (MiB) |\n| --- | --- | --- |")
    for node in nodes:
        name = node["metadata"]["name"]
        summary = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{name}/proxy/stats/summary"))
        total = 0.0
        for pod in sorted(summary["pods"], key=lambda p: p["podRef"]["name"]):
            if pod["podRef"]["namespace"] != "kube-system":
                continue
            used = (pod.get("memory") or {}).get("workingSetBytes", 0) / MIB
            total += used
            print(f"| {name} | {pod['podRef']['name']} | {used:.1f} |")
        node_used = summary["node"]["memory"]["workingSetBytes"] / MIB
        capacity = int(node["status"]["capacity"]["memory"].removesuffix("Ki")) / 1024
        print(f"| {name} | **add-ons together** | **{total:.1f}** |")
        print(f"| {name} | the node (kernel, containerd, kubelet, pods) of {capacity:.0f} MiB | {node_used:.1f} |")


def app_by_name(runs: int) -> None:
    times: list[float] = []
    for _ in range(runs):
        name = f"app-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        kubectl("create", "deployment", name, "--image=nginx")
        kubectl("expose", "deployment", name, "--port=80")
        client = f"{name}-client"
        kubectl("run", client, "--restart=Never", "--image=busybox", "--", "sh", "-c", CLIENT.format(name=name))

        def finished(pod: str = client) -> str | None:
            phase = kubectl("get", "pod", pod, "-o", "jsonpath={.status.phase}", check=False).strip()
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait_for(finished, timeout=600, message="the client's answer")
        elapsed = time.monotonic() - started
        if phase != "Succeeded":
            raise RuntimeError(f"{name}: the client never got nginx's page: {kubectl('logs', client, check=False)}")
        times.append(elapsed)
        print(f"run: create deployment -> page by the Service's name in {elapsed:.1f} s", flush=True)
        kubectl("delete", "pod", client, "--wait=false")
        kubectl("delete", "service,deployment", name, "--wait=false")
    print("\n| runs | median (s) | min (s) | max (s) |\n| --- | --- | --- | --- |")
    print(f"| {runs} | {statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    addon_memory()
    print()
    app_by_name(args.runs)


if __name__ == "__main__":
    main()
