"""Reading certificates: serials, validity, fingerprints (never private keys)."""

from __future__ import annotations

import datetime

from cryptography import x509


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
