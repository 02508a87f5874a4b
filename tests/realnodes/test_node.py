"""A real node of the local mother cluster: pods run from the project's images, logs, exec and port-forward reach
the kubelet, Services route through kube-proxy, NetworkPolicies are enforced (kube-network-policies), a crashed
kubelet makes the node NotReady and a restarted one Ready again, and nothing a pod sends leaves the nodes'
network."""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import sys
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

from kubeception_testenv import find_binary, wait_for
from kubeception_testenv.controlplane import network_policy_rules
from kubeception_testenv.images import version
from kubeception_testenv.network import NODE_NETWORKS, free_subnet, run
from operatorkit.kinds import NETWORK_POLICY, NODE, POD, SERVICE
from tests.realnodes.helpers import PYTHON_IMAGE, connects, pod, python_in, running

if TYPE_CHECKING:
    from collections.abc import Iterator


TOOLS_IMAGE = f"ghcr.io/kubeception/tools:{version()}"


def web_server(name: str, namespace: str, labels: dict[str, str] | None = None) -> Any:
    """Python's HTTP server on port 8000 serving /etc (so /hostname is the pod's name); Ready once it listens."""
    serve = ["python3", "-m", "http.server", "8000", "--directory", "/etc"]
    manifest = pod(name, namespace, PYTHON_IMAGE, serve, labels)
    manifest["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8000}, "periodSeconds": 1}
    return manifest


def test_a_pod_runs_and_its_logs_and_exec_reach_the_kubelet(real_plane, real_kube, real_namespace):
    script = "echo started on $(hostname); exec sleep 3600"
    real_kube.create(POD, pod("shell", real_namespace, TOOLS_IMAGE, ["/bin/sh", "-c", script]))
    status = running(real_kube, "shell", real_namespace)

    assert status["spec"]["nodeName"] == "real-node-0"
    assert ipaddress.ip_address(status["status"]["podIP"]) in real_plane.real_node("real-node-0").address.pod_cidr
    # Running is not written yet: the container's first line reaches its log file a moment later (a loaded run
    # read an empty log).
    wait_for(
        lambda: real_plane.kubectl("-n", real_namespace, "logs", "shell").stdout.strip() == "started on shell",
        timeout=30,
        message="the container's first line in its log, through the kubelet",
    )
    address = real_plane.kubectl("-n", real_namespace, "exec", "shell", "--", "ip", "-4", "-o", "addr", "show", "eth0")
    assert status["status"]["podIP"] + "/" in address.stdout


def test_a_service_routes_through_kube_proxy(real_plane, real_kube, real_namespace):
    real_kube.create(POD, web_server("web", real_namespace, labels={"app": "web"}))
    real_kube.create(POD, pod("client", real_namespace, PYTHON_IMAGE, ["sleep", "3600"]))
    real_kube.create(
        SERVICE,
        {
            "metadata": {"name": "web", "namespace": real_namespace},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]},
        },
    )
    running(real_kube, "web", real_namespace)
    running(real_kube, "client", real_namespace)
    cluster_ip = real_kube.get(SERVICE, "web", real_namespace)["spec"]["clusterIP"]

    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{cluster_ip}/hostname', timeout=5).read())"
    result: dict[str, subprocess.CompletedProcess[str]] = {}

    def served() -> bool:  # kube-proxy programs the rules once it sees the EndpointSlice
        result["last"] = python_in(real_plane, real_namespace, "client", fetch)
        return result["last"].returncode == 0

    wait_for(served, timeout=30, message=f"the Service at {cluster_ip} to answer")
    assert "web" in result["last"].stdout  # /etc/hostname of the web pod, through the ClusterIP


