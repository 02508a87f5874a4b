"""What the guest credential issuer refuses before anything is signed: pure checks, table-tested.

The subject of a guest credential is the issuer's (CN = the user the mother authenticated, O = the access level's
group), so a CSR only contributes its public key — and the proof that its sender holds the private key (its
signature). A user name of the ``system:`` namespace would let a mother user impersonate the guest's own
components (``system:kube-scheduler``, ``system:node:…``, ``system:anonymous``) and is refused.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

MIN_RSA_BITS = 2048
EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


class Refused(ValueError):
    """A request the issuer will not sign; the message says why, for a person."""


def check_user(user: str | None) -> str:
    """The certificate's common name: the admitted user, unless it is empty or a ``system:`` name."""
    if not user:
        raise Refused("spec.user is empty: the admission policy of the organization sets it (is it installed?)")
    if user.startswith("system:"):
        raise Refused(f"user {user!r} is a system: name, which would impersonate the guest's own components")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in user) or "," in user or len(user) > 64:
        raise Refused(f"user {user!r} cannot be a certificate common name (at most 64 printable characters, no comma)")
    return user


def check_csr(pem: str) -> x509.CertificateSigningRequest:
    """The CSR, if it parses, is signed by its own key (proof of possession) and that key is strong enough."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise Refused(f"spec.csr is not a PEM certificate request: {exc}") from None
    try:
        signed = csr.is_signature_valid
        key = csr.public_key()
    except Exception as exc:  # unsupported algorithms raise several types
        raise Refused(f"spec.csr's key or signature cannot be read: {exc}") from None
    if not signed:
        raise Refused("spec.csr's signature does not match its key: sign it with the key it carries")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Refused(f"spec.csr's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are needed")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, EC_CURVES):
            raise Refused(f"spec.csr's EC key is on {key.curve.name}; use P-256, P-384 or P-521")
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise Refused(f"spec.csr's key type {type(key).__name__} is not accepted: use RSA, ECDSA or Ed25519")
    return csr


def public_key_der(key: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    """The SubjectPublicKeyInfo: what ties a signed certificate to the request that asked for it."""
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
