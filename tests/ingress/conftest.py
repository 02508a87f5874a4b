"""Fixtures: two guest kube-apiservers on local non-loopback addresses, the ingress-operator in-process, and a real
HAProxy with its agent as two processes (the chart's two containers), all against the real control plane."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from ingress_operator.agent.runtime import Runtime
from ingress_operator.controller import ingress_controller, shared_parts
from ingress_operator.settings import IngressSettings
from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import EtcdServer, GuestAPIServer, LocalAddresses, Server, find_binary, wait_for
from kubeception_testenv._pki import LocalPKI
from kubeception_testenv._ports import free_port
from operatorkit import CLUSTER_LABEL
from operatorkit.kinds import ENDPOINT_SLICE, NAMESPACE, SERVICE
from operatorkit.testing import apply_crds, condition_of, in_process_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ingress_operator.shared import Shared
    from operatorkit import KubeClient, Object
    from operatorkit.testing import OperatorRunner

CRD = Path(__file__).parents[2] / "crds" / "ingressconfigs.kubeception.io.yaml"
DOMAIN = "example.test"


@dataclass
class Guest:
    """A guest cluster's API server and the credentials of its admin."""

    cluster: str
    server: GuestAPIServer
    pki: LocalPKI
    admin_cert: Path
    admin_key: Path
    domain: str = DOMAIN

    @property
    def hostname(self) -> str:
        return f"api.{self.cluster}.{self.domain}"


@pytest.fixture(scope="session")
def ingress_crd(kube: KubeClient) -> None:
    apply_crds(kube, CRD, CRD.with_name("domainclaims.kubeception.io.yaml"))


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Guest]]:
    """Two guest API servers, each with its own CA, serving cert for api.<id>.example.test and admin."""
    workdir = tmp_path_factory.mktemp("guests")
    with LocalAddresses(2) as addresses, EtcdServer(workdir, name="guest-etcd") as etcd:
        started: dict[str, Guest] = {}
        servers = []
        for cluster, address in zip(("g1", "g2"), addresses, strict=True):
            pki = LocalPKI(workdir / f"{cluster}-pki")
            serving = pki.issue(
                "apiserver",
                "kube-apiserver",
                dns_names=(f"api.{cluster}.{DOMAIN}",),
                ip_addresses=(address,),
                server=True,
            )
            admin = pki.issue("admin", "admin", organizations=("system:masters",), client=True)
            server = GuestAPIServer(
                workdir,
                etcd_url=etcd.url,
                serving_cert=serving.cert,
                serving_key=serving.key,
                client_ca=pki.ca.cert,
                name=f"apiserver-{cluster}",
                address=address,
            )
            servers.append(server)
            started[cluster] = Guest(cluster, server, pki, admin.cert, admin.key)
        for server in servers:
            server.start()
        try:
            yield started
        finally:
            for server in servers:
                server.stop()


def cluster_namespace(kube: KubeClient, cluster: str) -> str:
    """A namespace of the mother that belongs to ``cluster`` (where its control plane's Services live)."""
    name = f"{cluster}-{uuid.uuid4().hex[:6]}"
    kube.create(NAMESPACE, {"metadata": {"name": name, "labels": {CLUSTER_LABEL: cluster}}})
    return name


def backend_service(kube: KubeClient, namespace: str, name: str, endpoints: list[tuple[str, int]]) -> None:
    """A Service without selector and its EndpointSlice, as the guest control plane's Service would be."""
    kube.create(
        SERVICE,
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 443}]},
        },
    )
    set_endpoints(kube, namespace, name, endpoints)


def set_endpoints(kube: KubeClient, namespace: str, service: str, endpoints: list[tuple[str, int]]) -> None:
    name = f"{service}-manual"
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}} for address, _ in endpoints],
        "ports": [{"name": "https", "port": endpoints[0][1] if endpoints else 443, "protocol": "TCP"}],
    }
    existing = kube.get_or_none(ENDPOINT_SLICE, name, namespace)
    if existing is None:
        kube.create(ENDPOINT_SLICE, body)
    else:
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        kube.replace(ENDPOINT_SLICE, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", **body})


def ingress_config(cluster: str, namespace: str, **api: Any) -> Object:
    return {
        "metadata": {"name": cluster},
        "spec": {"clusterID": cluster, "api": {"backend": {"service": "apiserver", "namespace": namespace}, **api}},
    }


class HAProxyProcess(Server):
    """``python -m ingress_operator.agent.haproxy``: HAProxy on its own, as the chart's haproxy container runs it."""

    name = "haproxy"

    def __init__(self, workdir: Path, flags: list[str], state: Path) -> None:
        super().__init__(workdir)
        self.flags = flags
        self.runtime = Runtime(state / "admin.sock", state / "master.sock")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "ingress_operator.agent.haproxy", *self.flags]

    def healthy(self) -> bool:
        return self.runtime.ready()


class AgentProcess(Server):
    """``python -m ingress_operator.agent``, as the chart's agent container runs it."""

    name = "agent"

    def __init__(self, workdir: Path, flags: list[str], url: str) -> None:
        super().__init__(workdir)
        self.flags = flags
        self.url = url

    def command(self) -> list[str]:
        return [sys.executable, "-m", "ingress_operator.agent", *self.flags]

    def environment(self) -> dict[str, str]:
        return {"PYTHONUNBUFFERED": "1"}

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


