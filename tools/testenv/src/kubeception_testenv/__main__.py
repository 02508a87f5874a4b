"""``python -m kubeception_testenv up|install|down|status|images``: the local mother cluster for the demo.

``up`` starts a detached supervisor that owns every server (control plane, kwok and real nodes, OpenBao, moto,
the network etcd, Prometheus on loopback: :mod:`kubeception_testenv.prometheus`) and writes ``<state>/env`` once
all are healthy; ``install`` installs the platform on it (CRDs, Vault's side of cert-operator's login, the
operators from their charts); ``guest-kubeconfig --cluster <namespace>/<name>`` prints a guest cluster's
kubeconfig pointed at the real node's HAProxy, ``scrape-guest --cluster ...`` has Prometheus scrape its API
server; ``down`` asks the supervisor to stop (SIGTERM), waits, and kills its process group if anything is left.
``images`` builds the OCI images; ``conformance-images`` pushes the e2e suite's images into a running demo's
platform registry and ``conformance-summary`` sums up its JUnit report (``make conformance``); ``reap`` removes
what runs that died without cleaning up left on the host (:mod:`kubeception_testenv.reaper`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from kubeception_testenv import conformance, console, reaper
from kubeception_testenv._ports import sticky_port
from kubeception_testenv.controlplane import PLATFORM_ENV, ControlPlane
from kubeception_testenv.images import ROOT, build_all, recipes
from kubeception_testenv.platform import NAMESPACE, Platform
from kubeception_testenv.prometheus import DISCOVERY_USER, PodTargets, PrometheusServer, grant_discovery
from kubeception_testenv.servers import EtcdServer, MotoServer, OpenBaoServer
from operatorkit import KubeClient
from operatorkit.testing import wait_until

_DEFAULT_STATE = Path(".run")
PROMETHEUS_ENV = "KUBECEPTION_PROMETHEUS_URL"
DEMO_ORGANIZATION = "acme"  # examples/: the demo's clusters are in its namespace, org-acme
DEMO_PERSON = "alice"  # the organization's admin, who signs in to the shared console


def _serve(state: Path, nodes: int, real_nodes: int) -> int:
    """Run in the supervisor: start everything, publish the environment, wait for SIGTERM, stop everything."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    plane = ControlPlane(
        state / "control-plane", nodes=nodes, real_nodes=real_nodes, images=build_all() if real_nodes else (),
        keep_pki=True,
    )  # fmt: skip
    side = (
        # OpenBao keeps its data across down/up, like the cluster; it and the etcd listen where pods reach them,
        # over TLS with CAs kept in the state (the etcd admits only clients with a certificate).
        OpenBaoServer(state / "openbao", persistent=True, host=plane.host, tls=True),
        MotoServer(state / "moto", host=plane.host),
        EtcdServer(state / "flannel-etcd", name="flannel-etcd", host=plane.host, tls=True, keep_pki=True),
    )
    (state / "prometheus").mkdir(parents=True, exist_ok=True)
    prometheus = PrometheusServer(state / "prometheus", port=sticky_port(state / "prometheus" / "port"))
    discovery: PodTargets | None = None
    try:
        plane.start()
        for server in side:
            server.start()
        openbao, moto, etcd = side
        # Prometheus on loopback (its data kept in the state), scraping the platform's pods on the real nodes.
        grant_discovery(KubeClient.load(str(plane.kubeconfig)), NAMESPACE)
        networks = [plane.network.pods, plane.network.subnet] if plane.network is not None else []
        discovery = PodTargets(
            prometheus, KubeClient.load(str(plane.user_kubeconfig(DISCOVERY_USER))), [NAMESPACE], networks
        )
        prometheus.start()
        discovery.start()
        env = {
            "KUBECONFIG": str(plane.kubeconfig.resolve()),
            "VAULT_ADDR": openbao.url,
            "VAULT_TOKEN": openbao.root_token,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "KUBECEPTION_ETCD_ENDPOINT": etcd.url,
            PROMETHEUS_ENV: prometheus.url,
        }
        if openbao.ca_file is not None:
            env["VAULT_CACERT"] = str(openbao.ca_file)
        if etcd.ca_file is not None and etcd.client_cert is not None:  # etcdctl's variables
            env |= {
                "ETCDCTL_CACERT": str(etcd.ca_file),
                "ETCDCTL_CERT": str(etcd.client_cert.cert),
                "ETCDCTL_KEY": str(etcd.client_cert.key),
            }
        platform = Platform.on(plane, openbao, etcd, aws_url=moto.url)
        env[PLATFORM_ENV] = json.dumps(platform.platform_values())  # what operators run by hand read
        (state / "platform.json").write_text(json.dumps(dataclasses.asdict(platform), default=str))
        (state / "platform.json").chmod(0o600)
        (state / "status.json").write_text(
            json.dumps(
                {
                    "startup_seconds": round(plane.startup_seconds, 1),
                    "pids": {s.name: s.pid for s in (*plane.servers, *side, prometheus)},
                },
                indent=2,
            )
        )
        # Last, and whole at once: `up` takes the env file's appearance as "everything is ready".
        partial = state / "env.partial"
        partial.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
        partial.rename(state / "env")
        stop.wait()
    finally:
        if discovery is not None:
            discovery.stop()
        prometheus.stop()
        for server in reversed(side):
            server.stop()
        plane.stop()
        (state / "env").unlink(missing_ok=True)
    return 0


