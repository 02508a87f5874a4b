"""cert-operator's guest credential issuer on a real API server (with the organizations' admission policies) and a
real OpenBao: a user of an organization, authenticated to the mother by his own client certificate, gets a client
certificate to a guest cluster of his organization for his own name — whatever the CSR says — and nothing of
another organization's cluster; a refused request says why; deleting a request revokes its certificate; a
signature that was never stored is found and revoked."""

from __future__ import annotations

import datetime
import functools
import json
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cert_operator.controller import ca_controller, guest_controller
from cert_operator.vault import Vault
from cert_operator.vault_auth import TokenAuth
from guestkit import CA_CONFIG
from kubeception_testenv import GuestAPIServer, find_binary
from kubectl_kubeception.cli import cli
from kvm_operator.spec import KVM_CONFIG
from operatorkit import ApiError, Kind, KubeClient, get_condition, is_true
from operatorkit.testing import OperatorRunner, apply_crds, status_of, wait_until
from tests.cert.helpers import ca_config, issued_serials, revoked
from tests.organizations.test_organizations import (  # noqa: F401 — orgs is a fixture
    CREDENTIAL_REQUEST,
    Organizations,
    csr_pem,
    kvm,
    orgs,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    import hvac

    from kubeception_testenv import ControlPlane, OpenBaoServer

pytestmark = pytest.mark.servers

CRDS = Path(__file__).parents[2] / "crds"


@dataclass(frozen=True)
class Guests:
    orgs: Organizations
    mine: str  # a KVMConfig (and its Ready CA) in organization a
    theirs: str  # one in organization b
    bao: hvac.Client


def request(name: str, cluster: str, csr: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"cluster": cluster, "csr": csr, **spec}}


def issued_condition(kube: KubeClient, name: str, namespace: str) -> dict[str, Any] | None:
    """The Issued condition once it is settled (True, or False for any reason but the in-between ones)."""
    condition = get_condition(status_of(kube, CREDENTIAL_REQUEST, name, namespace), "Issued")
    if condition is None or condition.get("reason") in ("Signing", "CANotReady", "Reconciled"):
        return None
    return condition


