"""Benchmark: the same trivial controller on operatorkit, kopf and controller-runtime (Go), one control plane.

Per implementation, in its own namespace and with its own client identity (so the API server's audit log
attributes every request): time from controller start until N pre-created Greetings have converged, API
requests per object, peak RSS, idle CPU at steady state, and API writes during a resync of unchanged objects
(a restart: every implementation then re-reconciles everything it finds).
Usage: ``make bench`` or ``python bench/controllers.py --objects 1000``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from _bytecode import compile_bytecode

from kubeception_testenv import ControlPlane, wait_for
from kubeception_testenv._binaries import cache_dir
from operatorkit import KubeClient
from operatorkit._runtime.informer import Informer
from operatorkit.example import CRD_PATH, GREETING
from operatorkit.kinds import CONFIG_MAP, NAMESPACE

HERE = Path(__file__).resolve().parent
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def build_controller_runtime() -> Path:
    """Build bench/controller-runtime once per go.sum into the shared cache."""
    module = HERE / "controller-runtime"
    sources = b"".join((module / name).read_bytes() for name in ("go.mod", "go.sum", "main.go"))
    key = hashlib.sha256(sources).hexdigest()[:16]
    binary = cache_dir() / "bench" / f"greeting-controller-runtime-{key}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-trimpath", "-o", str(binary), "."],
            cwd=module,
            check=True,
            env={**os.environ, "GOTOOLCHAIN": "local"},
        )
    return binary


@dataclass
class Result:
    name: str
    converge_seconds: float
    converge_cpu_seconds: float
    server_cpu_seconds: float
    requests_per_object: float
    peak_rss_mib: float
    idle_cpu_percent: float
    resync_writes: int
    resync_seconds: float


def baseline_tree(ref: str) -> Path:
    """operatorkit as of git ``ref``, checked out next to the clone (a worktree), to run as a peer."""
    tree = Path(tempfile.gettempdir()) / f"kubeception-baseline-{ref.replace('/', '_')}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=HERE.parent, check=True)
    return tree


def baseline_command(tree: Path, namespace: str, workers: int) -> list[str]:
    """The example operator of an earlier operatorkit, with the flags that version takes."""
    old_cli = (tree / "operatorkit" / "src" / "operatorkit" / "cli.py").exists()
    flags = (
        ["--no-leader-elect", "--metrics-address=127.0.0.1:0", "--probe-address=127.0.0.1:0"]
        if old_cli
        else ["--no-leader-election.enabled", "--http.metrics-address=127.0.0.1:0", "--http.probe-address=127.0.0.1:0"]
    )
    return [
        sys.executable,
        "-m",
        "operatorkit.example",
        f"--namespace={namespace}",
        f"--workers={workers}",
        *flags,
        "--log-level=warning",
    ]


def command(name: str, namespace: str, workers: int) -> list[str]:
    if name.startswith("operatorkit@"):
        return baseline_command(baseline_tree(name.partition("@")[2]), namespace, workers)
    if name == "operatorkit":
        return [
            sys.executable,
            "-m",
            "operatorkit.example",
            f"--namespace={namespace}",
            "--no-leader-election.enabled",
            f"--workers={workers}",
            "--http.metrics-address=127.0.0.1:0",
            "--http.probe-address=127.0.0.1:0",
            "--log-level=warning",
        ]
    if name == "kopf":
        return [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "--quiet",
            f"--namespace={namespace}",
            str(HERE / "kopf_greeting.py"),
        ]
    return [str(build_controller_runtime()), f"--namespace={namespace}", f"--workers={workers}"]


def audit_events(log: Path, user: str, since: str, until: str | None = None) -> list[dict[str, Any]]:
    events = []
    with log.open() as lines:
        for line in lines:
            if f'"{user}"' not in line:
                continue
            event = json.loads(line)
            stamp = event["requestReceivedTimestamp"]
            if event["user"]["username"] == user and stamp >= since and (until is None or stamp <= until):
                events.append(event)
    return events


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1_000_000:06d}Z"


class Observer:
    """Watches a namespace's Greetings and ConfigMaps, so checking convergence costs the API server nothing."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.greetings = Informer(kube, GREETING, namespace=namespace)
        self.configmaps = Informer(kube, CONFIG_MAP, namespace=namespace)
        for informer in (self.greetings, self.configmaps):
            informer.start()
            informer.wait_synced(60)

    def converged(self, count: int) -> bool:
        done = sum(
            1
            for g in self.greetings.store.objects()
            if g.get("status", {}).get("observedGeneration") == g["metadata"]["generation"]
        )
        maps = sum(1 for cm in self.configmaps.store.objects() if cm["metadata"]["name"].endswith("-greeting"))
        return done == count and maps == count

    def stop(self) -> None:
        self.greetings.stop()
        self.configmaps.stop()