def _supervisor_pid(state: Path) -> int | None:
    try:
        pid = int((state / "supervisor.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _platform(state: Path) -> Platform:
    values = json.loads((state / "platform.json").read_text())
    return Platform(**{**values, "kubeconfig": Path(values["kubeconfig"]), "api_ca": Path(values["api_ca"])})


def _install(state: Path) -> int:
    if _supervisor_pid(state) is None:
        print("kubeception: nothing running (make up)", file=sys.stderr)
        return 1
    platform = _platform(state)
    platform.install()
    # The demo's clusters belong to an organization (namespace org-acme), as a team's would: its roles, quota,
    # deletion protection and credential policies in force.
    organization = {"name": DEMO_ORGANIZATION, "admins": {"users": [DEMO_PERSON]}}
    platform.helm_install("kubeception-organizations", {"organizations": [organization]})
    examples = [ROOT / "examples" / f"{kind}.yaml" for kind in ("kvmconfig", "awsconfig")]
    try:
        # Up to the quota controller's full resync (5 min): a new ResourceQuota it could not count at once (its
        # kinds' CRDs discovered late) refuses every new cluster with "status unknown for quota" until then.
        wait_until(lambda: platform.admits(*examples), timeout=330, interval=2, message="examples/ admitted")
    except TimeoutError:
        print(f"kubeception: org-{DEMO_ORGANIZATION} does not admit examples/: {platform.refused}", file=sys.stderr)
        raise
    url, password, ca = console.install(platform, state, DEMO_PERSON)
    (state / "console-url").write_text(url + "\n")
    print(f"# {', '.join(platform.operators)} installed in {platform.namespace}", file=sys.stderr)
    print(f"# organization {DEMO_ORGANIZATION}: org-{DEMO_ORGANIZATION}, admin {DEMO_PERSON}", file=sys.stderr)
    print(f"# the shared console at {url} (its CA: {ca}): {DEMO_PERSON}, password in {password}", file=sys.stderr)
    return 0


def _guest_kubeconfig(state: Path, cluster: str) -> int:
    namespace, _, name = cluster.rpartition("/")
    platform = _platform(state)
    print(platform.guest_kubeconfig(namespace or "default", name), end="")
    return 0


def _scrape_guest(state: Path, cluster: str) -> int:
    """Add guest ``cluster``'s API server to the running Prometheus's jobs (kept for the next ``up``)."""
    namespace, _, name = cluster.rpartition("/")
    namespace = namespace or "default"
    kubeconfig = yaml.safe_load(_platform(state).guest_kubeconfig(namespace, name))
    workdir = state / "prometheus"
    prometheus = PrometheusServer(workdir, port=int((workdir / "port").read_text()))
    pid = json.loads((state / "status.json").read_text())["pids"].get("prometheus") if _supervisor_pid(state) else None
    prometheus.scrape_guest(namespace, name, kubeconfig, pid)
    print(f"# Prometheus scrapes guest {namespace}/{name}'s API server", file=sys.stderr)
    return 0


def _conformance_images(state: Path) -> int:
    if _supervisor_pid(state) is None:
        print("kubeception: nothing running (make demo)", file=sys.stderr)
        return 1
    os.umask(0o022)
    for ref in conformance.push_images(_platform(state)):
        print(f"# {ref} in the platform registry", file=sys.stderr)
    return 0


def _conformance_kubeconfig(state: Path, report_dir: Path) -> int:
    """``<report dir>/kubeconfig`` naming the guest's API by host name and ``<report dir>/hosts`` resolving it, for
    e2e.test (``make conformance`` runs it with that file bind-mounted on /etc/hosts in a mount namespace)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig, hosts = conformance.by_name((state / "guest.kubeconfig").read_text(), Path("/etc/hosts").read_text())
    (report_dir / "kubeconfig").write_text(kubeconfig)
    (report_dir / "kubeconfig").chmod(0o600)
    (report_dir / "hosts").write_text(hosts)
    return 0


def _conformance_summary(report_dir: Path) -> int:
    """``<report dir>/summary.md`` from e2e.test's ``junit_01.xml``, printed too; fails if a test failed."""
    tests = conformance.results(report_dir / "junit_01.xml")
    text = conformance.summary(tests)
    (report_dir / "summary.md").write_text(text)
    print(text, end="")
    return 1 if any(test.outcome == "failed" for test in tests) else 0


def _images() -> int:
    os.umask(0o022)
    for recipe, archive in zip(recipes(), build_all(), strict=True):
        print(f"{recipe.ref}\t{archive}\t{archive.stat().st_size / 2**20:.0f} MiB")
    return 0


def _up(state: Path, nodes: int, real_nodes: int, timeout: float) -> int:
    if _supervisor_pid(state) is not None and (state / "env").exists():
        print((state / "env").read_text(), end="")
        return 0
    state.mkdir(parents=True, exist_ok=True)
    (state / "env").unlink(missing_ok=True)
    with (state / "supervisor.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "kubeception_testenv", "serve"),
                *(f"--state={state}", f"--nodes={nodes}", f"--real-nodes={real_nodes}"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (state / "supervisor.pid").write_text(str(proc.pid))
    try:
        wait_until(
            lambda: (state / "env").exists() or proc.poll() is not None,
            timeout=timeout,
            message="the local environment",
        )
    except TimeoutError:
        _down(state, timeout=30)
        raise
    if proc.poll() is not None:
        print((state / "supervisor.log").read_text()[-4000:], file=sys.stderr)
        print(
            f"kubeception: the local environment failed to start (log: {state / 'supervisor.log'})",
            file=sys.stderr,
        )
        return 1
    status = json.loads((state / "status.json").read_text())
    print(f"# control plane ready in {status['startup_seconds']} s; stop with `make down`", file=sys.stderr)
    print((state / "env").read_text(), end="")
    return 0


def _down(state: Path, timeout: float) -> int:
    pid = _supervisor_pid(state)
    if pid is None:
        print("kubeception: nothing running", file=sys.stderr)
        return 0
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: _supervisor_pid(state) is None, timeout=timeout, message="the supervisor to stop")
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # anything a server left behind in the supervisor's group
    reaper.reap()  # real nodes' network, cgroups and shims, had the supervisor been killed before cleaning up
    (state / "supervisor.pid").unlink(missing_ok=True)
    print("kubeception: stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubeception_testenv", description=__doc__)
    parser.add_argument(
        "action",
        choices=[
            *("up", "install", "down", "status", "images", "reap", "serve", "guest-kubeconfig", "scrape-guest"),
            *("conformance-images", "conformance-kubeconfig", "conformance-summary"),
        ],
    )
    parser.add_argument("--report-dir", type=Path, default=Path(".run/conformance"), help="conformance-*")
    parser.add_argument("--cluster", default="", help="guest-kubeconfig, scrape-guest: <namespace>/<KVMConfig name>")
    parser.add_argument("--state", type=Path, default=_DEFAULT_STATE, help="state directory (default .run)")
    parser.add_argument("--nodes", type=int, default=3, help="number of kwok nodes")
    parser.add_argument("--real-nodes", type=int, default=0, help="number of real nodes (kubelet + containerd)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for start or stop")
    args = parser.parse_args(argv)
    state: Path = args.state.resolve()
    if args.action == "images":
        return _images()
    if args.action == "conformance-images":
        return _conformance_images(state)
    if args.action == "conformance-kubeconfig":
        return _conformance_kubeconfig(state, args.report_dir.resolve())
    if args.action == "conformance-summary":
        return _conformance_summary(args.report_dir)
    if args.action == "reap":
        print("\n".join(f"removed what run {run_id} left" for run_id in reaper.reap()) or "nothing to remove")
        return 0
    if args.action == "serve":
        return _serve(state, args.nodes, args.real_nodes)
    if args.action == "up":
        return _up(state, args.nodes, args.real_nodes, args.timeout)
    if args.action == "install":
        return _install(state)
    if args.action == "guest-kubeconfig":
        return _guest_kubeconfig(state, args.cluster)
    if args.action == "scrape-guest":
        return _scrape_guest(state, args.cluster)
    if args.action == "down":
        return _down(state, args.timeout)
    running = _supervisor_pid(state) is not None
    print("running" if running else "stopped")
    return 0 if running else 3


if __name__ == "__main__":
    sys.exit(main())