def wait_issued(kube: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    condition = wait_until(lambda: issued_condition(kube, name, namespace), timeout=60, message=f"{name} settled")
    assert condition["status"] == "True", condition
    status: dict[str, Any] = status_of(kube, CREDENTIAL_REQUEST, name, namespace)
    return status


def wait_refused(kube: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    condition = wait_until(lambda: issued_condition(kube, name, namespace), timeout=60, message=f"{name} settled")
    assert condition["status"] == "False", condition
    assert not status_of(kube, CREDENTIAL_REQUEST, name, namespace).get("certificate")
    refused: dict[str, Any] = condition
    return refused


def ca_ready(kube: KubeClient, name: str, namespace: str) -> bool:
    return is_true(status_of(kube, CA_CONFIG, name, namespace), "Ready")


def gone(kube: KubeClient, kind: Kind, namespace: str) -> bool:
    return not kube.list(kind, namespace)["items"]


def cluster_with_ca(kube: KubeClient, namespace: str) -> str:
    """A KVMConfig and the CAConfig it owns (what kvm-operator makes), Ready."""
    name = f"c-{uuid.uuid4().hex[:8]}"
    cluster = kube.create(KVM_CONFIG, kvm(name), namespace)
    ca = ca_config(f"{name}-ca", namespace, name)
    ca["metadata"]["ownerReferences"] = [
        {
            "apiVersion": KVM_CONFIG.api_version,
            "kind": KVM_CONFIG.kind,
            "name": name,
            "uid": cluster["metadata"]["uid"],
            "controller": True,
        }
    ]
    kube.create(CA_CONFIG, ca, namespace)
    return name


@pytest.fixture(scope="module")
def guests(orgs: Organizations, openbao: OpenBaoServer) -> Iterator[Guests]:  # noqa: F811 — the fixture
    kube = orgs.admin
    apply_crds(kube, CRDS / "caconfigs.kubeception.io.yaml", CRDS / "certconfigs.kubeception.io.yaml")
    vault = Vault(openbao.url, TokenAuth(openbao.root_token), ca_cert=str(openbao.ca_file))
    runner = OperatorRunner(kube)
    for namespace in (orgs.a, orgs.b):  # one in-process operator per organization namespace
        runner.start(
            f"cert-operator-{namespace}",
            [ca_controller(vault), guest_controller(vault)],
            namespace=namespace,
            reconcile={"backoff_base": 0.1, "backoff_cap": 2},
        )
    mine, theirs = cluster_with_ca(kube, orgs.a), cluster_with_ca(kube, orgs.b)
    for name, namespace in ((mine, orgs.a), (theirs, orgs.b)):
        wait_until(functools.partial(ca_ready, kube, f"{name}-ca", namespace), timeout=60, message=f"{name}'s CA")
    try:
        yield Guests(orgs, mine, theirs, openbao.hvac_client())
    finally:
        for namespace in (orgs.a, orgs.b):  # while the operators run: their finalizers revoke and unmount
            for kind in (CREDENTIAL_REQUEST, CA_CONFIG):
                for item in kube.list(kind, namespace)["items"]:
                    kube.delete(kind, item["metadata"]["name"], namespace)
        for namespace in (orgs.a, orgs.b):
            for kind in (CREDENTIAL_REQUEST, CA_CONFIG):
                wait_until(functools.partial(gone, kube, kind, namespace), timeout=60, message="deleted")
        runner.stop()


def certificate(status: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(status["certificate"].encode())


def subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in cert.subject.get_attributes_for_oid(oid)]


def test_a_user_gets_a_certificate_for_their_own_name_whatever_the_csr_says(guests: Guests) -> None:
    org = guests.orgs
    key = ec.generate_private_key(ec.SECP256R1())
    asked = csr_pem("kubeception-admin", "system:masters", key)  # another name, and system:masters
    org.alice.create(CREDENTIAL_REQUEST, request("edit", guests.mine, asked, access="edit", ttl="2h"), org.a)
    status = wait_issued(org.admin, "edit", org.a)
    cert = certificate(status)
    assert subject(cert, NameOID.COMMON_NAME) == [org.alice_name]
    assert subject(cert, NameOID.ORGANIZATION_NAME) == ["kubeception:edit"]
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # signed by the cluster's CA, which status.ca carries for the kubeconfig
    ca_status = status_of(org.admin, CA_CONFIG, f"{guests.mine}-ca", org.a)["ca"]
    ca = x509.load_pem_x509_certificate(ca_status["certificate"].encode())
    cert.verify_directly_issued_by(ca)
    assert ca_status["certificate"].strip() in status["ca"]
    # about the TTL asked for (Vault backdates notBefore by 30 s), and what status says
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=118) < lifetime <= datetime.timedelta(hours=2)
    assert status["notAfter"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["serialNumber"] in issued_serials(guests.bao, guests.mine) | {
        status["serialNumber"].replace(":", "-")
    }
    expired = get_condition(status, "Expired")
    assert expired is not None
    assert expired["status"] == "False"
    assert "signingSince" not in status


def test_another_organizations_cluster_is_refused_and_not_revealed(guests: Guests) -> None:
    org = guests.orgs
    before = issued_serials(guests.bao, guests.theirs)
    org.alice.create(CREDENTIAL_REQUEST, request("theirs", guests.theirs, csr_pem()), org.a)
    condition = wait_refused(org.admin, "theirs", org.a)
    assert condition["reason"] == "ClusterNotFound"
    assert f"no cluster {guests.theirs} in namespace {org.a}" in condition["message"]
    assert org.b not in condition["message"]
    assert issued_serials(guests.bao, guests.theirs) == before
    # the same request in its own organization is signed (the platform admin there, as himself)
    org.admin.create(CREDENTIAL_REQUEST, request("own", guests.theirs, csr_pem(), access="masters", ttl="5m"), org.b)
    cert = certificate(wait_issued(org.admin, "own", org.b))
    assert subject(cert, NameOID.ORGANIZATION_NAME) == ["system:masters"]
    assert subject(cert, NameOID.COMMON_NAME) == ["kubeception-admin"]


@pytest.mark.parametrize(
    ("csr", "says"),
    [
        (
            "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n-----END CERTIFICATE REQUEST-----\n",
            "spec.csr is not a PEM certificate request",
        ),
        ("weak", "spec.csr's RSA key has 1024 bits; at least 2048 are needed"),
    ],
    ids=["garbage", "rsa-1024"],
)
def test_a_csr_the_issuer_cannot_accept_is_refused_with_a_reason(guests: Guests, csr: str, says: str) -> None:
    org = guests.orgs
    if csr == "weak":
        csr = csr_pem(key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    name = f"bad-{uuid.uuid4().hex[:6]}"
    before = issued_serials(guests.bao, guests.mine)
    org.alice.create(CREDENTIAL_REQUEST, request(name, guests.mine, csr), org.a)
    condition = wait_refused(org.admin, name, org.a)
    assert condition["reason"] == "InvalidCSR"
    assert says in condition["message"]
    assert issued_serials(guests.bao, guests.mine) == before


@pytest.mark.parametrize(
    ("csr", "says"),
    [
        (
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
            "spec.csr in body should match '^-----BEGIN CERTIFICATE REQUEST-----'",
        ),
        ("-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 4096, "spec.csr: Too long: may not be more than 4096"),
    ],
    ids=["not-pem", "too-long"],
)
def test_a_csr_field_that_is_not_a_pem_request_is_refused_at_admission(guests: Guests, csr: str, says: str) -> None:
    org = guests.orgs
    with pytest.raises(ApiError) as refused:
        org.alice.create(CREDENTIAL_REQUEST, request("field", guests.mine, csr), org.a)
    assert refused.value.status == 422
    assert says in refused.value.message, refused.value.message


def test_deleting_a_request_revokes_its_certificate(guests: Guests) -> None:
    org = guests.orgs
    org.alice.create(CREDENTIAL_REQUEST, request("short", guests.mine, csr_pem()), org.a)
    serial = wait_issued(org.admin, "short", org.a)["serialNumber"]
    assert not revoked(guests.bao, guests.mine, serial)
    org.alice.delete(CREDENTIAL_REQUEST, "short", org.a)
    wait_until(lambda: org.admin.get_or_none(CREDENTIAL_REQUEST, "short", org.a) is None, timeout=30, message="deleted")
    assert revoked(guests.bao, guests.mine, serial)


def test_a_signature_that_was_never_stored_is_revoked(guests: Guests) -> None:
    """The process stopped (or its status write failed) between Vault's signature and the write storing it: the
    write-ahead ``signingSince`` is all the status says. The next pass finds that certificate and revokes it — and
    not one another request stored for the same key."""
    org, kube = guests.orgs, guests.orgs.admin
    csr = csr_pem()
    paused = request("crashed", guests.mine, csr)
    paused["metadata"]["annotations"] = {"kubeception.io/paused": "true"}
    kube.create(CREDENTIAL_REQUEST, paused, org.a)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.patch(
        CREDENTIAL_REQUEST,
        "crashed",
        {"status": {"clusterID": guests.mine, "signingSince": started}},
        org.a,
        subresource="status",
    )
    lost = guests.bao.secrets.pki.sign_verbatim(csr, mount_point=f"pki-{guests.mine}", extra_params={"ttl": "1h"})
    lost_serial = lost["data"]["serial_number"]
    # the same key in another request, stored: not this request's to revoke
    kube.create(CREDENTIAL_REQUEST, request("twin", guests.mine, csr), org.a)
    twin_serial = wait_issued(kube, "twin", org.a)["serialNumber"]
    kube.patch(CREDENTIAL_REQUEST, "crashed", {"metadata": {"annotations": {"kubeception.io/paused": None}}}, org.a)
    status = wait_issued(kube, "crashed", org.a)
    assert status["serialNumber"] != lost_serial
    assert revoked(guests.bao, guests.mine, lost_serial)
    assert not revoked(guests.bao, guests.mine, status["serialNumber"])
    assert not revoked(guests.bao, guests.mine, twin_serial)


def self_subject(server: GuestAPIServer, cert: Path, key: Path, ca: Path) -> dict[str, Any] | int:
    """Who the guest API server says the client certificate is (SelfSubjectReview), or the HTTP status refusing it."""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    review = urllib.request.Request(
        f"{server.url}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(review, context=context, timeout=10) as response:
            user: dict[str, Any] = json.load(response)["status"]["userInfo"]
            return user
    except urllib.error.HTTPError as error:
        return error.code


def test_the_credential_authenticates_in_the_guest_until_it_expires(
    guests: Guests, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A guest kube-apiserver trusting the cluster's CA (as kvm-operator's do) takes the issued certificate as the
    user, in the access level's group; a 1-minute certificate stops working there once it has expired."""
    org, cluster = guests.orgs, guests.mine
    serving = guests.bao.secrets.pki.generate_certificate(
        "api", f"apiserver.{cluster}.local", extra_params={"ip_sans": "127.0.0.1"}, mount_point=f"pki-{cluster}"
    )["data"]
    files = {"serving.crt": serving["certificate"], "serving.key": serving["private_key"]}
    files["ca.crt"] = serving["issuing_ca"] + "\n"
    keys = {}
    for name in ("hour", "minute"):
        keys[name] = ec.generate_private_key(ec.SECP256R1())
        files[f"{name}.key"] = (
            keys[name]
            .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            .decode()
        )
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with GuestAPIServer(
        tmp_path,
        etcd_url=control_plane.etcd.url,
        serving_cert=tmp_path / "serving.crt",
        serving_key=tmp_path / "serving.key",
        client_ca=tmp_path / "ca.crt",
        name=f"guest-{cluster}",
    ) as server:
        for name, ttl in (("hour", "1h"), ("minute", "1m")):
            org.alice.create(CREDENTIAL_REQUEST, request(name, cluster, csr_pem(key=keys[name]), ttl=ttl), org.a)
        for name in ("hour", "minute"):
            status = wait_issued(org.admin, name, org.a)
            (tmp_path / f"{name}.crt").write_text(status["certificate"])
            assert (tmp_path / "ca.crt").read_text().strip() in status["ca"]

        def who(name: str) -> dict[str, Any] | int:
            return self_subject(server, tmp_path / f"{name}.crt", tmp_path / f"{name}.key", tmp_path / "ca.crt")

        for name in ("hour", "minute"):
            user = who(name)
            assert isinstance(user, dict), user
            assert user["username"] == org.alice_name
            assert set(user["groups"]) == {"kubeception:view", "system:authenticated"}

        not_after = status_of(org.admin, CREDENTIAL_REQUEST, "minute", org.a)["notAfter"]

        def expired() -> bool:
            condition = get_condition(status_of(org.admin, CREDENTIAL_REQUEST, "minute", org.a), "Expired")
            return condition is not None and condition["status"] == "True"

        # `kubectl kubeception login` as alice runs it, against this issuer: a context that is alice in the guest.
        alice_config = control_plane.user_kubeconfig(org.alice_name, ("devs",))
        out = tmp_path / "login.kubeconfig"
        logged_in = CliRunner().invoke(
            cli,
            ["login", cluster, "-n", org.a, f"--kubeconfig={alice_config}", f"--kubeconfig-out={out}",
             f"--server={server.url}", "--ttl=10m"],
        )  # fmt: skip
        assert logged_in.exit_code == 0, logged_in.output
        whoami = subprocess.run(
            [str(find_binary("kubectl")), f"--kubeconfig={out}", "auth", "whoami", "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert whoami.returncode == 0, whoami.stderr
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == org.alice_name

        wait_until(expired, timeout=120, interval=1, message=f"Expired after {not_after}")
        assert datetime.datetime.now(datetime.UTC) >= datetime.datetime.fromisoformat(not_after)
        assert who("minute") == 401
        assert isinstance(who("hour"), dict)