def test_port_forward_reaches_a_pod(real_plane, real_kube, real_namespace):
    real_kube.create(POD, web_server("web", real_namespace))
    running(real_kube, "web", real_namespace)
    forward = subprocess.Popen(
        [str(find_binary("kubectl")), f"--kubeconfig={real_plane.kubeconfig}", "-n", real_namespace,
         "port-forward", "pod/web", ":8000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:<port> -> 8000"
        assert line.startswith("Forwarding from 127.0.0.1:"), line + (forward.stderr.read() if forward.stderr else "")
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=10) as response:
            assert response.read().decode().strip() == "web"
    finally:
        forward.terminate()
        forward.wait(10)


def network_policy(name: str, namespace: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def test_network_policies_are_enforced_between_pods(real_plane, real_kube, real_namespace):
    """kube-network-policies (our patched build) on the node: a policy admitting nothing cuts both clients off,
    one admitting pods labelled ``role=friend`` on the server's port lets that client in again, not the other."""
    assert "queue" in network_policy_rules(real_plane.real_node("real-node-0").address.netns)
    real_kube.create(POD, web_server("web", real_namespace, labels={"app": "web"}))
    real_kube.create(POD, pod("friend", real_namespace, PYTHON_IMAGE, ["sleep", "3600"], labels={"role": "friend"}))
    real_kube.create(POD, pod("stranger", real_namespace, PYTHON_IMAGE, ["sleep", "3600"]))
    web = running(real_kube, "web", real_namespace)["status"]["podIP"]
    running(real_kube, "friend", real_namespace)
    running(real_kube, "stranger", real_namespace)
    assert connects(real_plane, real_namespace, "friend", web, 8000)
    assert connects(real_plane, real_namespace, "stranger", web, 8000)

    real_kube.create(NETWORK_POLICY, network_policy("deny-all", real_namespace, []))
    wait_for(
        lambda: not connects(real_plane, real_namespace, "stranger", web, 8000),
        timeout=30,
        message="the policy admitting nothing to be enforced",
    )
    assert not connects(real_plane, real_namespace, "friend", web, 8000)

    friends = [{"from": [{"podSelector": {"matchLabels": {"role": "friend"}}}], "ports": [{"port": 8000}]}]
    real_kube.create(NETWORK_POLICY, network_policy("friends", real_namespace, friends))
    wait_for(
        lambda: connects(real_plane, real_namespace, "friend", web, 8000),
        timeout=30,
        message="the policy admitting role=friend to be enforced",
    )
    assert not connects(real_plane, real_namespace, "stranger", web, 8000)


def test_a_killed_kubelet_makes_the_node_not_ready_and_a_restarted_one_ready(real_plane, real_kube, real_namespace):
    real_kube.create(POD, pod("survivor", real_namespace, TOOLS_IMAGE, ["sleep", "3600"]))
    container_before = running(real_kube, "survivor", real_namespace)["status"]["containerStatuses"][0]["containerID"]
    kubelet = real_plane.real_node("real-node-0").kubelet

    def node_ready() -> str:
        conditions = real_kube.get(NODE, "real-node-0")["status"]["conditions"]
        return str(next(c["status"] for c in conditions if c["type"] == "Ready"))

    kubelet.kill()
    try:
        wait_for(lambda: node_ready() == "Unknown", timeout=60, message="the node to be NotReady (Unknown)")
    finally:
        kubelet.start()
    wait_for(lambda: node_ready() == "True", timeout=60, message="the node to be Ready again")

    after = running(real_kube, "survivor", real_namespace)["status"]["containerStatuses"][0]
    assert after["containerID"] == container_before  # the pod outlived its kubelet
    assert after["restartCount"] == 0


@contextlib.contextmanager
def outside_host(run_id: str) -> Iterator[tuple[str, str, str]]:
    """A stand-in for "the world": a network namespace behind a veth pair on the host, on a /30 no route uses.
    Yields (namespace, the outside address, the host's address towards it)."""
    subnet = free_subnet(NODE_NETWORKS, 30, f"outside-{run_id}")
    host_ip, outside_ip = (str(address) for address in list(subnet.hosts())[:2])
    netns, link = f"kco{run_id}", f"kco{run_id}"
    run("ip", "netns", "add", netns)
    try:
        run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", link)
        run("ip", "link", "set", link, "up")
        run("ip", "addr", "add", f"{outside_ip}/30", "dev", "eth0", netns=netns)
        run("ip", "link", "set", "eth0", "up", netns=netns)
        run("ip", "route", "add", "default", "via", host_ip, netns=netns)
        yield netns, outside_ip, host_ip
    finally:
        run("ip", "link", "del", link, check=False)
        run("ip", "netns", "del", netns, check=False)


LISTEN = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
s.settimeout(60)
print("listening", flush=True)
while (text := s.recvfrom(100)[0].decode()) != "end":
    print(text, flush=True)
"""


def send_udp(target: str, text: str) -> str:
    return (
        f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'{text}', ('{target}', 9999))"
    )


def test_nothing_a_pod_sends_leaves_the_nodes_network(real_plane, real_kube, real_namespace):
    network = real_plane.network
    assert network is not None
    real_kube.create(POD, pod("sender", real_namespace, PYTHON_IMAGE, ["sleep", "3600"]))
    running(real_kube, "sender", real_namespace)
    with outside_host(uuid.uuid4().hex[:5]) as (netns, outside_ip, _):
        listener = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-c", LISTEN],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "listening"
        dropped_before = network.dropped()
        # The host itself reaches the outside address (the stand-in works) ...
        subprocess.run([sys.executable, "-c", send_udp(outside_ip, "from-host")], check=True)
        # ... a pod does not: the host would forward it, the run's nftables table drops it.
        for _ in range(3):
            sent = python_in(real_plane, real_namespace, "sender", send_udp(outside_ip, "from-pod"))
            assert sent.returncode == 0, sent.stderr
        # Had the host forwarded them, the pod's datagrams would be in before this one (the same host, in order).
        subprocess.run([sys.executable, "-c", send_udp(outside_ip, "end")], check=True)
        received, _ = listener.communicate(timeout=60)

    assert received.split() == ["from-host"]
    assert network.dropped() >= dropped_before + 3
