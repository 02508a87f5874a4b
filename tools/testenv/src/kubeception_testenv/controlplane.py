"""A real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok with fake Ready nodes, all on loopback with a fresh PKI.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import string
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import yaml

from kubeception_testenv import reaper
from kubeception_testenv._binaries import find_binary
from kubeception_testenv._http import client_tls_context, http_status
from kubeception_testenv._pki import KeyPair, LocalPKI
from kubeception_testenv._ports import free_port, sticky_port
from kubeception_testenv._process import Server, StartStop
from kubeception_testenv.images import version
from kubeception_testenv.network import NodeNetwork, run
from kubeception_testenv.nodes import CLUSTER_DNS, REAL_NODE_LABEL, RealNode
from kubeception_testenv.servers import EtcdServer
from operatorkit.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kubernetes.client import ApiClient

    from kubeception_testenv.network import NodeAddress

log = logging.getLogger(__name__)

SERVICE_CIDR = "10.96.0.0/16"
KWOK_POD_CIDR = "10.244.0.0/16"  # the kwok nodes' pods' addresses
PLATFORM_ENV = "KUBECEPTION_PLATFORM"  # the platform's plan, as every operator reads it (operatorkit.platform)
SERVICE_IP = "10.96.0.1"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
UNCACHED_RESOURCE = "relists.testenv.kubeception.io"
DNS_IMAGE = "ghcr.io/kubeception/coredns"
NETWORK_POLICY_IMAGE = "ghcr.io/kubeception/kube-network-policies"
NETWORK_POLICY_TABLE = "kube-network-policies"  # its nftables table (inet), in each real node's network namespace

# The controllers the platform relies on; the rest (node lifecycle, IPAM, cloud, ...) make no sense on kwok.
CONTROLLERS = (
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "deployment-controller",
    "replicaset-controller",
    "daemonset-controller",
    "statefulset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "endpointslice-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    "root-ca-certificate-publisher-controller",
    "resourcequota-controller",
    "clusterrole-aggregation-controller",
    "node-lifecycle-controller",  # lifts the not-ready taint once kwok reports a node Ready
)


class _HTTPSComponent(Server):
    """A component that serves ``/healthz`` over TLS on a free loopback port, with a cert from our CA."""

    health_path = "/healthz"

    def __init__(self, workdir: Path, pki: LocalPKI, client: KeyPair) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.serving = pki.issue(
            self.name, self.name, ip_addresses=("127.0.0.1",), dns_names=("localhost",), server=True
        )
        self._context = client_tls_context(str(pki.ca.cert), str(client.cert), str(client.key))

    def serving_flags(self) -> list[str]:
        return [
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
        ]

    def healthy(self) -> bool:
        return http_status(f"https://127.0.0.1:{self.port}{self.health_path}", self._context) == 200


class KubeAPIServer(_HTTPSComponent):
    name = "kube-apiserver"
    health_path = "/readyz"
    start_timeout = 90.0

    def __init__(
        self, workdir: Path, pki: LocalPKI, etcd_url: str, *, audit: bool = False, host: str = "127.0.0.1"
    ) -> None:
        self.audit_log = workdir / "audit.log" if audit else None
        self.admin = pki.issue("admin", "kubeception-admin", organizations=("system:masters",), client=True)
        self.sa = pki.service_account_keys()
        self.ca = pki.ca
        self.etcd_url = etcd_url
        self.host = host
        super().__init__(workdir, pki, self.admin)
        self.port = sticky_port(workdir / "kube-apiserver.port")
        self.serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ip_addresses=tuple(dict.fromkeys(("127.0.0.1", host, SERVICE_IP))),
            server=True,
        )
        self.kubelet_client = pki.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True
        )
        self.url = f"https://{host}:{self.port}"

    def request_json(self, path: str, method: str = "GET", body: object = None, *, exists_ok: bool = False) -> Any:
        """One authenticated admin request; for the harness itself, before any client library is needed."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exists_ok and exc.code == 409:
                return None
            raise

    @property
    def real_nodes(self) -> bool:
        return self.host != "127.0.0.1"

    def serving_flags(self) -> list[str]:
        return [f"--bind-address={self.host}", *super().serving_flags()[1:]]

    def healthy(self) -> bool:
        return http_status(f"{self.url}{self.health_path}", self._context) == 200

    def node_flags(self) -> list[str]:
        """With real nodes: the apiserver is on the nodes' network, advertised (pods reach it through the
        kubernetes Service), kubelets are authorized as nodes, and their serving certificates verified."""
        if not self.real_nodes:
            return ["--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]  # loopback: no Endpoints
        return [
            f"--advertise-address={self.host}",
            "--endpoint-reconciler-type=lease",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={self.kubelet_client.cert}",
            f"--kubelet-client-key={self.kubelet_client.key}",
            f"--kubelet-certificate-authority={self.ca.cert}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("kube-apiserver")),
            f"--etcd-servers={self.etcd_url}",
            *self.serving_flags(),
            *self.node_flags(),
            f"--client-ca-file={self.ca.cert}",
            # The aggregation layer's front-proxy settings; without them components log an error a second.
            f"--requestheader-client-ca-file={self.ca.cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--service-account-key-file={self.sa.cert}",
            f"--service-account-signing-key-file={self.sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            *([] if self.real_nodes else ["--authorization-mode=RBAC"]),
            # One kind served straight from etcd, so tests can watch from a compacted revision and get 410 Gone.
            f"--watch-cache-sizes={UNCACHED_RESOURCE}#0",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
            *self._audit_flags(),
        ]

    def _audit_flags(self) -> list[str]:
        """Metadata-level audit of every request: who did what, for counting a client's API calls."""
        if self.audit_log is None:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived"],
                    "rules": [{"level": "Metadata"}],
                }
            )
        )
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-maxsize=0"]


