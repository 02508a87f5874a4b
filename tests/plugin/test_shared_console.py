"""The shared console (``serve-console``, charts/kubeception-console) against the real API server of
tests/plugin/conftest.py, acting with the chart's own service account and RBAC: an authenticating proxy's client
certificate is the only way in, the person it names is who the API server authorizes each read, dry run and change
as, and the console's own account can read no cluster."""

from __future__ import annotations

import base64
import contextlib
import http.client
import ssl
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from kubeception_testenv import HAProxyServer
from kubeception_testenv._pki import KeyPair, LocalPKI
from kubeception_testenv._ports import free_port
from kubeception_testenv.console import crypt_hash, front_proxy_config
from kubectl_kubeception import shared_console
from kubectl_kubeception.mother import KVM_CONFIG, Mother
from operatorkit import ApiError, KubeClient
from operatorkit.testing import wait_until
from tests.charts import helm, render_chart, service_account_kubeconfig
from tests.plugin.conftest import cluster_id

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kubeception_testenv import ControlPlane
    from tests.browser import Browser
    from tests.plugin.conftest import Orgs

CHART = Path(__file__).parents[2] / "charts" / "kubeception-console"
ORIGIN = "https://console.example.test"
REQUIRED = ("publicURL=https://console.example.test", "tls.secretName=console-tls", "requestheader.clientCASecret=ca")


@pytest.mark.parametrize(
    ("peer", "users", "groups", "expected"),
    [
        ("front-proxy", ["alice"], ["blue", "blue"], shared_console.Identity("alice", ("blue",))),
        (None, ["alice"], [], "no client certificate"),
        ("intruder", ["alice"], [], "'intruder' is not one of the authenticating proxies'"),
        ("front-proxy", [], [], "exactly one person"),
        ("front-proxy", ["alice", "bob"], [], "exactly one person"),
        ("front-proxy", [""], [], "exactly one person"),
        ("front-proxy", ["system:admin"], [], "'system:admin' is one of the platform's own identities"),
        ("front-proxy", ["alice"], ["system:masters"], "'system:masters' is one of the platform's own identities"),
        ("front-proxy", ["a" * 257], [], "at most 256 printable characters"),
        ("front-proxy", ["alice\n"], [], "at most 256 printable characters"),
        ("front-proxy", ["alice"], [f"g{i}" for i in range(65)], "at most 64 groups"),
    ],
)
def test_the_person_is_who_the_proxy_names_and_never_a_system_identity(peer, users, groups, expected):
    found = shared_console.identity(peer, frozenset({"front-proxy"}), users, groups)
    if isinstance(expected, str):
        assert isinstance(found, str)
        assert expected in found
    else:
        assert found == expected


@pytest.mark.servers  # helm, as make testenv builds it
def test_the_chart_lints_and_requires_its_proxy_and_tls():
    assert helm("lint", str(CHART), *(f"--set={v}" for v in REQUIRED)).returncode == 0
    bad = helm("lint", str(CHART), "--set=publicURL=http://console", "--set=impersonation.groups={system:masters}")
    assert bad.returncode != 0
    for field in ("/publicURL", "/tls", "/requestheader", "/impersonation/groups/0"):
        assert field in bad.stdout + bad.stderr


class Proxy:
    """Requests as the platform's authenticating proxy makes them: its client certificate, the person's name."""

    def __init__(self, port: int, server_ca: Path, client: KeyPair | None) -> None:
        self.port = port
        self.context = ssl.create_default_context(cafile=str(server_ca))
        if client is not None:
            self.context.load_cert_chain(client.cert, client.key)

    def request(
        self, path: str, user: str | None = None, groups: tuple[str, ...] = (), form: dict[str, str] | None = None,
        origin: str = ORIGIN,
    ) -> tuple[int, str]:  # fmt: skip
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)
        try:
            connection.putrequest("POST" if form is not None else "GET", path)
            if user is not None:
                connection.putheader(shared_console.USER_HEADER, user)
            for group in groups:
                connection.putheader(shared_console.GROUP_HEADER, group)
            body = urllib.parse.urlencode(form or {}).encode()
            if form is not None:
                connection.putheader("Content-Type", "application/x-www-form-urlencoded")
                connection.putheader("Origin", origin)
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body if form is not None else None)
            answer = connection.getresponse()
            return answer.status, answer.read().decode()
        finally:
            connection.close()


@contextlib.contextmanager
def chart_account(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, path: Path, *values: str
) -> Iterator[Path]:
    """The chart's service account and RBAC (rendered with ``values``), applied for real; a kubeconfig acting as
    that account. Its cluster-scoped roles go at the end."""
    rendered = render_chart(CHART, namespace, *REQUIRED, *values)
    rbac = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] not in ("Deployment", "Service")]
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    try:
        yield service_account_kubeconfig(control_plane, kube, namespace, CHART.name, path)
    finally:
        for doc in rbac:
            if not doc["metadata"].get("namespace"):
                control_plane.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], check=False)