class Agent:
    """An HAProxy and its agent as the chart's DaemonSet pod runs them: two processes sharing a state directory."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        workdir: Path,
        table: str = "ingress-routes",
        flags: tuple[str, ...] = (),
    ) -> None:
        self.tls_port, self.http_port, self.status_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.status_port}"
        state = workdir / "state"
        shared = [
            f"--state-dir={state}",
            f"--haproxy={find_binary('haproxy')}",
            "--bind-address=127.0.0.1",
            f"--tls-port={self.tls_port}",
            f"--http-port={self.http_port}",
        ]
        self.haproxy = HAProxyProcess(workdir, shared, state)
        self.process = AgentProcess(
            workdir,
            [
                f"--kubeconfig={kubeconfig}",
                f"--table-namespace={namespace}",
                f"--table-name={table}",
                *shared,
                f"--status-address=127.0.0.1:{self.status_port}",
                *flags,
            ],
            self.url,
        )

    def start(self) -> None:
        """HAProxy (if it does not run), then the agent, which takes it over."""
        self.haproxy.start()
        self.process.start()

    def stop(self) -> None:
        self.process.stop(timeout=20)
        self.haproxy.stop(timeout=20)

    def status(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/status", timeout=2) as response:
                return dict(json.load(response))
        except OSError:
            return None

    def metric(self, name: str, labels: str = "") -> float:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=2) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(f"{name}{labels} ") or (not labels and line.startswith(f"{name} ")):
                return float(line.split()[-1])
        raise AssertionError(f"no {name}{labels} in the agent's metrics")


@dataclass
class Ingress:
    shared: Shared
    agent: Agent
    namespace: str


@pytest.fixture
def start_ingress(
    kube: KubeClient,
    control_plane: Any,
    operator_runner: OperatorRunner,
    namespace: str,
    ingress_crd: None,
    tmp_path: Path,
) -> Iterator[Callable[..., Ingress]]:
    agents: list[Agent] = []

    def start(ports: tuple[int, int] | None = None, agent_flags: tuple[str, ...] = (), **overrides: Any) -> Ingress:
        agent = Agent(control_plane.kubeconfig, namespace, tmp_path / f"agent-{len(agents)}", flags=agent_flags)
        low = ports[0] if ports else 40000
        high = ports[1] if ports else 40009
        settings = in_process_settings(
            IngressSettings,
            routing={
                "base_domain": DOMAIN,
                "tls_port": agent.tls_port,
                "http_port": agent.http_port,
                "public_host": "127.0.0.1",
            },
            ports={"min": low, "max": high},
            table={"namespace": namespace, "publish_interval": 0.05},
            agents={"urls": [agent.url]},
            workers=8,
            reconcile={"object_rate": 5, "object_burst": 20},
            **overrides,
        )
        assert isinstance(settings, IngressSettings)
        shared = shared_parts(settings, kube)
        operator_runner.start("ingress-operator", [ingress_controller(shared)], settings=settings)
        agent.start()
        agents.append(agent)
        return Ingress(shared, agent, namespace)

    yield start
    for agent in agents:
        agent.stop()
    for config in kube.list(INGRESS_CONFIG)["items"]:
        kube.delete(INGRESS_CONFIG, config["metadata"]["name"])
    wait_for(
        lambda: not kube.list(INGRESS_CONFIG)["items"] or _drop_finalizers(kube),
        timeout=30,
        message="IngressConfigs gone",
    )


def _drop_finalizers(kube: KubeClient) -> bool:
    """After the operator stopped, what it left half-deleted is cleared so the next test starts clean."""
    for config in kube.list(INGRESS_CONFIG)["items"]:
        kube.patch(INGRESS_CONFIG, config["metadata"]["name"], {"metadata": {"finalizers": None}})
    return not kube.list(INGRESS_CONFIG)["items"]


def condition(kube: KubeClient, name: str, type_: str = "Ready") -> dict[str, Any] | None:
    return condition_of(kube, INGRESS_CONFIG, name, type_=type_)


def kubeconfig_for(guest: Guest, server: str, workdir: Path, cert: Path | None = None, key: Path | None = None) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "guest",
                "cluster": {
                    "server": server,
                    "certificate-authority": str(guest.pki.ca.cert),
                    "tls-server-name": guest.hostname,
                },
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate": str(cert or guest.admin_cert),
                    "client-key": str(key or guest.admin_key),
                },
            }
        ],
        "contexts": [{"name": "guest", "context": {"cluster": "guest", "user": "admin"}}],
        "current-context": "guest",
    }
    path = workdir / f"kubeconfig-{uuid.uuid4().hex[:6]}"
    path.write_text(yaml.safe_dump(config))
    return path


class KeptConnection:
    """One TLS connection through HAProxy to a guest API server, asked again and again (HTTP keep-alive): it
    survives only if HAProxy's worker does."""

    def __init__(self, host: str, port: int, hostname: str) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        raw = socket.create_connection((host, port), timeout=5)
        self.connection = http.client.HTTPConnection(hostname)
        self.connection.sock = context.wrap_socket(raw, server_hostname=hostname)
        self.connection.auto_open = 0  # a dropped connection is a failure, never silently reopened

    def readyz(self) -> int:
        self.connection.request("GET", "/readyz")
        response = self.connection.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.connection.close()


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