class KubeControllerManager(_HTTPSComponent):
    name = "kube-controller-manager"

    def __init__(self, workdir: Path, pki: LocalPKI, apiserver: KubeAPIServer, kubeconfig: Path) -> None:
        super().__init__(workdir, pki, apiserver.admin)
        self.apiserver = apiserver
        self.kubeconfig = kubeconfig

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("kube-controller-manager")),
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            *self.serving_flags(),
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={self.apiserver.sa.key}",
            f"--root-ca-file={self.apiserver.ca.cert}",
            "--leader-elect=false",
            "--concurrent-gc-syncs=5",
            # A real node whose kubelet stops is NotReady within 16 s (kubelets report every 4 s).
            *(["--node-monitor-grace-period=16s"] if self.apiserver.real_nodes else []),
            "--profiling=false",
            "--v=1",
        ]


class KubeScheduler(_HTTPSComponent):
    name = "kube-scheduler"

    def __init__(self, workdir: Path, pki: LocalPKI, apiserver: KubeAPIServer, kubeconfig: Path) -> None:
        super().__init__(workdir, pki, apiserver.admin)
        self.kubeconfig = kubeconfig

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("kube-scheduler")),
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            *self.serving_flags(),
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]


class Kwok(Server):
    """kwok: keeps the fake nodes Ready and moves their scheduled pods to Running."""

    name = "kwok"

    def __init__(self, workdir: Path, kubeconfig: Path) -> None:
        super().__init__(workdir)
        self.kubeconfig = kubeconfig
        self.port = free_port()

    def command(self) -> Sequence[str]:
        return [
            str(find_binary("kwok")),
            f"--kubeconfig={self.kubeconfig}",
            f"--config={Path(__file__).with_name('kwok-stages.yaml')}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            f"--server-address=127.0.0.1:{self.port}",
            f"--cidr={KWOK_POD_CIDR}",
            "--node-ip=127.0.0.1",
        ]

    def environment(self) -> dict[str, str]:
        return {"HOME": str(self.workdir)}  # kwok reads ~/.kwok/kwok.yaml: keep the user's out of tests

    def healthy(self) -> bool:
        return http_status(f"http://127.0.0.1:{self.port}/healthz") == 200


def network_policy_rules(netns: str) -> str:
    """kube-network-policies' nftables table in a node's network namespace, as ``nft`` lists it ("" if none)."""
    listed = run("nft", "list", "table", "inet", NETWORK_POLICY_TABLE, netns=netns, check=False)
    return listed.stdout if listed.returncode == 0 else ""


def real_node(address: NodeAddress) -> dict[str, Any]:
    """A real node's Node object, created before its kubelet registers: its pod CIDR is the harness's choice, so
    the node's CNI configuration and the host's routes are known before anything runs."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": address.name,
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": address.name,
                "kubernetes.io/os": "linux",
                "type": "real",
                REAL_NODE_LABEL: "real",
            },
        },
        "spec": {"podCIDR": str(address.pod_cidr), "podCIDRs": [str(address.pod_cidr)]},
    }


def fake_node(name: str, pods: int = 110) -> dict[str, Any]:
    """A Node object kwok manages: untainted, so ordinary Deployments and DaemonSets land on it."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": str(pods)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "kwok"},
        },
    }


