"""ingress-operator against real servers: two guest kube-apiservers behind one HAProxy port, routed by SNI."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from ingress_operator.spec import INGRESS_CONFIG
from ingress_operator.table import decode
from kubeception_testenv import wait_for
from operatorkit.kinds import CONFIG_MAP
from tests.ingress.conftest import (
    DOMAIN,
    KeptConnection,
    backend_service,
    cluster_namespace,
    condition,
    ingress_config,
    kubeconfig_for,
    kubectl,
    set_endpoints,
)

if TYPE_CHECKING:
    from pathlib import Path

    from operatorkit import KubeClient
    from tests.ingress.conftest import Guest

pytestmark = pytest.mark.slow


def route(kube: KubeClient, guest: Guest, **api: object) -> str:
    """The guest's API Service in a namespace of its cluster, and its IngressConfig; returns the namespace."""
    namespace = cluster_namespace(kube, guest.cluster)
    backend_service(kube, namespace, "apiserver", [(guest.server.address, guest.server.port)])
    kube.create(INGRESS_CONFIG, ingress_config(guest.cluster, namespace, **api))
    return namespace


def ready(kube: KubeClient, name: str, timeout: float = 30) -> None:
    try:
        wait_for(lambda: (c := condition(kube, name)) is not None and c["status"] == "True", timeout=timeout)
    except TimeoutError as exc:
        raise AssertionError(f"IngressConfig {name} not Ready: {condition(kube, name)}") from exc


def message(kube: KubeClient, name: str, type_: str = "Ready") -> str:
    found = condition(kube, name, type_)
    assert found is not None, f"{name} has no {type_} condition"
    return str(found["message"])


