"""The guest credential issuer's refusals, as a table: which user names and which CSRs are never signed."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from cert_operator.guest_policy import Refused, check_csr, check_user, public_key_der
from cert_operator.spec import CAConfigSpec, GuestCredentialRequestSpec


def csr(key: Any, common_name: str = "alice") -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, algorithm)
    return request.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("user", "refused"),
    [
        ("alice", None),
        ("alice@example.com", None),
        ("system:serviceaccount:org-a:ci", "impersonate the guest's own components"),
        ("system:kube-scheduler", "impersonate the guest's own components"),
        ("system:node:worker-0", "impersonate the guest's own components"),
        ("system:anonymous", "impersonate the guest's own components"),
        (None, "spec.user is empty"),
        ("", "spec.user is empty"),
        ("a,b", "cannot be a certificate common name"),
        ("x" * 65, "cannot be a certificate common name"),
        ("bell\x07", "cannot be a certificate common name"),
    ],
)
def test_user_names(user: str | None, refused: str | None) -> None:
    if refused is None:
        assert check_user(user) == user
    else:
        with pytest.raises(Refused, match=refused):
            check_user(user)


@pytest.mark.parametrize(
    ("make", "refused"),
    [
        (lambda: csr(ec.generate_private_key(ec.SECP256R1())), None),
        (lambda: csr(ec.generate_private_key(ec.SECP384R1())), None),
        (lambda: csr(rsa.generate_private_key(public_exponent=65537, key_size=2048)), None),
        (lambda: csr(ed25519.Ed25519PrivateKey.generate()), None),
        (lambda: csr(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "1024 bits; at least 2048"),
        (lambda: csr(ec.generate_private_key(ec.SECP256K1())), "secp256k1; use P-256"),
        (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "not a PEM"),
        (lambda: "hello", "not a PEM"),
        (lambda: tampered(), "signature does not match its key"),
    ],
    ids=["p256", "p384", "rsa2048", "ed25519", "rsa1024", "secp256k1", "garbage", "text", "tampered"],
)
def test_csrs(make: Any, refused: str | None) -> None:
    pem = make()
    if refused is None:
        assert public_key_der(check_csr(pem))
    else:
        with pytest.raises(Refused, match=refused):
            check_csr(pem)


def tampered() -> str:
    """A CSR carrying another key than the one that signed it (no proof of possession)."""
    pem = csr(ec.generate_private_key(ec.SECP256R1()))
    request = x509.load_pem_x509_csr(pem.encode())
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = request.public_bytes(serialization.Encoding.DER).replace(public_key_der(request), other_der)
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def test_the_subject_is_the_issuers() -> None:
    base = {"cluster": "demo", "csr": "-----BEGIN CERTIFICATE REQUEST-----\n", "user": "alice"}
    organizations = {
        access: GuestCredentialRequestSpec.model_validate({**base, "access": access}).organization
        for access in ("view", "edit", "admin", "masters")
    }
    assert organizations == {
        "view": "kubeception:view",
        "edit": "kubeception:edit",
        "admin": "kubeception:admin",
        "masters": "system:masters",
    }


def test_a_caconfig_cannot_name_the_issuers_roles() -> None:
    spec = {"clusterID": "demo", "commonName": "demo CA", "roles": [{"name": "guest-user-view", "allowAnyName": True}]}
    with pytest.raises(ValueError, match="guest credential issuer's"):
        CAConfigSpec.model_validate(spec)