def greeting(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": GREETING.api_version,
        "kind": GREETING.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"message": f"hello {name}"},
    }


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run_one(
    plane: ControlPlane, kube: KubeClient, name: str, objects: int, workers: int, idle: float, round_: int
) -> Result:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    namespace = f"bench-{slug}-{round_}"
    kube.create(NAMESPACE, {"metadata": {"name": namespace}})
    user = f"bench-{slug}"
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.user_kubeconfig(user, ("system:masters",))),
        "BENCH_WORKERS": str(workers),  # kopf's executor size
    }
    log = plane.workdir / f"bench-{name}.log"

    if name.startswith("operatorkit@"):  # the earlier operatorkit first on the path, its dependencies from here
        env["PYTHONPATH"] = str(baseline_tree(name.partition("@")[2]) / "operatorkit" / "src")
    argv = command(name, namespace, workers)  # built (and compiled, for controller-runtime) before the clock starts

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    # The objects exist before the controller starts, so the clock measures the controller alone:
    # start-up, initial list, and every reconcile.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: kube.create(GREETING, greeting(f"g{i:05d}", namespace)), range(objects)))
    assert plane.apiserver.audit_log is not None
    observer = Observer(kube, namespace)
    servers = [psutil.Process(p) for p in (plane.apiserver.pid, plane.etcd.pid) if p is not None]
    server_cpu_before = sum(cpu_seconds(p) for p in servers)
    since = utc_now()
    started = time.monotonic()
    proc = start()
    try:
        wait_for(lambda: observer.converged(objects), timeout=1800, interval=0.1, message=f"{name} to converge")
        converge = time.monotonic() - started
        converge_cpu = cpu_seconds(psutil.Process(proc.pid))
        server_cpu = sum(cpu_seconds(p) for p in servers) - server_cpu_before
        until = utc_now()
        requests = audit_events(plane.apiserver.audit_log, user, since, until)

        process = psutil.Process(proc.pid)
        time.sleep(3)  # let trailing work finish before measuring idle CPU (a measurement window, not a sync)
        cpu_before = cpu_seconds(process)
        time.sleep(idle)
        idle_cpu = 100 * (cpu_seconds(process) - cpu_before) / idle
        with open(f"/proc/{proc.pid}/status") as status:
            peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

        # Resync of unchanged objects: restart; a sentinel created afterwards converges only once the
        # restarted controller is processing events again.
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        resync_since = utc_now()
        resync_started = time.monotonic()
        proc = start()
        kube.create(GREETING, greeting("sentinel", namespace))
        wait_for(lambda: observer.converged(objects + 1), timeout=600, interval=0.25, message=f"{name} sentinel")
        time.sleep(5)  # a window for late resync writes to show up in the audit log
        resync_seconds = time.monotonic() - resync_started
        writes = [
            e
            for e in audit_events(plane.apiserver.audit_log, user, resync_since)
            if e["verb"] in WRITE_VERBS
            and e.get("objectRef", {}).get("name", "") not in ("sentinel", "sentinel-greeting")
            and e.get("objectRef", {}).get("resource") != "events"
        ]
        return Result(
            name,
            converge,
            converge_cpu,
            server_cpu,
            len(requests) / objects,
            peak_kib / 1024,
            idle_cpu,
            len(writes),
            resync_seconds,
        )
    finally:
        observer.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--only", nargs="*", default=["operatorkit", "kopf", "controller-runtime"])
    parser.add_argument(
        "--baseline", help="also run operatorkit as of this git ref (e.g. HEAD~3) in the same rounds, for a ratio"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each in a rotated order; medians reported")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args()
    peers = [*args.only, *([f"operatorkit@{args.baseline}"] if args.baseline else [])]
    if "controller-runtime" in peers:
        build_controller_runtime()  # once, before any round: a fresh machine's Go build is not the controller's time
    if args.baseline:
        compile_bytecode(baseline_tree(args.baseline) / "operatorkit" / "src")
    compile_bytecode()
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="kubeception-bench-") as tmp,
        ControlPlane(Path(tmp), nodes=1, audit=True) as plane,
    ):
        plane.kubectl("apply", "-f", str(CRD_PATH))
        plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/greetings.example.kubeception.io")
        kube = KubeClient.load(str(plane.kubeconfig))
        for round_ in range(args.rounds):
            order = peers[round_ % len(peers) :] + peers[: round_ % len(peers)]
            for name in order:
                print(f"# round {round_ + 1}: {name}, {args.objects} objects ...", file=sys.stderr, flush=True)
                result = run_one(plane, kube, name, args.objects, args.workers, args.idle_seconds, round_)
                print(f"# {result}", file=sys.stderr, flush=True)
                results.append(result)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    print(f"{args.objects} objects, {args.workers} workers each, median of {args.rounds} rounds:\n")
    print_table([median_result(name, [r for r in results if r.name == name]) for name in peers], args.objects)
    return 0


def median_result(name: str, runs: list[Result]) -> Result:
    fields = [f for f in Result.__dataclass_fields__ if f != "name"]
    values = {f: statistics.median(getattr(r, f) for r in runs) for f in fields}
    return Result(name=name, **values)


def print_table(results: list[Result], objects: int) -> None:
    base = {r.name: r for r in results}
    print(
        "| implementation | converge (s) | controller CPU (s) | apiserver+etcd CPU (s) | API requests / object "
        "| peak RSS (MiB) | idle CPU (%) "
        "| writes on resync | resync + sentinel (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r.name} | {r.converge_seconds:.1f} | {r.converge_cpu_seconds:.1f} | {r.server_cpu_seconds:.1f} "
            f"| {r.requests_per_object:.2f} "
            f"| {r.peak_rss_mib:.0f} "
            f"| {r.idle_cpu_percent:.2f} | {r.resync_writes} | {r.resync_seconds:.1f} |"
        )
    ok = base.get("operatorkit")
    if ok is None:
        return
    for peer, other in base.items():
        if peer == "operatorkit":
            continue
        print(
            f"\noperatorkit vs {peer}: converge {other.converge_seconds / ok.converge_seconds:.2f}x "
            f"(>1 = operatorkit faster); controller CPU {ok.converge_cpu_seconds / other.converge_cpu_seconds:.2f} "
            f"of {peer}'s ({1000 * ok.converge_cpu_seconds / objects:.2f} vs "
            f"{1000 * other.converge_cpu_seconds / objects:.2f} ms per object); "
            f"RSS {ok.peak_rss_mib / other.peak_rss_mib:.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