def ask(port: int, hostname: str) -> tuple[int, bytes]:
    """GET /readyz over a fresh TLS connection with this SNI (anonymous: any guest answers it): the HTTP status
    and the certificate the server presented."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        tls.sendall(f"GET /readyz HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
        answer = tls.recv(64).decode(errors="replace")
        return int(answer.split()[1]), tls.getpeercert(binary_form=True) or b""


def readyz(port: int, hostname: str) -> int:
    return ask(port, hostname)[0]


def served_cert(port: int, hostname: str) -> bytes:
    return ask(port, hostname)[1]


def test_two_guest_api_servers_behind_one_port_by_sni(kube, start_ingress, guests, tmp_path: Path) -> None:
    ingress = start_ingress()
    g1, g2 = guests["g1"], guests["g2"]
    route(kube, g1)
    route(kube, g2)
    ready(kube, "g1")
    ready(kube, "g2")
    status = kube.get(INGRESS_CONFIG, "g1")["status"]
    assert status["endpoints"] == [f"https://api.g1.{DOMAIN}:{ingress.agent.tls_port}"]
    server = f"https://127.0.0.1:{ingress.agent.tls_port}"
    for guest in (g1, g2):
        done = kubectl(kubeconfig_for(guest, server, tmp_path), "get", "namespaces", "-o", "name")
        assert done.returncode == 0, done.stderr
        assert "namespace/kube-system" in done.stdout.split()
    # Each hostname reaches its own cluster: the certificate passed through is that guest's own serving cert.
    for guest in (g1, g2):
        pem = guest.server.serving_cert.read_text()
        assert served_cert(ingress.agent.tls_port, guest.hostname) == ssl.PEM_cert_to_DER_cert(pem)
    # g2's admin, sent to g1 by SNI, is nobody there; TLS is passed through, so g1 sees g2's client certificate.
    foreign = kubeconfig_for(g1, server, tmp_path, cert=g2.admin_cert, key=g2.admin_key)
    refused = kubectl(foreign, "get", "namespaces")
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr or "must be logged in" in refused.stderr, refused.stderr
    # A name nobody claimed leads nowhere.
    with pytest.raises((ssl.SSLError, OSError, IndexError)):
        readyz(ingress.agent.tls_port, f"api.nobody.{DOMAIN}")
    assert ingress.agent.metric("kubeception_ingress_agent_reloads_total", '{result="success"}') <= 1


def test_a_hundred_routes_come_and_go_without_a_reload_or_a_failed_request(kube, start_ingress, guests) -> None:
    ingress = start_ingress()
    g1, g2 = guests["g1"], guests["g2"]
    route(kube, g1)
    route(kube, g2)
    ready(kube, "g1")
    ready(kube, "g2")
    reloads = ingress.agent.metric("kubeception_ingress_agent_reloads_total", '{result="success"}')
    results: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            for guest in (g1, g2):
                try:
                    results.append(readyz(ingress.agent.tls_port, guest.hostname))
                except (OSError, ValueError, IndexError) as exc:
                    failures.append(f"{guest.cluster}: {exc!r}")

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    names = [f"c{index:03d}" for index in range(100)]
    for name in names:  # each routes to a Service in a namespace of its own cluster, backed by g2
        ns = cluster_namespace(kube, name)
        backend_service(kube, ns, "apiserver", [(g2.server.address, g2.server.port)])
        kube.create(INGRESS_CONFIG, ingress_config(name, ns))
    for name in names:
        ready(kube, name, timeout=120)
    assert readyz(ingress.agent.tls_port, f"api.c042.{DOMAIN}") == 200
    for name in names:
        kube.delete(INGRESS_CONFIG, name)
    wait_for(lambda: len(kube.list(INGRESS_CONFIG)["items"]) == 2, timeout=120, message="100 routes deleted")
    wait_for(
        lambda: ingress.agent.metric("kubeception_ingress_agent_routes") == 2,
        timeout=30,
        message="agent serves 2 routes",
    )
    stop.set()
    thread.join(10)
    assert failures == []
    assert len(results) > 20
    assert set(results) == {200}
    assert ingress.agent.metric("kubeception_ingress_agent_reloads_total", '{result="success"}') == reloads
    assert ingress.agent.metric("kubeception_ingress_agent_runtime_updates_total") > 0
    assert readyz(ingress.agent.tls_port, g1.hostname) == 200


def test_backend_that_goes_away_and_comes_back(kube, start_ingress, guests) -> None:
    ingress = start_ingress()
    g1 = guests["g1"]
    namespace = route(kube, g1)
    ready(kube, "g1")
    set_endpoints(kube, namespace, "apiserver", [])
    wait_for(
        lambda: (c := condition(kube, "g1", "BackendsReady")) is not None and c["status"] == "False",
        timeout=20,
        message="BackendsReady False",
    )
    assert "no ready endpoint" in message(kube, "g1", "BackendsReady")

    def refused() -> bool:
        try:
            readyz(ingress.agent.tls_port, g1.hostname)
        except (OSError, IndexError, ValueError):
            return True
        return False

    wait_for(refused, timeout=20, message="no server behind the route")
    set_endpoints(kube, namespace, "apiserver", [(g1.server.address, g1.server.port)])
    wait_for(
        lambda: not refused() and readyz(ingress.agent.tls_port, g1.hostname) == 200, timeout=20, message="served again"
    )
    ready(kube, "g1")


def test_a_backend_naming_a_port_or_service_that_does_not_exist_is_not_ready(kube, start_ingress, guests) -> None:
    """Issue 29, finding 5: a backend port the Service lacks said only "no ready endpoint", with Ready=True."""
    start_ingress()
    g1 = guests["g1"]
    namespace = route(kube, g1)
    ready(kube, "g1")

    def refused(reason: str, says: str) -> dict[str, Any] | None:
        found = condition(kube, "g1")
        if found is not None and (found["status"], found["reason"]) == ("False", reason) and says in found["message"]:
            return found
        return None

    kube.patch(INGRESS_CONFIG, "g1", {"spec": {"api": {"backend": {"port": "api"}}}})
    not_ready = wait_for(lambda: refused("UnknownPort", "'api'"), timeout=20, message="Ready=False UnknownPort")
    assert isinstance(not_ready, dict)
    assert (
        not_ready["message"]
        == f"api: Service {namespace}/apiserver has no port named 'api'; its ports: 443/TCP (https)"
    )
    assert (condition(kube, "g1", "BackendsReady") or {}).get("reason") == "UnknownPort"
    kube.patch(INGRESS_CONFIG, "g1", {"spec": {"api": {"backend": {"port": 6443}}}})
    says = "has no port numbered 6443; its ports: 443/TCP (https)"
    wait_for(lambda: refused("UnknownPort", says), timeout=20, message="a port number the Service lacks")
    kube.patch(INGRESS_CONFIG, "g1", {"spec": {"api": {"backend": {"service": "nothing", "port": "https"}}}})
    says = f"api: Service {namespace}/nothing does not exist"
    wait_for(lambda: refused("NoService", says), timeout=20, message="Ready=False NoService")
    kube.patch(INGRESS_CONFIG, "g1", {"spec": {"api": {"backend": {"service": "apiserver"}}}})
    ready(kube, "g1")  # by its name, the port exists


def test_clash_and_foreign_namespace_are_refused_and_others_keep_serving(kube, start_ingress, guests) -> None:
    ingress = start_ingress()
    g1 = guests["g1"]
    route(kube, g1)
    ready(kube, "g1")
    # Outside its own domain: refused, naming the domain it may use.
    ns = cluster_namespace(kube, "thief")
    backend_service(kube, ns, "apiserver", [(guests["g2"].server.address, guests["g2"].server.port)])
    kube.create(INGRESS_CONFIG, ingress_config("thief", ns, hostnames=[g1.hostname]))
    wait_for(
        lambda: (c := condition(kube, "thief", "Claimed")) is not None and c["status"] == "False",
        timeout=20,
        message="thief refused",
    )
    assert f"outside the cluster's domain thief.{DOMAIN}" in message(kube, "thief", "Claimed")
    # Routing to another cluster's namespace: refused, naming its cluster.
    g1_namespace = kube.get(INGRESS_CONFIG, "g1")["spec"]["api"]["backend"]["namespace"]
    kube.create(INGRESS_CONFIG, ingress_config("peeker", g1_namespace))
    wait_for(
        lambda: (c := condition(kube, "peeker", "BackendsReady")) is not None and c["status"] == "False",
        timeout=20,
        message="peeker refused",
    )
    assert "belongs to cluster g1" in message(kube, "peeker", "BackendsReady")
    assert readyz(ingress.agent.tls_port, g1.hostname) == 200
    # Deleting the refused ones takes seconds and leaves the others' routes serving, their claims kept.
    claimed = kube.get(INGRESS_CONFIG, "g1")["status"]["routes"]
    kube.delete(INGRESS_CONFIG, "thief")
    kube.delete(INGRESS_CONFIG, "peeker")
    wait_for(lambda: len(kube.list(INGRESS_CONFIG)["items"]) == 1, timeout=10, message="deleted within seconds")
    assert readyz(ingress.agent.tls_port, g1.hostname) == 200
    assert kube.get(INGRESS_CONFIG, "g1")["status"]["routes"] == claimed


def busy_port_with_a_free_neighbour() -> tuple[socket.socket, int]:
    """A listening socket on port P, where P + 1 is free (other servers of the suite hold ports too: the first CI
    rehearsal with the AWS suite found P + 1 taken)."""
    for _ in range(100):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                busy.close()
                continue
        return busy, port
    raise RuntimeError("no port with a free neighbour on 127.0.0.1")


def test_frontend_port_is_a_seamless_reload_and_a_busy_port_a_condition(kube, start_ingress, guests, tmp_path) -> None:
    busy, port = busy_port_with_a_free_neighbour()
    ingress = start_ingress(ports=(port, port + 1))
    g1, g2 = guests["g1"], guests["g2"]
    route(kube, g1, frontendPort=True)  # gets the busy port: HAProxy cannot bind it
    wait_for(
        lambda: (c := condition(kube, "g1")) is not None and c["reason"] == "NotServed",
        timeout=30,
        message=lambda: f"g1 not served: {condition(kube, 'g1')}",
    )
    assert f"port {port}" in message(kube, "g1")
    assert readyz(ingress.agent.tls_port, g1.hostname) == 200  # the rest of its routes (by SNI) still serve
    route(kube, g2, frontendPort=True)
    ready(kube, "g2")
    routes = kube.get(INGRESS_CONFIG, "g2")["status"]["routes"]
    assert routes[0]["port"] == port + 1
    done = kubectl(kubeconfig_for(g2, f"https://127.0.0.1:{port + 1}", tmp_path), "get", "namespaces", "-o", "name")
    assert done.returncode == 0, done.stderr
    busy.close()
    assert ingress.agent.metric("kubeception_ingress_agent_reloads_total", '{result="success"}') >= 1


def test_agent_restart_comes_back_with_the_same_routes(kube, start_ingress, guests) -> None:
    ingress = start_ingress()
    g1 = guests["g1"]
    route(kube, g1)
    ready(kube, "g1")
    ingress.agent.stop()
    ingress.agent.start()
    assert readyz(ingress.agent.tls_port, g1.hostname) == 200


def in_table(kube: KubeClient, namespace: str, cluster: str) -> bool:
    table = kube.get(CONFIG_MAP, "ingress-routes", namespace)
    return any(route.cluster == cluster for route in decode(table["data"])[2])


def test_haproxy_serves_on_whatever_happens_to_its_agent_and_the_api_server(
    kube, control_plane, start_ingress, guests
) -> None:
    """HAProxy and its agent have separate lifetimes (issue 29: the agent's watch timed out, the agent exited and
    took HAProxy with it). The agent SIGKILLed, then stalled past its watch timeouts; the API server stalled past
    them, then killed and started again: a client asking without pause, on fresh connections and on one kept open,
    sees no request fail; HAProxy is the same process and never reloaded; a route made while the agent could not
    apply it is served once it can."""
    ingress = start_ingress(agent_flags=("--watch-timeout=2", "--watch-inactivity-timeout=2"))
    agent, g1, g2 = ingress.agent, guests["g1"], guests["g2"]
    route(kube, g1)
    ready(kube, "g1")
    haproxy, reloads = agent.haproxy.pid, agent.haproxy.runtime.reloads()
    asked: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def fresh_connections() -> None:
        while not stop.is_set():
            try:
                asked.append(readyz(agent.tls_port, g1.hostname))
            except (OSError, ValueError, IndexError) as exc:
                failures.append(f"fresh connection: {exc!r}")

    def kept_connection() -> None:
        kept = KeptConnection("127.0.0.1", agent.tls_port, g1.hostname)
        try:
            while not stop.wait(0.05):
                asked.append(kept.readyz())
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"kept connection: {exc!r}")
        finally:
            kept.close()

    clients = [threading.Thread(target=f, daemon=True) for f in (fresh_connections, kept_connection)]
    for client in clients:
        client.start()

    def new_route(cluster: str) -> None:
        namespace = cluster_namespace(kube, cluster)
        backend_service(kube, namespace, "apiserver", [(g2.server.address, g2.server.port)])
        kube.create(INGRESS_CONFIG, ingress_config(cluster, namespace))
        wait_for(lambda: in_table(kube, ingress.namespace, cluster), timeout=30, message=f"{cluster} in the table")

    def served(cluster: str) -> None:
        hostname = f"api.{cluster}.{DOMAIN}"
        wait_for(lambda: readyz(agent.tls_port, hostname) == 200, timeout=60, message=f"{hostname} served")
        ready(kube, cluster, timeout=60)

    agent.process.kill()  # SIGKILL: HAProxy keeps serving; the route made meanwhile waits for the agent
    new_route("killed")
    agent.process.start()
    served("killed")

    agent.process.pause()  # SIGSTOP past the watch's timeouts: the API server ends the watch meanwhile
    new_route("stalled")
    time.sleep(6)  # the fault's duration, not a synchronisation
    agent.process.resume()
    served("stalled")

    silent = agent.metric("kubeception_ingress_agent_table_watch_errors_total", '{reason="silent"}')
    control_plane.apiserver.pause()  # the agent's watch times out: what made it exit before
    time.sleep(5)  # the fault's duration
    control_plane.apiserver.resume()
    assert agent.metric("kubeception_ingress_agent_table_watch_errors_total", '{reason="silent"}') > silent
    new_route("apistall")
    served("apistall")

    errors = agent.metric("kubeception_ingress_agent_table_watch_errors_total", '{reason="error"}')
    control_plane.apiserver.kill()  # connections broken, then refused until it is back
    control_plane.apiserver.start()
    new_route("apikill")
    served("apikill")
    assert agent.metric("kubeception_ingress_agent_table_watch_errors_total", '{reason="error"}') > errors

    stop.set()
    for client in clients:
        client.join(10)
    assert failures == []
    assert len(asked) > 100
    assert set(asked) == {200}
    assert agent.haproxy.running
    assert agent.haproxy.pid == haproxy
    assert agent.haproxy.runtime.reloads() == reloads, "taking HAProxy over needs no reload"
    assert agent.process.running