@contextlib.contextmanager
def shared_server(mother: Mother, pki: LocalPKI, origin: str) -> Iterator[shared_console.SharedServer]:
    """The shared console on loopback: a serving certificate of ``pki``, client certificates of ``pki`` required, the
    proxy's name ``front-proxy`` allowed."""
    served = pki.issue("console", "console", ip_addresses=("127.0.0.1",), server=True)
    context = shared_console.tls_context(served.cert, served.key, pki.ca.cert)
    server = shared_console.SharedServer(
        mother, ("127.0.0.1", 0), context, origin=origin, allowed=frozenset({"front-proxy"})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def console_account(control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path) -> Iterator[Path]:
    with chart_account(control_plane, kube, namespace, tmp_path / "console.kubeconfig") as path:
        yield path


def test_each_person_sees_and_changes_what_their_own_credentials_allow(
    orgs: Orgs, console_account: Path, tmp_path: Path
) -> None:
    pki = LocalPKI(tmp_path / "pki")
    proxy_cert = pki.issue("front-proxy", "front-proxy", client=True)
    stranger_cert = pki.issue("stranger", "stranger", client=True)  # signed by the same CA, not a proxy's name
    rogue_cert = LocalPKI(tmp_path / "rogue").issue("front-proxy", "front-proxy", client=True)
    mother = Mother.connect(str(console_account), None)

    # the console's own account reads no cluster: whatever a page shows was read as its person
    with pytest.raises(ApiError) as refused:
        mother.client.list(KVM_CONFIG, orgs.a)
    assert refused.value.status == 403

    with shared_server(mother, pki, ORIGIN) as server:
        proxy = Proxy(server.port, pki.ca.cert, proxy_cert)
        mine, theirs = cluster_id(), cluster_id()
        for name, namespace in ((mine, orgs.a), (theirs, orgs.b)):
            orgs.admin.create(KVM_CONFIG, {"metadata": {"name": name}, "spec": {"clusterID": name,
                              "kubernetesVersion": "1.36.3"}}, namespace)  # fmt: skip

        # only the proxy gets in: no certificate, or one of another CA, fails the handshake; a name not the proxy's
        for client in (None, rogue_cert):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                Proxy(server.port, pki.ca.cert, client).request("/", user=orgs.alice)
        status, page = Proxy(server.port, pki.ca.cert, stranger_cert).request("/", user=orgs.alice)
        assert status == 403
        assert "not one of the authenticating proxies" in page
        status, page = proxy.request("/", user="system:admin")
        assert (status, "the platform&#39;s own identities" in page) == (403, True)
        status, page = proxy.request("/", user=orgs.alice, groups=("system:masters",))
        assert (status, "the platform&#39;s own identities" in page) == (403, True)

        # alice sees her organization and its cluster, not the other one's
        status, home = proxy.request("/", user=orgs.alice)
        assert status == 200, home
        assert orgs.name_a in home
        assert orgs.name_b not in home
        assert f"organizations whose clusters you may read: {orgs.a}." in home
        status, page = proxy.request(f"/orgs/{orgs.name_a}/clusters", user=orgs.alice)
        assert (status, mine in page, theirs in page) == (200, True, False)
        status, page = proxy.request(f"/clusters/{orgs.b}/{theirs}", user=orgs.alice)
        assert status == 403, page
        assert "forbidden" in page.lower()
        # someone unknown to the mother's RBAC sees nothing
        status, page = proxy.request(f"/orgs/{orgs.name_a}/clusters", user="mallory")
        assert status == 403

        # her forms carry her own token: creating in her organization works, in the other is refused as her
        token = server.form_token(orgs.alice)
        created = cluster_id()
        fields = {"kind": "kvm", "name": created, "version": "1.36.3", "workers": "1", "replicas": "1", "csrf": token}
        status, page = proxy.request(f"/orgs/{orgs.name_a}/clusters/new", user=orgs.alice, form=fields)
        assert (status, "accepted this change in a dry run" in page) == (200, True), page
        assert orgs.admin.get_or_none(KVM_CONFIG, created, orgs.a) is None
        applied = {**fields, "step": "apply"}
        assert proxy.request(f"/orgs/{orgs.name_a}/clusters/new", user="bob", form=applied)[0] == 403, "her token"
        assert proxy.request(f"/orgs/{orgs.name_a}/clusters/new", user=orgs.alice, form=applied,
                             origin="https://evil.example")[0] == 403  # fmt: skip
        assert orgs.admin.get_or_none(KVM_CONFIG, created, orgs.a) is None
        status, page = proxy.request(f"/orgs/{orgs.name_a}/clusters/new", user=orgs.alice, form=applied)
        assert status == 200, page
        assert orgs.admin.get(KVM_CONFIG, created, orgs.a)["spec"]["clusterID"] == created
        status, page = proxy.request(f"/orgs/{orgs.name_b}/clusters/new", user=orgs.alice, form=applied)
        assert status == 409
        assert "forbidden" in page.lower()
        assert orgs.admin.get_or_none(KVM_CONFIG, created, orgs.b) is None


def test_impersonation_narrowed_by_the_chart_is_enforced_by_the_api_server(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path, orgs: Orgs
) -> None:
    """With impersonation.users listed, the console's account can act as those people only."""
    narrowed = f"impersonation.users={{{orgs.alice}}}"
    with chart_account(control_plane, kube, namespace, tmp_path / "c.kubeconfig", narrowed) as config:
        client = KubeClient.load(str(config))
        assert client.impersonating(orgs.alice).list(KVM_CONFIG, orgs.a)["items"] is not None
        with pytest.raises(ApiError) as refused:
            client.impersonating("bob").list(KVM_CONFIG, orgs.a)
        assert refused.value.status == 403
        assert "cannot impersonate" in refused.value.message


def through_haproxy(port: int, path: str, credentials: str | None, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = dict(headers)
        if credentials is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        connection.request("GET", path, headers=sent)
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def test_a_person_signs_in_at_a_real_haproxy_and_uses_the_shared_console_in_a_browser(
    orgs: Orgs, console_account: Path, chromium: Browser, tmp_path: Path
) -> None:
    """The whole path a person takes: headless Chromium -> HAProxy (basic authentication, names the person; the
    demo's proxy, configured by the same code) -> the console over mTLS with HAProxy's client certificate -> the
    mother's API as that person. A name the client sends itself never gets through."""
    pki = LocalPKI(tmp_path / "pki")
    proxy_cert = pki.issue("front-proxy", "front-proxy", client=True)
    proxy_pem = tmp_path / "front-proxy.pem"  # HAProxy's crt: the certificate and its key in one file
    proxy_pem.write_bytes(proxy_cert.cert.read_bytes() + proxy_cert.key.read_bytes())
    listen = free_port()
    origin = f"http://127.0.0.1:{listen}"
    people = {orgs.alice: "alice-secret", "mallory": "mallory-secret"}
    hashed = {name: crypt_hash(word) for name, word in people.items()}
    (tmp_path / "haproxy").mkdir()
    with shared_server(Mother.connect(str(console_account), None), pki, origin) as server:
        config = front_proxy_config(
            f"127.0.0.1:{listen}",
            f"127.0.0.1:{server.port}",
            proxy_pem=str(proxy_pem),
            console_ca=str(pki.ca.cert),
            people=hashed,
        )
        with HAProxyServer(tmp_path / "haproxy", config, [listen]):
            # no credentials: the proxy asks for them; a wrong password is no person
            status, _ = through_haproxy(listen, "/", None, {})
            assert status == 401
            assert through_haproxy(listen, "/", f"{orgs.alice}:wrong", {})[0] == 401
            # mallory names alice, and system:masters, herself: the proxy drops both, she is only mallory
            spoofed = {"X-Remote-User": orgs.alice, "X-Remote-Group": "system:masters"}
            status, page = through_haproxy(listen, f"/orgs/{orgs.name_a}/clusters", "mallory:mallory-secret", spoofed)
            assert status == 403, page
            assert "own identities" not in page, "the client's group reached the console"
            status, page = through_haproxy(listen, "/", f"{orgs.alice}:alice-secret", {})
            assert (status, orgs.name_a in page) == (200, True), page

            # alice in the browser: signs in, creates a cluster in her organization with the form (dry run, apply)
            chromium.go(f"http://{orgs.alice}:alice-secret@127.0.0.1:{listen}/")
            assert orgs.name_a in chromium.text()
            assert orgs.name_b not in chromium.text()
            chromium.go(f"{origin}/orgs/{orgs.name_a}/clusters")
            created = cluster_id()
            chromium.fill("#new-name", created)
            chromium.fill("#new-version", "1.36.3")
            chromium.click("form[action$='/new'] button")
            wait_until(lambda: "accepted this change in a dry run" in chromium.text(), timeout=30)
            assert orgs.admin.get_or_none(KVM_CONFIG, created, orgs.a) is None
            chromium.screenshot(tmp_path / "01-shared-console-preview.png")
            chromium.click("form.change button")
            wait_until(lambda: "Applied" in chromium.text(), timeout=30)
            assert orgs.admin.get(KVM_CONFIG, created, orgs.a)["spec"]["clusterID"] == created
            chromium.go(f"{origin}/clusters/{orgs.a}/{created}")
            assert f"KVMConfig/{orgs.a}/{created}" in chromium.text()
            chromium.screenshot(tmp_path / "02-shared-console-cluster.png")
