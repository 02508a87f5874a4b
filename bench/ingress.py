"""Benchmark: ingress-operator and one HAProxy agent routing 1,000 guest clusters, on a real control plane.

Each cluster has a namespace labelled with its id, a backend Service and an EndpointSlice pointing at a local TLS
server (one server for all: the benchmark measures routing, not backends). Phases, against one operator process
and one agent process (with its HAProxy):

1. bulk: 1,000 IngressConfigs created at once — time until all are Ready, and until every hostname answers through
   HAProxy (a prober cycles over the hostnames that do not answer yet);
2. single: 100 more, one at a time — latency from the create call to the first successful request through HAProxy
   by that hostname (polled every 5 ms), p50 / p99;
3. reload: 5 routes that ask for a frontend port of their own (a new listener needs a reload) — the same latency,
   the peer of phase 2 measured in the same run;
4. delete: all IngressConfigs deleted at once — time until all are gone.

Throughout: HAProxy reloads (goal 0 outside phase 3), the agent's apply time by path (runtime API vs reload),
RSS of HAProxy, agent and operator, operator CPU.
Usage: ``make bench`` or ``python bench/ingress.py --clusters 1000``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.server
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from _bytecode import compile_bytecode
from _measure import percentile

from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import ControlPlane, LocalAddresses, find_binary, wait_for
from kubeception_testenv._pki import LocalPKI
from kubeception_testenv._ports import free_port
from operatorkit import CLUSTER_LABEL, KubeClient, is_true
from operatorkit._runtime.informer import Informer
from operatorkit.kinds import ENDPOINT_SLICE, NAMESPACE, SERVICE

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "bench.test"
TABLE_NS = "bench-ingress"


class Backend(threading.Thread):
    """A TLS server answering 200 to anything: every route's backend."""

    def __init__(self, address: str, pki: LocalPKI) -> None:
        super().__init__(daemon=True)
        pair = pki.issue("backend", "backend", ip_addresses=(address,), server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        self.port = free_port()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer((address, self.port), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    def run(self) -> None:
        self.server.serve_forever(poll_interval=0.2)


CLIENT = ssl.create_default_context()
CLIENT.check_hostname = False
CLIENT.verify_mode = ssl.CERT_NONE  # the backend's certificate is not what is measured


def answers(port: int, hostname: str) -> bool:
    """One request through HAProxy by SNI: True if the backend answered."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            CLIENT.wrap_socket(raw, server_hostname=hostname) as tls,
        ):
            tls.sendall(f"GET / HTTP/1.0\r\nHost: {hostname}\r\n\r\n".encode())
            return tls.recv(64).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    found: dict[str, float] = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def rss(process: psutil.Process, with_children: bool = False) -> float:
    processes = [process, *(process.children(recursive=True) if with_children else [])]
    return sum(p.memory_info().rss for p in processes) / 2**20


class Bench:
    def __init__(self, plane: ControlPlane, address: str, backend_port: int, workdir: Path, block: int) -> None:
        self.kube = KubeClient.load(str(plane.kubeconfig))
        self.address, self.backend_port = address, backend_port
        self.tls_port, self.http_port, self.status_port = free_port(), free_port(), free_port()
        self.agent_url = f"http://127.0.0.1:{self.status_port}"
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        self.kube.create(NAMESPACE, {"metadata": {"name": TABLE_NS}})
        shared = [
            f"--state-dir={workdir / 'agent'}",
            f"--haproxy={find_binary('haproxy')}",
            "--bind-address=127.0.0.1",
            f"--tls-port={self.tls_port}",
            f"--http-port={self.http_port}",
        ]
        # HAProxy and its agent as the chart runs them: two processes sharing the state directory.
        self.haproxy = subprocess.Popen([sys.executable, "-m", "ingress_operator.agent.haproxy", *shared], env=env)
        self.agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingress_operator.agent",
                f"--table-namespace={TABLE_NS}",
                *shared,
                f"--status-address=127.0.0.1:{self.status_port}",
                "--log-level=warning",
            ],
            env=env,
        )
        self.operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingress_operator",
                "--no-leader-election.enabled",
                "--workers=4",
                "--http.metrics-address=127.0.0.1:0",
                "--http.probe-address=127.0.0.1:0",
                "--log-level=warning",
                f"--routing.base-domain={DOMAIN}",
                "--routing.public-host=127.0.0.1",
                f"--routing.tls-port={self.tls_port}",
                f"--routing.http-port={self.http_port}",
                f"--haproxy.backend-block={block}",
                f"--table.namespace={TABLE_NS}",
                f"--agents.urls={self.agent_url}",
                "--ports.min=41000",
                "--ports.max=41099",
            ],
            env=env,
        )
        self.configs = Informer(self.kube, INGRESS_CONFIG)
        self.configs.start()
        self.configs.wait_synced(60)
        wait_for(self._agent_up, timeout=60, message="the agent's HAProxy up")

    def _agent_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.agent_url}/status", timeout=2) as response:
                return bool(json.load(response)["haproxy"]["up"])
        except OSError:
            return False

    def stop(self) -> None:
        self.configs.stop()
        for process in (self.operator, self.agent, self.haproxy):
            process.terminate()
            process.wait(60)

    # -- the guest side --------------------------------------------------------------------------------------
    def backend(self, cluster: str) -> None:
        """What a guest cluster's control plane would have: its namespace, Service and EndpointSlice."""
        namespace = f"guest-{cluster}"
        self.kube.create(NAMESPACE, {"metadata": {"name": namespace, "labels": {CLUSTER_LABEL: cluster}}})
        self.kube.create(
            SERVICE,
            {
                "metadata": {"name": "apiserver", "namespace": namespace},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 443}]},
            },
        )
        self.kube.create(
            ENDPOINT_SLICE,
            {
                "metadata": {
                    "name": "apiserver-manual",
                    "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": "apiserver"},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [self.address], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": self.backend_port, "protocol": "TCP"}],
            },
        )

    def ingress_config(self, cluster: str, frontend_port: bool = False) -> dict[str, Any]:
        api: dict[str, Any] = {"backend": {"service": "apiserver", "namespace": f"guest-{cluster}"}}
        if frontend_port:
            api["frontendPort"] = True
        return {
            "apiVersion": INGRESS_CONFIG.api_version,
            "kind": INGRESS_CONFIG.kind,
            "metadata": {"name": cluster},
            "spec": {"clusterID": cluster, "api": api},
        }

    def ready(self, names: set[str]) -> set[str]:
        return {
            o["metadata"]["name"]
            for o in self.configs.store.objects()
            if o["metadata"]["name"] in names and is_true(o.get("status"), "Ready")
        }

    def first_answer(self, hostname: str, port: int, since: float, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while not answers(port, hostname):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{hostname} did not answer in {timeout:.0f} s")
            time.sleep(0.005)
        return time.monotonic() - since

    def allocated_port(self, name: str) -> int:
        def port() -> int | None:
            obj = self.configs.store.get_by_name(name)
            routes = ((obj or {}).get("status") or {}).get("routes") or []
            return next((r["port"] for r in routes if r.get("port")), None)

        found = wait_for(port, timeout=60, message=f"{name}'s frontend port")
        assert isinstance(found, int)
        return found


def run(args: argparse.Namespace, plane: ControlPlane, address: str, backend: Backend, workdir: Path) -> None:
    bench = Bench(plane, address, backend.port, workdir, args.block)
    operator, agent = psutil.Process(bench.operator.pid), psutil.Process(bench.agent.pid)
    haproxy = psutil.Process(bench.haproxy.pid)  # the master (the entrypoint execs it) and its workers
    try:
        bulk = [f"c{i:04d}" for i in range(args.clusters)]
        single = [f"s{i:03d}" for i in range(args.single)]
        ported = [f"p{i}" for i in range(args.reloads)]
        print(f"# {len(bulk) + len(single) + len(ported)} backends ...", file=sys.stderr, flush=True)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(bench.backend, bulk + single + ported))
        before = metrics(bench.agent_url)
        cpu0 = operator.cpu_times()

        print(f"# bulk: {len(bulk)} IngressConfigs at once ...", file=sys.stderr, flush=True)
        begin = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: bench.kube.create(INGRESS_CONFIG, bench.ingress_config(c)), bulk))
        created = time.monotonic() - begin
        pending = set(bulk)
        answered_at: dict[str, float] = {}
        ready_at = 0.0
        deadline = begin + 600
        while pending or len(bench.ready(set(bulk))) < len(bulk):
            if not ready_at and len(bench.ready(set(bulk))) == len(bulk):
                ready_at = time.monotonic() - begin
            probed = sorted(pending)
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                found = pool.map(lambda c: answers(bench.tls_port, f"api.{c}.{DOMAIN}"), probed)
                results = dict(zip(probed, found, strict=True))
            now = time.monotonic() - begin
            for cluster, ok in results.items():
                if ok:
                    answered_at[cluster] = now
                    pending.discard(cluster)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} routes do not answer")
        ready_at = ready_at or time.monotonic() - begin
        all_answer = max(answered_at.values())
        after_bulk = metrics(bench.agent_url)
        cpu1 = operator.cpu_times()
        memory_bulk = (rss(haproxy, with_children=True), rss(agent), rss(operator))

        print(f"# single: {len(single)} more, one at a time ...", file=sys.stderr, flush=True)
        latencies = []
        for cluster in single:
            start = time.monotonic()
            bench.kube.create(INGRESS_CONFIG, bench.ingress_config(cluster))
            latencies.append(bench.first_answer(f"api.{cluster}.{DOMAIN}", bench.tls_port, start))
        after_single = metrics(bench.agent_url)

        print(f"# reload: {len(ported)} routes with a frontend port of their own ...", file=sys.stderr, flush=True)
        reload_latencies = []
        for cluster in ported:
            start = time.monotonic()
            bench.kube.create(INGRESS_CONFIG, bench.ingress_config(cluster, frontend_port=True))
            port = bench.allocated_port(cluster)
            reload_latencies.append(bench.first_answer(f"api.{cluster}.{DOMAIN}", port, start))
        after_reload = metrics(bench.agent_url)
        memory_reload = rss(haproxy, with_children=True)

        print("# delete: all at once ...", file=sys.stderr, flush=True)
        begin = time.monotonic()
        everything = bulk + single + ported
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: bench.kube.delete(INGRESS_CONFIG, c), everything))
        wait_for(lambda: not bench.configs.store.objects(), timeout=600, message="all IngressConfigs gone")
        deleted = time.monotonic() - begin
        after_delete = metrics(bench.agent_url)
    finally:
        bench.stop()

    def reloads(m: dict[str, float]) -> float:
        return m.get('kubeception_ingress_agent_reloads_total{result="success"}', 0.0)

    def mean_apply(m: dict[str, float], how: str) -> float:
        count = m.get(f'kubeception_ingress_agent_apply_seconds_count{{how="{how}"}}', 0.0)
        total = m.get(f'kubeception_ingress_agent_apply_seconds_sum{{how="{how}"}}', 0.0)
        return total / count if count else float("nan")

    updates = "kubeception_ingress_agent_runtime_updates_total"
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    median_route = statistics.median(answered_at.values())
    runtime_ms, reload_ms = (mean_apply(after_reload, how) * 1000 for how in ("runtime", "reload"))
    print(
        f"bulk: {len(bulk)} IngressConfigs created in {created:.1f} s; all Ready after {ready_at:.1f} s; every "
        f"hostname answers through HAProxy after {all_answer:.1f} s (median route {median_route:.1f} s)\n"
        f"  HAProxy reloads {reloads(after_bulk) - reloads(before):.0f}; table revisions applied through the runtime "
        f"API {after_bulk.get(updates, 0) - before.get(updates, 0):.0f}; operator CPU {cpu:.1f} s "
        f"({cpu / len(bulk) * 1000:.1f} ms per IngressConfig)\n"
        f"  RSS: HAProxy {memory_bulk[0]:.0f} MiB, agent {memory_bulk[1]:.0f} MiB, operator {memory_bulk[2]:.0f} MiB\n"
        f"single: {len(single)} routes added one at a time next to {len(bulk)}: create -> first answer p50 "
        f"{percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms; "
        f"reloads {reloads(after_single) - reloads(after_bulk):.0f}\n"
        f"reload: {len(ported)} routes with a frontend port (a new listener: reload): create -> first answer p50 "
        f"{percentile(reload_latencies, 50) * 1000:.0f} ms, p99 {percentile(reload_latencies, 99) * 1000:.0f} ms; "
        f"reloads {reloads(after_reload) - reloads(after_single):.0f}; HAProxy RSS after {memory_reload:.0f} MiB\n"
        f"agent apply time (table change seen -> HAProxy serving it), mean: runtime API "
        f"{runtime_ms:.1f} ms, reload {reload_ms:.1f} ms\n"
        f"delete: {len(everything)} IngressConfigs gone in {deleted:.1f} s; reloads "
        f"{reloads(after_delete) - reloads(after_reload):.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--single", type=int, default=100)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--block", type=int, default=256, help="--haproxy.backend-block of the operator")
    args = parser.parse_args()
    compile_bytecode()
    with (
        tempfile.TemporaryDirectory(prefix="kubeception-bench-ingress-") as tmp,
        ControlPlane(Path(tmp) / "plane", nodes=1) as plane,
        LocalAddresses(1) as (address,),
    ):
        for crd in ("ingressconfigs", "domainclaims"):
            plane.kubectl("apply", "-f", str(ROOT / "crds" / f"{crd}.kubeception.io.yaml"))
            plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{crd}.kubeception.io")
        backend = Backend(address, LocalPKI(Path(tmp) / "pki"))
        backend.start()
        run(args, plane, address, backend, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
