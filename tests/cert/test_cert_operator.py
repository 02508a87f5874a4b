"""cert-operator against the real control plane and a real OpenBao: CA, roles, certificates, renewal,
revocation, deletion order, and bad input as conditions."""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import uuid
from typing import TYPE_CHECKING, Any

from cryptography import x509
from prometheus_client import REGISTRY

from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from kubeception_testenv._ports import free_port
from operatorkit import CLUSTER_LABEL, get_condition
from operatorkit.kinds import CONFIG_MAP, EVENT, SECRET
from operatorkit.testing import condition_of, reason_of, status_of
from tests.cert.helpers import ca_config, cert_config, ready, revoked, secret_cert

if TYPE_CHECKING:
    from operatorkit import KubeClient


def test_ca_roles_certificate_renewal_revocation_and_deletion_order(kube, namespace, bao, start_cert_operator, caplog):
    caplog.set_level(logging.DEBUG)
    start_cert_operator()
    cluster = f"a{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    wait_for(lambda: ready(kube, CA_CONFIG, "ca", namespace), timeout=30, message="CA ready")
    ca_status = status_of(kube, CA_CONFIG, "ca", namespace)
    assert ca_status["mount"] == f"pki-{cluster}"
    assert sorted(bao.secrets.pki.list_roles(mount_point=f"pki-{cluster}")["data"]["keys"]) == ["admin", "api"]
    published = kube.get(CONFIG_MAP, f"{cluster}-ca", namespace)["data"]["ca.crt"]
    assert published.strip() == ca_status["ca"]["certificate"]

    kube.create(
        CERT_CONFIG,
        cert_config("apiserver", namespace, cluster, altNames=[f"api.{cluster}.local"], ipSANs=["127.0.0.1"]),
    )
    wait_for(lambda: ready(kube, CERT_CONFIG, "apiserver", namespace), timeout=30, message="certificate issued")
    leaf, ca, key = secret_cert(kube, "apiserver", namespace)
    leaf.verify_directly_issued_by(ca)
    assert ca.subject.rfc4514_string() == f"CN={cluster} CA"
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.IPv4Address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert f"api.{cluster}.local" in sans.get_values_for_type(x509.DNSName)
    assert key.startswith("-----BEGIN")
    first_serial = status_of(kube, CERT_CONFIG, "apiserver", namespace)["serial"]
    assert (
        REGISTRY.get_sample_value(
            "kubeception_certificate_expiry_timestamp_seconds",
            {"namespace": namespace, "name": "apiserver", "cluster": cluster},
        )
        == leaf.not_valid_after_utc.timestamp()
    )

    # Private keys never reach logs or Events.
    key_body = "".join(key.strip().splitlines()[1:-1])[:64]
    events = " ".join(e.get("message", "") for e in kube.list(EVENT, namespace)["items"])
    assert "Issued" in " ".join(e["reason"] for e in kube.list(EVENT, namespace)["items"])
    for text in (events, caplog.text):
        assert "PRIVATE KEY" not in text
        assert key_body not in text

    # A spec change re-issues, then revokes the replaced serial.
    kube.patch(
        CERT_CONFIG, "apiserver", {"spec": {"altNames": [f"api.{cluster}.local", f"k8s.{cluster}.local"]}}, namespace
    )
    wait_for(
        lambda: status_of(kube, CERT_CONFIG, "apiserver", namespace).get("serial") not in (None, first_serial),
        timeout=30,
        message="re-issued after the spec change",
    )
    assert revoked(bao, cluster, first_serial)

    # Roles follow the spec.
    kube.patch(
        CA_CONFIG, "ca", {"spec": {"roles": ca_config("ca", namespace, cluster)["spec"]["roles"][:1]}}, namespace
    )
    wait_for(
        lambda: bao.secrets.pki.list_roles(mount_point=f"pki-{cluster}")["data"]["keys"] == ["api"],
        timeout=30,
        message="the admin role deleted",
    )

    # Deleting the CA waits for the cluster's certificates.
    kube.delete(CA_CONFIG, "ca", namespace)
    wait_for(
        lambda: reason_of(kube, CA_CONFIG, "ca", namespace) == "WaitingForCertConfigs",
        timeout=30,
        message="the CA waiting for its certificates",
    )
    assert f"pki-{cluster}/" in bao.sys.list_mounted_secrets_engines()["data"]
    serial = status_of(kube, CERT_CONFIG, "apiserver", namespace)["serial"]
    kube.delete(CERT_CONFIG, "apiserver", namespace)
    wait_for(
        lambda: kube.get_or_none(CERT_CONFIG, "apiserver", namespace) is None, timeout=30, message="certificate deleted"
    )
    assert kube.get_or_none(SECRET, "apiserver", namespace) is None
    wait_for(lambda: kube.get_or_none(CA_CONFIG, "ca", namespace) is None, timeout=30, message="CA deleted")
    assert f"pki-{cluster}/" not in bao.sys.list_mounted_secrets_engines()["data"]
    assert serial
    assert "CARevoked" in " ".join(e["reason"] for e in kube.list(EVENT, namespace)["items"])


