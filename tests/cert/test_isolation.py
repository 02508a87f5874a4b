"""Isolation, end to end: a real kube-apiserver runs as guest cluster A's control plane with certificates the
cert-operator issued from A's CA. A's admin certificate is accepted, one issued by cluster B's CA is not; the
serving certificate is renewed and the CA rotated under live traffic without one failed request."""

from __future__ import annotations

import base64
import functools
import http.client
import ssl
import subprocess
import threading
import uuid
from typing import TYPE_CHECKING, Any

import yaml
from cryptography import x509

from cert_operator.pem import serial_hex
from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import EtcdServer, GuestAPIServer, SecretVolume, find_binary, wait_for
from operatorkit.kinds import SECRET
from operatorkit.testing import status_of
from tests.cert.helpers import ca_config, cert_config, ready

if TYPE_CHECKING:
    from pathlib import Path

    from operatorkit import KubeClient

ROLES = [
    {"name": "api", "allowedDomains": ["localhost"], "allowBareDomains": True, "allowIPSANs": True},
    {"name": "admin", "allowAnyName": True, "organizations": ["system:masters"]},
]


def guest_ca(cluster: str, namespace: str) -> dict[str, Any]:
    return ca_config(cluster, namespace, cluster, keyType="ec", keyBits=256, roles=ROLES)


class SecretSync(threading.Thread):
    """The kubelet's part: each Secret's keys published into a SecretVolume, refreshed every 200 ms."""

    def __init__(self, kube: KubeClient, namespace: str, volumes: dict[str, SecretVolume]) -> None:
        super().__init__(daemon=True)
        self.kube, self.namespace, self.volumes = kube, namespace, volumes
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for name, volume in self.volumes.items():
                secret = self.kube.get_or_none(SECRET, name, self.namespace)
                if secret is not None:
                    volume.write({k: base64.b64decode(v) for k, v in secret["data"].items()})
            self.stopped.wait(0.2)


def get_namespaces(port: int, credentials: Path, ca: Path | None = None) -> tuple[int, x509.Certificate]:
    """One request with a fresh TLS connection, as a client that reloads its mounted credentials would make."""
    context = ssl.create_default_context(cafile=str(ca or credentials / "ca.crt"))
    context.load_cert_chain(str(credentials / "tls.crt"), str(credentials / "tls.key"))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", "/api/v1/namespaces")
        status_code = connection.getresponse().status
        served = connection.sock.getpeercert(binary_form=True)
        assert served is not None
        return status_code, x509.load_der_x509_certificate(served)
    finally:
        connection.close()


def snapshot(volume: SecretVolume, directory: Path) -> Path:
    """A consistent copy of the credentials (ssl loads certificates from files only)."""
    directory.mkdir(exist_ok=True)
    for key, value in volume.read("tls.crt", "tls.key", "ca.crt").items():
        (directory / key).write_bytes(value)
    return directory


class Traffic(threading.Thread):
    """A's admin listing namespaces every 100 ms, reloading its credentials for each request."""

    def __init__(self, port: int, admin: SecretVolume, workdir: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.admin, self.workdir = port, admin, workdir
        self.stopped = threading.Event()
        self.succeeded = 0
        self.failures: list[str] = []
        self.served: x509.Certificate | None = None

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                code, self.served = get_namespaces(self.port, snapshot(self.admin, self.workdir))
                if code == 200:
                    self.succeeded += 1
                else:
                    self.failures.append(f"HTTP {code}")
            except Exception as exc:
                self.failures.append(repr(exc))
            self.stopped.wait(0.1)


def kubectl(server: GuestAPIServer, workdir: Path, cert: Path, key: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "guest", "cluster": {"server": server.url, "certificate-authority": str(ca)}}],
        "users": [{"name": "user", "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "guest", "context": {"cluster": "guest", "user": "user"}}],
        "current-context": "guest",
    }
    path = workdir / f"kubeconfig-{uuid.uuid4().hex[:6]}"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(find_binary("kubectl")), f"--kubeconfig={path}", "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def issued_by(ca_pem: str, cert: x509.Certificate | None) -> bool:
    try:
        assert cert is not None
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.encode()))
    except Exception:
        return False
    return True


