"""ingress-operator as its chart deploys it: the operator in pods on the real node, HAProxy and its agent in the
DaemonSet's pod (two containers) on the node's host network (the node's own network namespace here). A guest
kube-apiserver on the host's bridge address is reached through that HAProxy by its hostname (SNI, TLS passthrough:
the guest checks the client certificate itself), added and removed without a reload; the agent's container killed
leaves HAProxy and its connections alone."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import EtcdServer, GuestAPIServer, wait_for
from kubeception_testenv._pki import LocalPKI
from operatorkit import is_true
from operatorkit.kinds import POD
from tests.ingress.conftest import (
    Guest,
    KeptConnection,
    backend_service,
    cluster_namespace,
    ingress_config,
    kubeconfig_for,
    kubectl,
)

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv import ControlPlane
    from operatorkit import KubeClient


def agent_status(node_ip: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{node_ip}:8404/status", timeout=5) as response:
        return dict(json.load(response))


def agent_metric(node_ip: str, name: str) -> float:
    with urllib.request.urlopen(f"http://{node_ip}:8404/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(name))


def test_haproxy_pod_on_a_real_node_routes_a_guest_api_by_sni(platform, real_plane, real_kube, tmp_path: Path):
    cluster = f"i{uuid.uuid4().hex[:6]}"
    pki = LocalPKI(tmp_path / "pki")
    guest_name = f"api.{cluster}.{platform.base_domain}"
    serving = pki.issue(
        "apiserver", "kube-apiserver", dns_names=(guest_name,), ip_addresses=(real_plane.host,), server=True
    )
    admin = pki.issue("admin", "admin", organizations=("system:masters",), client=True)
    stranger = LocalPKI(tmp_path / "stranger").issue("admin", "admin", organizations=("system:masters",), client=True)
    node_ip = str(real_plane.real_node("real-node-0").address.ip)
    # The operator publishes its (empty) table at start; once the agent serves it, no route needs a reload.
    wait_for(lambda: agent_status(node_ip)["revision"] >= 1, timeout=60, message="the agent serving the table")
    reloads = agent_metric(node_ip, "kubeception_ingress_agent_reloads_total")

    with (
        EtcdServer(tmp_path, name="guest-etcd") as etcd,
        GuestAPIServer(
            tmp_path,
            etcd_url=etcd.url,
            serving_cert=serving.cert,
            serving_key=serving.key,
            client_ca=pki.ca.cert,
            name="guest-apiserver",
            address=real_plane.host,
        ) as server,
    ):
        guest = Guest(cluster, server, pki, admin.cert, admin.key, domain=platform.base_domain)
        namespace = cluster_namespace(real_kube, cluster)
        backend_service(real_kube, namespace, "apiserver", [(real_plane.host, server.port)])
        real_kube.create(INGRESS_CONFIG, ingress_config(cluster, namespace))
        wait_for(
            lambda: is_true((real_kube.get(INGRESS_CONFIG, cluster).get("status")), "Ready"),
            timeout=90,
            message="IngressConfig Ready (the HAProxy pod serves its route)",
        )
        status = real_kube.get(INGRESS_CONFIG, cluster)["status"]
        assert status["endpoints"] == [f"https://{guest_name}"]
        applied = agent_status(node_ip)
        assert applied["revision"] >= status["revision"]
        assert applied["failed"] == {}

        through_haproxy = kubeconfig_for(guest, f"https://{node_ip}:443", tmp_path)
        listed = kubectl(through_haproxy, "get", "namespaces", "-o", "name")
        assert listed.returncode == 0, listed.stderr
        assert "namespace/kube-system" in listed.stdout.split()
        # Passthrough: HAProxy holds no certificate; the guest refuses a client certificate of another CA.
        foreign = kubeconfig_for(guest, f"https://{node_ip}:443", tmp_path, stranger.cert, stranger.key)
        refused = kubectl(foreign, "get", "namespaces")
        assert refused.returncode != 0
        assert "Unauthorized" in refused.stderr, refused.stderr
        assert agent_metric(node_ip, "kubeception_ingress_agent_reloads_total") == reloads, "hostname routes reload"

        # HAProxy is its own container: the agent's killed, HAProxy's connections live on and it is not restarted;
        # the agent restarted by the kubelet takes HAProxy over as it is (no reload) and serves the table again.
        kept = KeptConnection(node_ip, 443, guest_name)
        assert kept.readyz() == 200
        before = container_restarts(real_kube, platform.namespace)
        kill_container(real_plane, real_kube, platform.namespace, "agent")
        wait_for(
            lambda: container_restarts(real_kube, platform.namespace)["agent"] > before["agent"],
            timeout=60,
            message="the agent container restarted",
        )
        wait_for(lambda: agent_status(node_ip)["revision"] >= status["revision"], timeout=60, message="taken over")
        assert kept.readyz() == 200, "a connection through HAProxy outlives its agent"
        kept.close()
        assert container_restarts(real_kube, platform.namespace)["haproxy"] == before["haproxy"]
        assert agent_metric(node_ip, "kubeception_ingress_agent_reloads_total") == 0, "taken over without a reload"

        real_kube.delete(INGRESS_CONFIG, cluster)
        wait_for(lambda: real_kube.get_or_none(INGRESS_CONFIG, cluster) is None, timeout=60, message="deleted")
        gone = kubectl(through_haproxy, "get", "namespaces", "--request-timeout=5s")
        assert gone.returncode != 0, "the route must be gone with its IngressConfig"
        assert agent_metric(node_ip, "kubeception_ingress_agent_reloads_total") == 0, "hostname routes reload"


def haproxy_pod(kube: KubeClient, namespace: str) -> dict[str, Any]:
    pods = kube.list(POD, namespace, label_selector="app.kubernetes.io/component=haproxy")["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return dict(pods[0])


def container_restarts(kube: KubeClient, namespace: str) -> dict[str, int]:
    statuses = haproxy_pod(kube, namespace).get("status", {}).get("containerStatuses") or []
    return {c["name"]: int(c["restartCount"]) for c in statuses}


def kill_container(plane: ControlPlane, kube: KubeClient, namespace: str, name: str) -> None:
    """SIGKILL the container's process through the node's containerd, as a crash would end it."""
    statuses = haproxy_pod(kube, namespace)["status"]["containerStatuses"]
    container = next(c for c in statuses if c["name"] == name)["containerID"].removeprefix("containerd://")
    plane.real_node("real-node-0").containerd.ctr("tasks", "kill", "--signal=SIGKILL", container)