def test_renewal_before_expiry(kube, namespace, start_cert_operator):
    start_cert_operator()
    cluster = f"r{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("short", namespace, cluster, ttl="60s", renewBefore="50s"))
    wait_for(lambda: ready(kube, CERT_CONFIG, "short", namespace), timeout=30, message="issued")
    first = status_of(kube, CERT_CONFIG, "short", namespace)
    wait_for(
        lambda: status_of(kube, CERT_CONFIG, "short", namespace).get("serial") != first["serial"],
        timeout=30,
        message="renewed within the renew-before window",
    )
    renewed = status_of(kube, CERT_CONFIG, "short", namespace)
    assert renewed["notAfter"] > first["notAfter"]
    leaf, _, _ = secret_cert(kube, "short", namespace)
    assert leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ") == renewed["notAfter"]


def not_ready(kube: KubeClient, name: str, namespace: str) -> dict[str, Any] | None:
    condition = condition_of(kube, CERT_CONFIG, name, namespace)
    return condition if condition is not None and condition["status"] == "False" else None


def test_bad_input_is_a_condition_with_vaults_reason(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"b{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    wait_for(lambda: ready(kube, CA_CONFIG, "ca", namespace), timeout=30, message="CA ready")
    cases = {
        "unknown-role": ({"role": "nope"}, "role 'nope' is not defined in CAConfig ca (roles: admin, api)"),
        "bad-name": ({"commonName": "evil.example.com"}, "evil.example.com"),
        "long-ttl": ({"ttl": "72h", "role": "admin", "commonName": "admin"}, "TTL"),
    }
    for name, (spec, _) in cases.items():
        kube.create(CERT_CONFIG, cert_config(name, namespace, cluster, **spec))
    for name, (_, mention) in cases.items():
        condition = wait_for(functools.partial(not_ready, kube, name, namespace), timeout=30, message=f"{name} refused")
        assert isinstance(condition, dict)
        expected = {"unknown-role": "UnknownRole", "long-ttl": "TTLTooLong"}.get(name, "VaultRefused")
        assert condition["reason"] == expected, condition
        assert mention.lower() in condition["message"].lower(), condition["message"]
        assert kube.get_or_none(SECRET, name, namespace) is None

    # The refused CertConfigs hold nothing of the CA: its deletion does not wait for them (it revokes and unmounts
    # within seconds), and theirs waits for nothing either.
    kube.delete(CA_CONFIG, "ca", namespace)
    wait_for(lambda: kube.get_or_none(CA_CONFIG, "ca", namespace) is None, timeout=10, message="the CA deleted")
    assert f"pki-{cluster}/" not in bao.sys.list_mounted_secrets_engines()["data"]
    for name in cases:
        kube.delete(CERT_CONFIG, name, namespace)
    wait_for(lambda: not kube.list(CERT_CONFIG, namespace)["items"], timeout=10, message="the refused ones deleted")
    assert not kube.list(SECRET, namespace, label_selector=f"{CLUSTER_LABEL}={cluster}")["items"]


def unavailable(kube: KubeClient, kind: Any, name: str, namespace: str) -> dict[str, Any] | None:
    condition = condition_of(kube, kind, name, namespace)
    return condition if condition is not None and condition["reason"] == "VaultUnavailable" else None


def test_vault_unreachable_is_a_condition_and_nothing_issued_is_touched(kube, namespace, start_cert_operator):
    cluster = f"u{uuid.uuid4().hex[:6]}"
    operator = start_cert_operator()
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued")
    issued = kube.get(SECRET, "api", namespace)["data"]
    operator.stop()

    # Vault gone; the certificate now needs re-issuing (spec change): it is kept as it is meanwhile.
    start_cert_operator(address=f"http://127.0.0.1:{free_port()}")
    kube.patch(CERT_CONFIG, "api", {"spec": {"altNames": [f"www.{cluster}.local"]}}, namespace)
    condition = wait_for(
        functools.partial(unavailable, kube, CA_CONFIG, "ca", namespace), timeout=30, message="CA unavailable"
    )
    assert isinstance(condition, dict)
    assert condition["status"] == "False"
    waiting = wait_for(
        lambda: (c := condition_of(kube, CERT_CONFIG, "api", namespace)) and "VaultUnavailable" in c["message"] and c,
        timeout=30,
        message="the certificate saying why it waits",
    )
    assert isinstance(waiting, dict)
    assert waiting["reason"] == "WaitingForCA"
    assert kube.get(SECRET, "api", namespace)["data"] == issued
    assert kube.get(CONFIG_MAP, f"{cluster}-ca", namespace)


def published_cas(kube: KubeClient, cluster: str, namespace: str) -> list[x509.Certificate]:
    config_map = kube.get_or_none(CONFIG_MAP, f"{cluster}-ca", namespace)
    return x509.load_pem_x509_certificates(config_map["data"]["ca.crt"].encode()) if config_map else []


def trusted_cas(kube: KubeClient, name: str, namespace: str, count: int) -> bool:
    secret = kube.get(SECRET, name, namespace)
    return len(x509.load_pem_x509_certificates(base64.b64decode(secret["data"]["ca.crt"]))) == count


def test_staged_ca_rotation(kube, namespace, bao, start_cert_operator):
    start_cert_operator()
    cluster = f"s{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    for name in ("apiserver", "etcd"):
        kube.create(CERT_CONFIG, cert_config(name, namespace, cluster, commonName=f"{name}.{cluster}.local"))
    for name in ("apiserver", "etcd"):
        wait_for(functools.partial(ready, kube, CERT_CONFIG, name, namespace), timeout=30, message=f"{name} issued")
    old_ca = x509.load_pem_x509_certificate(status_of(kube, CA_CONFIG, "ca", namespace)["ca"]["certificate"].encode())
    old_serials = {n: status_of(kube, CERT_CONFIG, n, namespace)["serial"] for n in ("apiserver", "etcd")}

    # Never issued, so nothing to rotate: it must not hold the rotation.
    kube.create(CERT_CONFIG, cert_config("broken", namespace, cluster, role="nope"))
    kube.patch(CA_CONFIG, "ca", {"spec": {"rotation": {"id": "r1", "overlap": "3s"}}}, namespace)
    # Stage 1: both CAs are trusted everywhere before anything is issued by the new one.
    wait_for(lambda: len(published_cas(kube, cluster, namespace)) == 2, timeout=30, message="both CAs published")
    for name in ("apiserver", "etcd"):
        wait_for(functools.partial(trusted_cas, kube, name, namespace, 2), timeout=30, message=f"{name} trusts both")
    assert status_of(kube, CERT_CONFIG, "apiserver", namespace)["serial"] == old_serials["apiserver"]

    wait_for(
        lambda: status_of(kube, CA_CONFIG, "ca", namespace).get("rotation", {}).get("phase") == "Complete",
        timeout=60,
        message="rotation complete",
    )
    ca_status = status_of(kube, CA_CONFIG, "ca", namespace)
    new_ca = x509.load_pem_x509_certificate(ca_status["ca"]["certificate"].encode())
    assert new_ca.serial_number != old_ca.serial_number
    assert (get_condition(ca_status, "Rotating") or {}).get("reason") == "Complete"
    assert [c.serial_number for c in published_cas(kube, cluster, namespace)] == [new_ca.serial_number]
    for name in ("apiserver", "etcd"):
        wait_for(functools.partial(trusted_cas, kube, name, namespace, 1), timeout=30, message=f"{name} ca.crt")
        assert secret_cert(kube, name, namespace)[1] == new_ca
        leaf, _, _ = secret_cert(kube, name, namespace)
        leaf.verify_directly_issued_by(new_ca)
        assert revoked(bao, cluster, old_serials[name])
        assert status_of(kube, CERT_CONFIG, name, namespace)["caSerial"] == ca_status["ca"]["serial"]
    issuers = bao.secrets.pki.list_issuers(mount_point=f"pki-{cluster}")["data"]["keys"]
    assert issuers == [ca_status["ca"]["issuerID"]], "the old issuer is deleted"
    assert len(bao.list(f"pki-{cluster}/keys")["data"]["keys"]) == 1, "and its key with it"
