"""``login``: a client certificate for a guest, for the caller's own mother identity, whose private key never leaves
this machine.

The key is made here; a ``GuestCredentialRequest`` carries only its CSR (``spec.csr``) with the cluster, access and
TTL. Who the certificate is for is not ours to say: the mother's admission sets ``spec.user`` and ``spec.groups``
from the authenticated identity and refuses any other. cert-operator's issuer checks the request and signs the CSR
(``status.certificate``, ``status.ca``, ``status.serialNumber``, ``status.notAfter``; condition ``Issued`` True, or
False with the reason). The certificate is checked to be for our key before it is written.
"""

from __future__ import annotations

import base64
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from kubectl_kubeception import clusters
from kubectl_kubeception.clusters import condition
from kubectl_kubeception.mother import CREDENTIAL_REQUEST, NotFound, Refused, TimedOut

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubectl_kubeception.mother import Mother
    from operatorkit import Object

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: KeyType) -> PrivateKey:
    """EC P-256 (small, fast, what Kubernetes' own certificates use) or RSA 2048 for old clients."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def csr_pem(key: PrivateKey, user: str) -> str:
    """A CSR for ``key``. Its subject is a hint only: the issuer takes the name from ``spec.user`` and the groups
    from the access level, never from the CSR."""
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user or "kubeception-user")])
    )
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def request_name(cluster: str, user: str) -> str:
    """``<cluster>-<user>-`` as a name prefix (the server adds 5 characters)."""
    safe = re.sub(r"[^a-z0-9-]+", "-", user.lower()).strip("-")[:20].strip("-") or "user"
    return f"{cluster}-{safe}-"[:57]


@dataclass(frozen=True)
class Issued:
    name: str  # the GuestCredentialRequest's
    certificate: str
    ca: str
    serial: str
    not_after: str


def request(mother: Mother, namespace: str, *, cluster: str, user: str, access: str, ttl: str, csr: str) -> Object:
    body = {
        "apiVersion": CREDENTIAL_REQUEST.api_version,
        "kind": CREDENTIAL_REQUEST.kind,
        "metadata": {"generateName": request_name(cluster, user), "namespace": namespace},
        "spec": {"cluster": cluster, "access": access, "ttl": ttl, "csr": csr},
    }
    return mother.call("create", CREDENTIAL_REQUEST, namespace, lambda: mother.client.create(CREDENTIAL_REQUEST, body))


def outcome(obj: Object) -> Issued | None:
    """The certificate when ``Issued`` is True; raises the issuer's refusal when False; None while it is pending."""
    issued = condition(obj, "Issued")
    if issued is None or issued.get("status") == "Unknown":
        return None
    name = obj["metadata"]["name"]
    if issued.get("status") != "True":
        raise Refused(
            f"refused: GuestCredentialRequest {obj['metadata'].get('namespace')}/{name}: "
            f"{issued.get('reason', '')}: {issued.get('message', '')}"
        )
    status = obj.get("status") or {}
    if not status.get("certificate") or not status.get("ca"):
        return None  # the condition was written before the certificate: wait for both
    return Issued(
        name=name,
        certificate=str(status["certificate"]),
        ca=str(status["ca"]),
        serial=str(status.get("serialNumber", "")),
        not_after=str(status.get("notAfter", "")),
    )


def wait(mother: Mother, namespace: str, name: str, timeout: float, interval: float = 0.5) -> Issued:
    """Poll the request until the issuer answered, or say after ``timeout`` what was asked and where to look."""
    deadline = time.monotonic() + timeout
    while True:
        current = mother.get(CREDENTIAL_REQUEST, name, namespace)
        if (found := outcome(current)) is not None:
            return found
        if time.monotonic() >= deadline:
            raise TimedOut(
                f"no answer in {timeout:g}s to GuestCredentialRequest {namespace}/{name}: is cert-operator's issuer "
                f"running? See `kubectl -n {namespace} describe guestcredentialrequest {name}`"
            )
        time.sleep(interval)


def check_for_key(issued: Issued, key: PrivateKey) -> x509.Certificate:
    """The certificate, refused unless it certifies ``key`` (a certificate for another key is useless, or worse)."""
    certificate = x509.load_pem_x509_certificate(issued.certificate.encode())
    if public_der(certificate.public_key()) != public_der(key.public_key()):
        raise Refused(
            f"GuestCredentialRequest {issued.name}: the certificate is not for the key this login made; not written"
        )
    return certificate


def kubeconfig_entries(
    issued: Issued, key: PrivateKey, server: str, tls_server_name: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user entries of the context: the guest's CA, the certificate and our key, inline."""

    def b64(data: str | bytes) -> str:
        return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()

    cluster: dict[str, Any] = {"server": server, "certificate-authority-data": b64(issued.ca)}
    if tls_server_name:
        cluster["tls-server-name"] = tls_server_name
    user = {"client-certificate-data": b64(issued.certificate), "client-key-data": b64(key_pem(key))}
    return cluster, user


def server_and_name(obj: Object, server: str | None) -> tuple[str, str | None]:
    """The guest API's URL (``status.endpoint``, or ``server``) and, with ``server``, the endpoint's host name as the
    TLS server name: the platform's HAProxy routes a guest's API by SNI."""
    endpoint = clusters.endpoint(obj)
    if server:
        return server, urllib.parse.urlsplit(endpoint).hostname if endpoint else None
    if not endpoint:
        raise NotFound(
            f"{obj['kind']} {obj['metadata']['name']} has no API endpoint yet (status.endpoint is empty): wait until "
            "`describe cluster` shows EndpointReady, or give --server"
        )
    return endpoint, None


@dataclass(frozen=True)
class Login:
    """A context of one's own for a guest: its name (``<cluster>-<user>``), its cluster and user entries."""

    context: str
    cluster: dict[str, Any]
    user: dict[str, Any]
    issued: Issued
    requested: str  # what was asked, for the person to read


def obtain(
    mother: Mother,
    namespace: str,
    cluster: str,
    *,
    access: str,
    ttl: str,
    key_type: KeyType = "ec",
    server: str | None = None,
    timeout: float = 60,
    said: Callable[[str], None] = lambda _: None,
) -> Login:
    """The whole login, for the CLI and the console alike: the key made here, the request with its CSR only, the
    issuer's answer waited for, the certificate checked to be for the key, the context's entries."""
    target = mother.find_cluster(cluster, namespace)
    url, tls_name = server_and_name(target, server)
    user, _ = mother.whoami()
    key = new_key(key_type)
    made = request(mother, namespace, cluster=cluster, user=user, access=access, ttl=ttl, csr=csr_pem(key, user))
    name = made["metadata"]["name"]
    requested = f"GuestCredentialRequest {namespace}/{name} ({access}, {ttl}) for {user}"
    said(f"requested: {requested}")
    issued = wait(mother, namespace, name, timeout)
    check_for_key(issued, key)
    cluster_entry, user_entry = kubeconfig_entries(issued, key, url, tls_name)
    return Login(f"{cluster}-{user}", cluster_entry, user_entry, issued, requested)
