"""Reading certificates: serials, validity, fingerprints (never private keys)."""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def serial_hex(cert: x509.Certificate) -> str:
    """Vault's serial format: colon-separated lower-case hex pairs."""
    raw = f"{cert.serial_number:x}"
    raw = raw if len(raw) % 2 == 0 else f"0{raw}"
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def bundle(certificates: list[str]) -> str:
    """PEM certificates as one trust bundle (the order is kept: the active CA first)."""
    return "".join(c.strip() + "\n" for c in certificates)


def bundle_hash(pem_bundle: str) -> str:
    """A short fingerprint of a trust bundle: CertConfigs report which bundle their Secret carries."""
    return hashlib.sha256(pem_bundle.encode()).hexdigest()[:16]


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def split(pem_bundle: str) -> list[str]:
    """A trust bundle → its PEM certificates."""
    marker = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + marker for part in pem_bundle.split(marker) if part.strip()]


def issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``leaf`` (names alone would not tell two CAs with the same common name apart)."""
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