def test_guest_apiserver_isolation_renewal_and_rotation(kube, namespace, start_cert_operator, tmp_path):
    start_cert_operator()
    a, b = f"a{uuid.uuid4().hex[:5]}", f"b{uuid.uuid4().hex[:5]}"
    for cluster in (a, b):
        kube.create(CA_CONFIG, guest_ca(cluster, namespace))
    certificates = {
        f"{a}-apiserver": cert_config(
            f"{a}-apiserver", namespace, a, commonName="localhost", ipSANs=["127.0.0.1"], ttl="60s", renewBefore="50s"
        ),
        f"{a}-admin": cert_config(f"{a}-admin", namespace, a, role="admin", commonName="admin-a"),
        f"{b}-admin": cert_config(f"{b}-admin", namespace, b, role="admin", commonName="admin-b"),
    }
    for manifest in certificates.values():
        kube.create(CERT_CONFIG, manifest)
    for name in certificates:
        wait_for(functools.partial(ready, kube, CERT_CONFIG, name, namespace), timeout=30, message=f"{name} issued")

    volumes = {name: SecretVolume(tmp_path / name) for name in certificates}
    api, admin_a, admin_b = volumes.values()
    sync = SecretSync(kube, namespace, volumes)
    sync.start()
    try:
        wait_for(lambda: all(v.contents for v in volumes.values()), timeout=10, message="Secrets mounted")
        with (
            EtcdServer(tmp_path, name=f"etcd-{a}") as etcd,
            GuestAPIServer(
                tmp_path,
                etcd_url=etcd.url,
                serving_cert=api.path("tls.crt"),
                serving_key=api.path("tls.key"),
                client_ca=api.path("ca.crt"),
                name=f"apiserver-{a}",
            ) as server,
        ):
            # A's admin is cluster admin of A; B's admin, whatever it trusts, is nobody there.
            allowed = kubectl(
                server, tmp_path, admin_a.path("tls.crt"), admin_a.path("tls.key"), admin_a.path("ca.crt")
            )
            assert allowed.returncode == 0, allowed.stderr
            assert "namespace/kube-system" in allowed.stdout.split()
            rejected = kubectl(
                server, tmp_path, admin_b.path("tls.crt"), admin_b.path("tls.key"), admin_a.path("ca.crt")
            )
            assert rejected.returncode != 0
            assert "Unauthorized" in rejected.stderr, rejected.stderr

            traffic = Traffic(server.port, admin_a, tmp_path / "client")
            traffic.start()
            try:
                # Renewal: the live server moves to the renewed serving certificate.
                first = status_of(kube, CERT_CONFIG, f"{a}-apiserver", namespace)["serial"]
                wait_for(lambda: traffic.served is not None, timeout=10, message="first request")
                wait_for(
                    lambda: traffic.served is not None and serial_hex(traffic.served) != first,
                    timeout=60,
                    message="the apiserver serving its renewed certificate",
                )
                assert serial_hex(traffic.served) == status_of(kube, CERT_CONFIG, f"{a}-apiserver", namespace)["serial"]
                old_admin = tmp_path / "old-admin"
                old_admin.mkdir()
                for key in ("tls.crt", "tls.key", "ca.crt"):
                    (old_admin / key).write_bytes(admin_a.contents[key])

                # Rotation: trust both, re-issue everything, retire the old CA — under traffic.
                kube.patch(CA_CONFIG, a, {"spec": {"rotation": {"id": "r1", "overlap": "6s"}}}, namespace)
                wait_for(
                    lambda: status_of(kube, CA_CONFIG, a, namespace).get("rotation", {}).get("phase") == "Complete",
                    timeout=120,
                    message="rotation complete",
                )
                rotation = status_of(kube, CA_CONFIG, a, namespace)["rotation"]
                assert "settledAt" not in rotation, "a phase's settling time must not outlive the phase"
                new_ca = status_of(kube, CA_CONFIG, a, namespace)["ca"]["certificate"]
                wait_for(lambda: issued_by(new_ca, traffic.served), timeout=30, message="serving from the new CA")
                # Only the new CA is trusted now: the pre-rotation admin certificate is refused.
                wait_for(
                    lambda: get_namespaces(server.port, old_admin, ca=admin_a.path("ca.crt"))[0] == 401,
                    timeout=30,
                    message="the old CA's admin certificate refused",
                )
                count = traffic.succeeded
                wait_for(lambda: traffic.succeeded > count + 5, timeout=10, message="traffic after the rotation")
            finally:
                traffic.stopped.set()
                traffic.join()
            print(f"isolation: {traffic.succeeded} requests, {len(traffic.failures)} failed")
            assert traffic.failures == [], traffic.failures[:5]
            assert traffic.succeeded > 50
    finally:
        sync.stopped.set()
        sync.join()