class ControlPlane(StartStop):
    """Start with :meth:`start` (or ``with``); everything it started is stopped by :meth:`stop`.

    ``nodes`` kwok nodes (fake, Ready, for scale) and ``real_nodes`` real ones (kubelet + containerd +
    kube-proxy, each in a network namespace of its own, running ``images``). With real nodes the API server
    listens on the host's address on the nodes' bridge instead of loopback, so the nodes and their pods reach it,
    and when ``images`` hold the coredns image the cluster has its DNS (``addons/cluster-dns.yaml``), when they
    hold the kube-network-policies image its NetworkPolicies are enforced (``addons/network-policies.yaml``).
    ``keep_pki`` keeps the CA and service-account key found in ``workdir`` (the demo's cluster survives restarts);
    ``pods_per_node`` is the kwok nodes' pod capacity (a kubelet's default 110; more for scale benchmarks).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 3,
        real_nodes: int = 0,
        audit: bool = False,
        images: Sequence[Path] = (),
        keep_pki: bool = False,
        pods_per_node: int = 110,
    ) -> None:
        self.workdir = workdir
        self.node_count = nodes
        self.pods_per_node = pods_per_node
        self.kubeconfig = workdir / "kubeconfig"
        self.pki = LocalPKI(workdir / "pki", keep=keep_pki)
        self.network: NodeNetwork | None = None
        host = "127.0.0.1"
        if real_nodes:
            run_id = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:5]
            self.network = NodeNetwork(run_id)
            self.network.plan([f"real-node-{index}" for index in range(real_nodes)])
            host = str(self.network.host_ip)
        self.host = host
        self.etcd = EtcdServer(workdir)
        self.apiserver = KubeAPIServer(workdir, self.pki, self.etcd.url, audit=audit, host=host)
        self.controller_manager = KubeControllerManager(workdir, self.pki, self.apiserver, self.kubeconfig)
        self.scheduler = KubeScheduler(workdir, self.pki, self.apiserver, self.kubeconfig)
        self.kwok = Kwok(workdir, self.kubeconfig)
        self.real_nodes = (
            [
                RealNode(
                    workdir / "nodes" / node.name,
                    node,
                    pki=self.pki,
                    api_url=self.apiserver.url,
                    cluster_cidr=str(self.network.pods),
                    images=images,
                )
                for node in self.network.nodes
            ]
            if self.network is not None
            else []
        )
        self.cluster_dns = next((path for path in images if path.name.startswith("coredns-")), None)
        self.network_policies = next((path for path in images if path.name.startswith("kube-network-policies-")), None)
        self.startup_seconds = 0.0

    @property
    def servers(self) -> tuple[Server, ...]:
        node_servers = tuple(server for node in self.real_nodes for server in node.servers)
        return (self.etcd, self.apiserver, self.controller_manager, self.scheduler, self.kwok, *node_servers)

    @property
    def url(self) -> str:
        return self.apiserver.url

    def platform_plan(self) -> dict[str, Any]:
        """This mother's own networks, as the platform's plan (``platform`` chart values, ``KUBECEPTION_PLATFORM``):
        its Service network, the kwok nodes' and the real nodes' pod networks, the real nodes' network."""
        pods = [KWOK_POD_CIDR, *([str(self.network.pods)] if self.network is not None else [])]
        nodes = [str(self.network.subnet)] if self.network is not None else []
        return {"mother": {"pods": pods, "services": [SERVICE_CIDR], "nodes": nodes}}

    def start(self) -> Self:
        started = time.monotonic()
        try:
            if self.network is not None:
                for run_id in reaper.reap():
                    log.warning("removed what a dead run (%s) left on the host", run_id)
                reaper.record(self.network, self.real_nodes)
                self.network.create()
            self.etcd.start()
            self.apiserver.start()
            self._write_kubeconfig()
            for server in (self.controller_manager, self.scheduler, self.kwok):
                server.launch()
            for server in (self.controller_manager, self.scheduler, self.kwok):
                server.wait_healthy()
            self._create_nodes()
            self._start_real_nodes()
            self.wait_nodes_ready()
            wait_until(self._default_service_account, timeout=30, message="the default ServiceAccount")
            if self.real_nodes and self.network_policies is not None:
                self._install_network_policies()
            if self.real_nodes and self.cluster_dns is not None:
                self._install_cluster_dns()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        for node in reversed(self.real_nodes):
            node.stop()
        for server in reversed(self.servers):
            server.stop()
        if self.network is not None:
            self.network.destroy()
            reaper.forget(self.network.run_id)

    def leftovers(self) -> list[str]:
        """What of the real nodes still exists after :meth:`stop`: processes, mounts, cgroups, network."""
        found = [item for node in self.real_nodes for item in node.leftovers()]
        return found + (self.network.leftovers() if self.network is not None else [])

    # -- real nodes ----------------------------------------------------------------------------------------------
    def _start_real_nodes(self) -> None:
        if not self.real_nodes:
            return
        rbac = "rbac.authorization.k8s.io"
        self.apiserver.request_json(
            f"/apis/{rbac}/v1/clusterrolebindings",
            "POST",
            {
                "metadata": {"name": "kubeception:kube-proxy"},
                "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:node-proxier"},
                "subjects": [{"apiGroup": rbac, "kind": "User", "name": "system:kube-proxy"}],
            },
            exists_ok=True,
        )
        for node in self.real_nodes:
            self.apiserver.request_json("/api/v1/nodes", "POST", real_node(node.address), exists_ok=True)
        for node in self.real_nodes:
            node.start()

    def real_node(self, name: str) -> RealNode:
        return next(node for node in self.real_nodes if node.name == name)

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver on the same port: for watch-recovery tests."""
        self.apiserver.stop()
        self.apiserver.start()

    def log_tails(self, lines: int = 30) -> str:
        return "\n\n".join(server.log_tail(lines) for server in self.servers)

    # -- clients -------------------------------------------------------------------------------------------
    def kubeconfig_dict(self) -> dict[str, Any]:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubeception",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": b64(self.apiserver.ca.cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(self.apiserver.admin.cert),
                        "client-key-data": b64(self.apiserver.admin.key),
                    },
                }
            ],
            "contexts": [{"name": "kubeception", "context": {"cluster": "kubeception", "user": "admin"}}],
            "current-context": "kubeception",
        }

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(yaml.safe_dump(self.kubeconfig_dict()))
        self.kubeconfig.chmod(0o600)

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for ``user`` (client cert CN) in ``groups`` (O): for RBAC tests and per-client audits."""
        pair = self.pki.issue(f"user-{user}", user, organizations=groups, client=True)
        config = self.kubeconfig_dict()
        config["users"] = [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": base64.b64encode(pair.cert.read_bytes()).decode(),
                    "client-key-data": base64.b64encode(pair.key.read_bytes()).decode(),
                },
            }
        ]
        path = self.workdir / f"kubeconfig-{user}"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def api_client(self) -> ApiClient:
        """A fresh ``kubernetes`` ApiClient authenticated as cluster admin."""
        from kubernetes import config

        api: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the kubectl that matches the server against this control plane."""
        return subprocess.run(
            [str(find_binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    # -- nodes ---------------------------------------------------------------------------------------------
    def _create_nodes(self) -> None:
        existing = {node["metadata"]["name"] for node in self.apiserver.request_json("/api/v1/nodes")["items"]}
        for index in range(self.node_count):
            if (name := f"kwok-node-{index}") not in existing:
                self.apiserver.request_json("/api/v1/nodes", "POST", fake_node(name, self.pods_per_node))

    def ready_nodes(self) -> list[str]:
        nodes = self.apiserver.request_json("/api/v1/nodes")["items"]
        return [
            node["metadata"]["name"]
            for node in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
        ]

    def wait_nodes_ready(self, timeout: float = 90) -> None:
        total = self.node_count + len(self.real_nodes)
        wait_until(lambda: len(self.ready_nodes()) >= total, timeout=timeout, message=f"{total} nodes to be Ready")

    def _install_cluster_dns(self, timeout: float = 60) -> None:
        manifest = string.Template((Path(__file__).parent / "addons" / "cluster-dns.yaml").read_text())
        image = f"{DNS_IMAGE}:{version()}"
        self.kubectl("apply", "-f", "-", input=manifest.substitute(image=image, dns_ip=CLUSTER_DNS))
        self.kubectl("rollout", "status", "deployment/coredns", "-n", "kube-system", f"--timeout={timeout:.0f}s")

    def _install_network_policies(self, timeout: float = 60) -> None:
        """kube-network-policies on every real node; returns once each node's netfilter has its table (policies are
        enforced from then on)."""
        manifest = string.Template((Path(__file__).parent / "addons" / "network-policies.yaml").read_text())
        self.kubectl("apply", "-f", "-", input=manifest.substitute(image=f"{NETWORK_POLICY_IMAGE}:{version()}"))
        self.kubectl(
            "rollout", "status", "daemonset/kube-network-policies", "-n", "kube-system", f"--timeout={timeout:.0f}s"
        )
        for node in self.real_nodes:
            wait_until(
                functools.partial(network_policy_rules, node.address.netns),
                timeout=timeout,
                message=f"kube-network-policies' nftables table on {node.name}",
            )

    def _default_service_account(self) -> bool:
        accounts = self.apiserver.request_json("/api/v1/namespaces/default/serviceaccounts")["items"]
        return any(sa["metadata"]["name"] == "default" for sa in accounts)
